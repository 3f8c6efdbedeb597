"""scikit-learn tree models -> the bundle's ``sklearn_forest`` and ``sklearn_gradient_boosting`` kinds.

Exported: DecisionTree{Classifier,Regressor}, ExtraTree{Classifier,Regressor},
RandomForest{Classifier,Regressor}, ExtraTrees{Classifier,Regressor} (kind ``sklearn_forest``: the
average of the trees' leaf values, float64, in tree order) and GradientBoosting{Classifier,Regressor}
(kind ``sklearn_gradient_boosting``: init + learning_rate x the trees, then the loss's inverse link).

The model file (JSON, ``model.json`` by default) holds each fitted ``tree_``'s arrays as they are
(docs/bundle.md, "sklearn model file"): children, feature, the float64 threshold, missing_go_to_left
and the node values. JSON because it keeps float64 exactly (repr) and reads with the same strict,
size-limited decoder as the rest of the bundle; a threshold of +inf (scikit-learn's split that sends
only the missing values right) is written as the string "inf".

The second half of this module (:func:`predict`) is the independent numpy implementation of the format
that ``evaluate.predict`` uses to check an exported bundle; it reads only the model file.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import ExportError, UnsupportedStepError

FOREST_KIND = "sklearn_forest"
GB_KIND = "sklearn_gradient_boosting"
KINDS = (FOREST_KIND, GB_KIND)

SUPPORTED = ("DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier, ExtraTreeRegressor, "
             "RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor, "
             "GradientBoostingClassifier, GradientBoostingRegressor")

# What the Go loader accepts (scoring/trees.go).
MAX_DEPTH = 256
MAX_NODES_PER_TREE = 1 << 20

# The largest float32: sklearn casts the model input to float32 and refuses what becomes infinite.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _types():
    from sklearn import ensemble, tree

    forest = (tree.DecisionTreeClassifier, tree.DecisionTreeRegressor, tree.ExtraTreeClassifier,
              tree.ExtraTreeRegressor, ensemble.RandomForestClassifier, ensemble.RandomForestRegressor,
              ensemble.ExtraTreesClassifier, ensemble.ExtraTreesRegressor)
    gb = (ensemble.GradientBoostingClassifier, ensemble.GradientBoostingRegressor)
    return forest, gb


def handles(est) -> bool:
    """Is ``est`` one of the estimators this module exports?"""
    forest, gb = _types()
    return type(est) in forest + gb


def refuses_nan(model: Mapping) -> bool:
    """Does the manifest's model refuse rows with a missing (NaN) model column?

    GradientBoosting validates its input with ``ensure_all_finite=True``; the forests accept NaN and
    send it down each node's missing_go_to_left.
    """
    return model.get("kind") == GB_KIND


def refuses_float32_overflow(model: Mapping) -> bool:
    """Does the model refuse a column beyond float32's range (infinite once cast, as sklearn casts)?"""
    return model.get("kind") in KINDS


# ---------------------------------------------------------------------------
# export


def _threshold(v: float) -> Any:
    if math.isnan(v):
        raise ExportError("a tree has a NaN threshold")
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def _tree_arrays(where: str, t, width: int) -> dict:
    tr = t.tree_
    if tr.n_outputs != 1:
        raise UnsupportedStepError(f"{where}: multi-output trees (n_outputs={tr.n_outputs}) are not supported; "
                                   f"train one model per target")
    if tr.max_depth > MAX_DEPTH:
        raise UnsupportedStepError(f"{where}: a tree of depth {tr.max_depth}; the bundle allows depth {MAX_DEPTH} "
                                   f"(set max_depth or min_samples_leaf)")
    if tr.node_count > MAX_NODES_PER_TREE:
        raise UnsupportedStepError(f"{where}: a tree of {tr.node_count} nodes; the bundle allows "
                                   f"{MAX_NODES_PER_TREE} per tree")
    value = np.asarray(tr.value, dtype=np.float64)[:, 0, :width]  # predict_proba: value[:, :n_classes]
    if not np.isfinite(value).all():
        raise ExportError(f"{where}: a tree has non-finite node values")
    return {
        "children_left": [int(v) for v in tr.children_left],
        "children_right": [int(v) for v in tr.children_right],
        "feature": [int(v) for v in tr.feature],
        "threshold": [_threshold(float(v)) for v in tr.threshold],
        "missing_go_to_left": [int(v) for v in tr.missing_go_to_left],
        "value": [float(v) for v in value.reshape(-1)],
    }


def _classes(where: str, est, output) -> int:
    """Classes of a classifier (checked against the declared output), 0 for a regressor."""
    from sklearn.base import is_classifier

    if not is_classifier(est):
        if output.task != "regression":
            raise ExportError(f"{where}: {type(est).__name__} needs output task 'regression'")
        return 0
    k = len(est.classes_)
    task = "binary" if k == 2 else "multiclass"
    if k < 2:
        raise UnsupportedStepError(f"{where}: {type(est).__name__} trained on a single class")
    if output.task != task or output.n_outputs != k:
        raise ExportError(f"{where}: {type(est).__name__} with {k} classes needs output task {task!r} "
                          f"with {k} classes (in the order of classes_={list(est.classes_)})")
    return k


def _forest(where: str, est, n_cols: int, output) -> dict:
    k = _classes(where, est, output)
    if getattr(est, "n_outputs_", 1) != 1:
        raise UnsupportedStepError(f"{where}: multi-output {type(est).__name__} (n_outputs_={est.n_outputs_}) "
                                   f"is not supported; train one model per target")
    trees = list(getattr(est, "estimators_", [est]))
    probe = np.full((1, n_cols), np.nan, dtype=np.float32)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fitted with feature names
            est.predict(probe)
    except ValueError:
        # ExtraTree*(splitter="best") is the one forest sklearn lets refuse NaN
        raise UnsupportedStepError(
            f"{where}: this {type(est).__name__} refuses missing values, where the bundle sends them down each "
            f"node's missing_go_to_left; use the default splitter") from None
    import sklearn

    return {
        "estimator": type(est).__name__, "sklearn_version": sklearn.__version__, "n_features": n_cols,
        "n_classes": k,
        "trees": [_tree_arrays(f"{where} tree {i}", t, max(k, 1)) for i, t in enumerate(trees)],
    }


def _gb_init(where: str, est, n_cols: int, k: int) -> list[float]:
    """The raw prediction of the init estimator, per tree of a stage: a constant the bundle can hold."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    init = est.init_
    if isinstance(init, str) and init == "zero":
        return [0.0] * k
    constant = {DummyClassifier: ("prior", "most_frequent", "uniform", "constant"),
                DummyRegressor: ("mean", "median", "quantile", "constant")}
    ok = constant.get(type(init))
    if ok is None or init.strategy not in ok:
        what = type(init).__name__ + (f"(strategy={init.strategy!r})" if ok is not None else "")
        raise UnsupportedStepError(
            f"{where}: GradientBoosting init={what}; the bundle holds the init estimator's prediction as a "
            f"constant, so only the default (init=None: DummyClassifier(strategy='prior') / DummyRegressor), "
            f"init='zero' or a constant Dummy estimator can be exported")
    X = np.vstack([np.zeros(n_cols), np.ones(n_cols)]).astype(np.float32)
    raw = np.asarray(est._raw_predict_init(X), dtype=np.float64)  # sklearn's own _init_raw_predictions
    if raw.shape != (2, k) or not np.array_equal(raw[0], raw[1]) or not np.isfinite(raw).all():
        raise ExportError(f"{where}: the init estimator's raw prediction {raw.tolist()} is not one finite "
                          f"constant per output")
    return [float(v) for v in raw[0]]


def _gb(where: str, est, n_cols: int, output) -> dict:
    import sklearn

    n_classes = _classes(where, est, output)
    k = n_classes if n_classes > 2 else 1
    stages = np.asarray(est.estimators_)
    if stages.ndim != 2 or stages.shape[1] != k:
        raise ExportError(f"{where}: estimators_ has shape {stages.shape}, want (n_stages, {k})")
    return {
        "estimator": type(est).__name__, "sklearn_version": sklearn.__version__, "n_features": n_cols,
        "n_classes": n_classes, "loss": est.loss, "learning_rate": float(est.learning_rate),
        "init": _gb_init(where, est, n_cols, k),
        # stage-major: trees[i*k + j] is stage i's tree for output j, the order predict_stages adds them in
        "trees": [_tree_arrays(f"{where} stage {i} tree {j}", stages[i, j], 1)
                  for i in range(stages.shape[0]) for j in range(k)],
    }


def export(where: str, est, n_cols: int, output, out_dir: Path | None, model_file: str, sparse: bool) -> dict:
    """Check ``est``, write its model file into ``out_dir`` (if given), return the manifest's model object."""
    if sparse:
        raise UnsupportedStepError(
            f"{where}: the pipeline hands {type(est).__name__} a sparse matrix, on which scikit-learn refuses "
            f"missing values; make it dense (OneHotEncoder(sparse_output=False), "
            f"ColumnTransformer(sparse_threshold=0))")
    if getattr(est, "n_features_in_", n_cols) != n_cols:
        raise ExportError(f"{where}: {type(est).__name__} was fitted on {est.n_features_in_} columns, "
                          f"the pipeline gives {n_cols}")
    forest, _ = _types()
    if type(est) in forest:
        kind, doc = FOREST_KIND, _forest(where, est, n_cols, output)
    else:
        kind, doc = GB_KIND, _gb(where, est, n_cols, output)
    if out_dir is not None:
        with open(os.fspath(Path(out_dir) / model_file), "w", encoding="utf-8") as f:
            json.dump(doc, f, allow_nan=False, separators=(",", ":"))
            f.write("\n")
    return {"kind": kind, "file": model_file}


def describe(model: Mapping, bundle_dir: str | Path) -> str:
    """One line for an example's README: estimator, trees, version."""
    doc = _read(model, bundle_dir)
    s = f"scikit-learn {doc['sklearn_version']} {doc['estimator']}, {len(doc['trees'])} trees"
    if model["kind"] == GB_KIND:
        s += f", loss {doc['loss']}, learning_rate {doc['learning_rate']}"
    return s


# ---------------------------------------------------------------------------
# independent evaluation of the format (numpy only)


def _read(model: Mapping, bundle_dir: str | Path) -> dict:
    with open(Path(bundle_dir) / model["file"], encoding="utf-8") as f:
        return json.load(f)


def _leaves(t: Mapping, X32: np.ndarray) -> np.ndarray:
    """Leaf index of every row: left when float32(x) <= threshold (as float64), NaN by missing_go_to_left."""
    left = np.asarray(t["children_left"], dtype=np.int64)
    right = np.asarray(t["children_right"], dtype=np.int64)
    feat = np.asarray(t["feature"], dtype=np.int64)
    thr = np.array([math.inf if v == "inf" else -math.inf if v == "-inf" else v for v in t["threshold"]],
                   dtype=np.float64)
    mgl = np.asarray(t["missing_go_to_left"], dtype=bool)
    node = np.zeros(len(X32), dtype=np.int64)
    rows = np.arange(len(X32))
    while True:
        inner = left[node] != -1
        if not inner.any():
            return node
        r, nd = rows[inner], node[inner]
        x = X32[r, feat[nd]].astype(np.float64)
        go_left = np.where(np.isnan(x), mgl[nd], x <= thr[nd])
        node[r] = np.where(go_left, left[nd], right[nd])


def predict(manifest: Mapping, X: np.ndarray, bundle_dir: str | Path) -> np.ndarray:
    """Scores per row from the model file: probabilities for classifiers, (n, 1) values for regression."""
    from scipy.special import expit

    m = manifest["model"]
    doc = _read(m, bundle_dir)
    X32 = np.asarray(X, dtype=np.float64).astype(np.float32)
    n_classes = doc["n_classes"]
    if m["kind"] == FOREST_KIND:
        w = max(n_classes, 1)
        acc = np.zeros((len(X), w))
        for t in doc["trees"]:
            acc += np.asarray(t["value"], dtype=np.float64).reshape(-1, w)[_leaves(t, X32)]
        acc /= len(doc["trees"])
        return acc
    k = n_classes if n_classes > 2 else 1
    raw = np.tile(np.asarray(doc["init"], dtype=np.float64), (len(X), 1))
    lr = float(doc["learning_rate"])
    for i, t in enumerate(doc["trees"]):
        raw[:, i % k] += lr * np.asarray(t["value"], dtype=np.float64)[_leaves(t, X32)]
    if n_classes == 2:
        p = expit(2 * raw[:, 0] if doc["loss"] == "exponential" else raw[:, 0])
        return np.column_stack([1 - p, p])
    if n_classes > 2:
        e = np.exp(raw - raw.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return raw
