"""The tutorial's stack for the HTTP benchmark: FastAPI + uvicorn serving the
scikit-learn iris model, one prediction per request.

    uvicorn --app-dir train/bench iris_app:app --host 127.0.0.1 --port 8000

POST /predict {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4,
"petal_width": 0.2} answers {"prediction": "setosa", "confidence": 0.97,
"probabilities": {...}}.

The model is trained at start exactly as train/make_examples.py trains the
iris example (SimpleImputer(mean) -> StandardScaler -> LogisticRegression C=1,
lbfgs, max_iter 1000, on sklearn's bundled iris data; deterministic), and the
app refuses to start unless its coefficients equal those of
examples/iris/bundle.json, so both servers answer with the same model.
"""

import json
from pathlib import Path

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel
from sklearn import datasets
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

CLASSES = ["setosa", "versicolor", "virginica"]
BUNDLE = Path(__file__).resolve().parents[2] / "examples" / "iris" / "bundle.json"


def train():
    d = datasets.load_iris()
    model = Pipeline([
        ("impute", SimpleImputer(strategy="mean")),
        ("scale", StandardScaler()),
        ("model", LogisticRegression(C=1.0, max_iter=1000)),
    ]).fit(d.data, d.target)
    bundle = json.loads(BUNDLE.read_text())["model"]
    lr = model.named_steps["model"]
    if not (np.allclose(lr.coef_, bundle["coef"], rtol=0, atol=1e-9)
            and np.allclose(lr.intercept_, bundle["intercept"], rtol=0, atol=1e-9)):
        raise SystemExit("iris_app: the retrained model differs from examples/iris/bundle.json")
    return model


model = train()
app = FastAPI(title="iris (benchmark baseline)")


class IrisFeatures(BaseModel):
    sepal_length: float
    sepal_width: float
    petal_length: float
    petal_width: float


@app.post("/predict")
def predict(f: IrisFeatures):
    x = np.array([[f.sepal_length, f.sepal_width, f.petal_length, f.petal_width]])
    proba = model.predict_proba(x)[0]
    i = int(proba.argmax())
    return {"prediction": CLASSES[i], "confidence": float(proba[i]),
            "probabilities": {c: float(p) for c, p in zip(CLASSES, proba)}}
