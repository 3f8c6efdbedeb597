"""LightGBM models -> the bundle's ``lightgbm`` kind (docs/bundle.md).

``LGBMClassifier``, ``LGBMRegressor`` or a ``lightgbm.Booster``, alone or as the last step of a
Pipeline, are saved in LightGBM's own text format (``model_to_string``, up to the best iteration when
early stopping recorded one, as ``predict`` uses) next to bundle.json. The Go side reads that file.

Categorical features reach LightGBM as integer codes. Two ways to get them from the event's strings:

* ``OrdinalEncoder`` in the pipeline plus ``categorical_feature`` on the model: the bundle gets the
  encoder's ``ordinal`` step, whatever LightGBM was told;
* :func:`categorical` as the last step before the model: it turns category inputs into pandas
  categoricals with the training categories (pandas' order: sorted), so LightGBM uses its
  ``pandas_categorical`` path; the bundle gets an ``ordinal`` step with those categories, unknown and
  missing -> missing, which LightGBM sends right at every categorical split, as it does for an
  unseen code.

Refused: custom objectives (no ``objective=`` line: the scores would be raw margins with no known
transform), linear trees (``linear_tree=True``), ranking objectives, boosters whose categorical
columns the pipeline cannot produce.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from .errors import ExportError, UnsupportedStepError

MODEL_FILE = "model.txt"

# objective -> tasks it may be declared with (scoring/lightgbm.go: lgbObjectives)
OBJECTIVES = {
    "regression": ("regression",), "regression_l1": ("regression",), "huber": ("regression",),
    "fair": ("regression",), "quantile": ("regression",), "mape": ("regression",),
    "poisson": ("regression",), "gamma": ("regression",), "tweedie": ("regression",),
    "cross_entropy_lambda": ("regression",),
    "binary": ("binary", "regression"), "cross_entropy": ("binary", "regression"),
    "multiclass": ("multiclass",), "multiclassova": ("multiclass",),
}


class Categorical(TransformerMixin, BaseEstimator):
    """Category inputs -> pandas categoricals with the categories seen in fit (sorted, as
    ``astype("category")`` orders them). Unseen and missing values become missing."""

    def __init__(self, columns):
        self.columns = columns

    def fit(self, X, y=None):
        if not isinstance(X, pd.DataFrame):
            raise ExportError(f"categorical needs a pandas DataFrame (Schema.frame), got {type(X).__name__}")
        self.categories_ = {}
        for c in self.columns:
            if c not in X.columns:
                raise ExportError(f"categorical: column {c!r} not in the input frame")
            self.categories_[c] = list(X[c].astype("category").cat.categories)
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        self.n_features_in_ = len(X.columns)
        return self

    def transform(self, X):
        out = X.copy()
        for c in self.columns:
            out[c] = pd.Categorical(X[c], categories=self.categories_[c])
        return out

    def get_feature_names_out(self, input_features=None):
        return np.asarray(list(self.feature_names_in_ if input_features is None else input_features), dtype=object)


def categorical(columns) -> Categorical:
    """Put last before a LightGBM model: ``columns`` (category inputs) become pandas categoricals."""
    return Categorical(list(columns))


def trace_categorical(tracer, where: str, est: Categorical, cols: list):
    """Tracer handler: each listed category input -> an ``ordinal`` step (unknown -> missing)."""
    from .exporter import NUMBER, _check_width

    _check_width(where, est, cols)
    out = []
    for c in cols:
        if c.frame_name in est.categories_:
            if c.kind != "category" or c.steps or c.source[0] != "input":
                raise UnsupportedStepError(f"{where}: {c.frame_name!r} must be a raw category input")
            cats = tracer._str_categories(where, c, est.categories_[c.frame_name])
            op = {"op": "ordinal", "categories": cats, "unknown": "value", "unknown_value": None}
            c = c.step(where, op, kind=NUMBER)
        out.append(c)
    return out


def is_lightgbm(est) -> bool:
    try:
        import lightgbm as lgb
    except ImportError:  # pragma: no cover
        return False
    return isinstance(est, (lgb.LGBMModel, lgb.Booster))


def _booster(where: str, est):
    import lightgbm as lgb

    if isinstance(est, lgb.Booster):
        return est
    if callable(est.objective):
        raise UnsupportedStepError(f"{where}: a custom objective (a callable) has no known output transform; "
                                   f"train with a built-in objective")
    try:
        return est.booster_
    except Exception as e:  # sklearn's NotFittedError
        raise ExportError(f"{where}: the LightGBM model is not fitted") from e


def model_text(booster) -> str:
    """The text model as predict() uses it: up to the best iteration when early stopping kept one."""
    best = booster.best_iteration
    return booster.model_to_string(num_iteration=best if best and best > 0 else -1)


def header(text: str) -> dict:
    out = {}
    for line in text.splitlines()[1:]:
        if line.startswith("Tree=") or line == "end of trees":
            break
        if line:
            k, _, v = line.partition("=")
            out[k] = v
    return out


def export(where: str, est, n_cols: int, output, out_dir: Path | None, steps=(), features=None) -> dict:
    booster = _booster(where, est)
    text = model_text(booster)
    h = header(text)
    if "objective" not in h:
        raise UnsupportedStepError(f"{where}: the LightGBM model has no objective (custom objective); "
                                   f"its scores are raw margins with no known transform; train with a built-in "
                                   f"objective")
    obj = h["objective"].split(" ")[0]
    if obj not in OBJECTIVES:
        raise UnsupportedStepError(f"{where}: LightGBM objective {obj!r} is not supported; supported: "
                                   f"{sorted(OBJECTIVES)}")
    if any(line == "is_linear=1" for line in text.splitlines()):
        raise UnsupportedStepError(f"{where}: LightGBM linear trees (linear_tree=True) are not supported: their "
                                   f"leaves are linear models the bundle cannot express")
    if output.task not in OBJECTIVES[obj]:
        raise ExportError(f"{where}: LightGBM objective {obj!r} goes with output task {OBJECTIVES[obj]}, "
                          f"not {output.task!r}")
    if output.task == "multiclass":
        k = int(h["num_class"])
        if k != output.n_outputs:
            raise ExportError(f"{where}: the model has {k} classes, the output declares {output.n_outputs}")
    classes = getattr(est, "classes_", None)
    if classes is not None and output.task in ("binary", "multiclass") and len(classes) != output.n_outputs:
        raise ExportError(f"{where}: the model has {len(classes)} classes, the output declares {output.n_outputs}")
    if booster.num_feature() != n_cols:
        raise ExportError(f"{where}: the LightGBM model has {booster.num_feature()} features, "
                          f"the pipeline gives {n_cols} columns")
    cat_steps = [s for _, s in steps if isinstance(s, Categorical)]
    if cat_steps and not isinstance(steps[-1][1], Categorical):
        raise UnsupportedStepError(f"{where}: streamscore_export.lightgbm_model.categorical must be the last step "
                                   f"before the model (its pandas categoricals go to LightGBM as they are)")
    pc = booster.pandas_categorical
    if pc:
        if not cat_steps:
            raise UnsupportedStepError(
                f"{where}: the model was trained on pandas categoricals; put "
                f"streamscore_export.lightgbm_model.categorical([...]) last in the Pipeline so the bundle "
                f"can map the event's strings to the same codes")
        got = [list(v) for v in cat_steps[-1].categories_.values()]
        if [list(map(str, v)) for v in pc] != [list(map(str, v)) for v in got]:
            raise ExportError(f"{where}: the model's pandas_categorical {pc} differ from the categorical step's "
                              f"categories {got}")
    if features is not None and not steps:
        names = h.get("feature_names", "").split(" ")
        from .exporter import column_names
        cols = [n for f in features for n in column_names(f)]
        if names and names[0] != "Column_0" and names != cols:
            raise ExportError(f"{where}: the LightGBM model's feature_names {names} differ from the schema's "
                              f"columns {cols}; train on Schema.frame(events) so the order is the schema's")
    if out_dir is not None:
        Path(out_dir, MODEL_FILE).write_text(text)
    return {"kind": "lightgbm", "file": MODEL_FILE}


def library_scores(model, frame, output):
    """Scores of a bare lightgbm.Booster (no predict_proba): None for anything else."""
    try:
        import lightgbm as lgb
    except ImportError:  # pragma: no cover
        return None

    if not isinstance(model, lgb.Booster):
        return None
    p = np.asarray(model.predict(frame, num_threads=1), dtype=np.float64)
    if output.task == "binary":
        return np.column_stack([1.0 - p, p])
    return p.reshape(len(frame), -1)


def evaluate_predict(manifest, X: np.ndarray, bundle_dir) -> np.ndarray:
    """The bundle's model file through LightGBM itself, on the bundle's features."""
    import lightgbm as lgb

    m = manifest["model"]
    bst = lgb.Booster(model_file=os.fspath(Path(bundle_dir) / m["file"]))
    p = np.asarray(bst.predict(X, num_threads=1), dtype=np.float64)
    task = manifest["output"]["task"]
    if task == "binary":
        return np.column_stack([1.0 - p, p])
    return p.reshape(len(X), -1)


def codes(X):
    """A transform output with pandas categoricals -> their codes (missing -1 -> NaN), as LightGBM reads them."""
    if isinstance(X, pd.DataFrame) and any(isinstance(t, pd.CategoricalDtype) for t in X.dtypes):
        X = X.copy()
        for c in X.columns:
            if isinstance(X[c].dtype, pd.CategoricalDtype):
                X[c] = X[c].cat.codes.astype(np.float64).replace({-1.0: np.nan})
    return X
