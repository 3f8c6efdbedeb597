"""Write the mlp fixtures in testdata/bundles (gen-mlp-*), with the libraries' own predictions.

    .venv/bin/python scoring/testdata/make_mlp_fixtures.py

They cover what the risk-mlp example does not: scikit-learn MLPClassifier (binary and
multiclass) and MLPRegressor in float64 with every hidden activation, and Keras models
saved as .keras and as legacy .h5: a functional model with a Normalization layer, a
Dense -> BatchNormalization -> Activation chain (folded backwards), a softmax output,
and a regression. Each bundle is built and self-checked like an example
(train/make_examples.py: build), reference rows included.
"""
import math
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "train"))

import numpy as np  # noqa: E402
from sklearn import datasets  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402

import make_examples as mx  # noqa: E402
from streamscore_export import Schema, category, keras_pipeline, number, policy  # noqa: E402

OUT = HERE / "bundles"


def _events(rows, schema, frame, seed, n):
    evs, notes = mx.edge_events(dict(rows[0]), schema, {}, np.random.default_rng(seed), frame)
    pert = mx.perturbed(rows, schema, n - len(evs), seed=seed)
    return evs + pert, notes + [None] * len(pert)


def _iris():
    d = datasets.load_iris()
    rows = [dict(zip(mx.IRIS_COLS, (float(v) for v in x))) for x in d.data]
    schema = Schema([number(c) for c in mx.IRIS_COLS])
    return rows, d.target, schema, schema.frame(rows)


def sk_multiclass():
    rows, y, schema, X = _iris()
    model = Pipeline([("scale", StandardScaler()),
                      ("model", MLPClassifier(hidden_layer_sizes=(12, 6), activation="tanh", max_iter=800, random_state=0))]).fit(X, y)
    evs, notes = _events(rows, schema, X, 70, 600)
    return mx.Example("gen-mlp-sk-multiclass", "iris, sklearn MLPClassifier tanh (12, 6), softmax output", model,
                      schema, policy.multiclass(mx.IRIS_CLASSES), X, evs, notes, "Fixture.\n")


def _cancer():
    d = datasets.load_breast_cancer()
    cols = [n.replace(" ", "_") for n in d.feature_names][:8]
    rows = [dict(zip(cols, (float(v) for v in x))) for x in d.data[:, :8]]
    schema = Schema([number(c) for c in cols])
    return rows, 1 - d.target, schema, schema.frame(rows)


def sk_binary():
    rows, y, schema, X = _cancer()
    model = Pipeline([("scale", StandardScaler()),
                      ("model", MLPClassifier(hidden_layer_sizes=(10,), activation="logistic", max_iter=800, random_state=0))]).fit(X, y)
    evs, notes = _events(rows, schema, X, 71, 600)
    return mx.Example("gen-mlp-sk-binary", "breast cancer (8 columns), sklearn MLPClassifier logistic (10,)", model,
                      schema, policy.binary(["benign", "malignant"]), X, evs, notes, "Fixture.\n")


def sk_regressor():
    d = datasets.load_diabetes()
    cols = list(d.feature_names)
    rows = [dict(zip(cols, (float(v) for v in x))) for x in d.data]
    schema = Schema([number(c) for c in cols])
    X = schema.frame(rows)
    model = Pipeline([("scale", StandardScaler()),
                      ("model", MLPRegressor(hidden_layer_sizes=(16, 8, 4), activation="relu", max_iter=2000, random_state=0))]
                     ).fit(X, d.target)
    evs, notes = _events(rows, schema, X, 72, 600)
    return mx.Example("gen-mlp-sk-regressor", "diabetes, sklearn MLPRegressor relu (16, 8, 4)", model, schema,
                      policy.regression([(150.0, "high")], "low"), X, evs, notes, "Fixture.\n")


def keras_functional():
    """Functional Keras model: Normalization, Dense -> BatchNormalization -> Activation, softmax; .keras."""
    k = mx._keras()
    rows, y, schema, X = _iris()
    x = X.to_numpy(dtype=np.float32)
    norm = k.layers.Normalization(name="norm")
    norm.adapt(x)
    inp = k.Input((4,), name="measurements")
    h = norm(inp)
    h = k.layers.Dense(10, name="d1")(h)
    h = k.layers.BatchNormalization(name="bn1")(h)
    h = k.layers.Activation("relu", name="relu1")(h)
    h = k.layers.Dropout(0.2, name="drop")(h)
    h = k.layers.Dense(6, activation="tanh", name="d2")(h)
    out = k.layers.Dense(3, activation="softmax", name="species")(h)
    net = k.Model(inp, out, name="iris_functional")
    net.compile(optimizer=k.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    net.fit(x, y, epochs=40, batch_size=16, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "iris.keras")
        net.save(path)
        model = keras_pipeline(path)
        model[-1]._model()
    evs, notes = _events(rows, schema, X, 73, 600)
    return mx.Example("gen-mlp-keras-functional", "iris, Keras functional model (.keras) with Normalization and "
                      "BatchNormalization folded", model, schema, policy.multiclass(mx.IRIS_CLASSES), X, evs, notes,
                      "Fixture.\n")


def keras_h5_regression():
    """Sequential Keras regression saved as legacy .h5, behind a one-hot feature pipeline."""
    k = mx._keras()
    rng = np.random.default_rng(74)
    plans = ["basic", "plus", "pro"]
    rows, target = [], []
    for _ in range(1500):
        plan = plans[int(rng.integers(0, 3))]
        usage = float(rng.gamma(2.0, 20.0))
        rows.append({"plan": plan, "usage_gb": round(usage, 2)})
        target.append(20.0 + 0.5 * usage + {"basic": 0.0, "plus": 15.0, "pro": 40.0}[plan] + rng.normal(0, 2))
    schema = Schema([category("plan"), number("usage_gb", required=True)])
    X = schema.frame(rows)
    prep = ColumnTransformer([("num", StandardScaler(), ["usage_gb"]),
                              ("plan", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["plan"])],
                             sparse_threshold=0.0).fit(X)
    net = k.Sequential([k.Input((4,)), k.layers.Dense(8, activation="relu"), k.layers.Dense(1)], name="bill_h5")
    net.compile(optimizer=k.optimizers.Adam(0.05), loss="mse")
    net.fit(prep.transform(X).astype(np.float32), np.asarray(target, dtype=np.float32), epochs=40, batch_size=64,
            verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bill.h5")
        net.save(path)
        model = keras_pipeline(path, features=prep)
        model[-1]._model()
    evs, notes = mx.edge_events(dict(rows[0]), schema, {"plan": "enterprise"}, rng, X)
    evs += [dict(rows[0], usage_gb=math.nextafter(0.0, 1.0)), dict(rows[0], usage_gb=1e30)] + rows[:400]
    notes += ["smallest subnormal", "1e30"] + [None] * 400
    return mx.Example("gen-mlp-keras-h5", "bill amount, Keras Sequential regression saved as legacy .h5", model,
                      schema, policy.regression([(80.0, "high bill")], "normal bill"), X, evs, notes, "Fixture.\n")


FIXTURES = [sk_multiclass, sk_binary, sk_regressor, keras_functional, keras_h5_regression]


def main():
    for fn in FIXTURES:
        ex = fn()
        mx.EXAMPLES[ex.name] = lambda ex=ex: ex
        print(mx.build(ex.name, OUT), flush=True)


if __name__ == "__main__":
    main()
