"""scikit-learn HistGradientBoosting -> the bundle's ``histgb`` kind (docs/bundle.md).

The fitted estimator's predictors are written as JSON (``histgb.json``): the baseline
(``_baseline_prediction``), the loss's link, and per tree the fields of the ``TreePredictor`` nodes
array that prediction reads (value, feature_idx, num_threshold, missing_go_to_left, left, right,
is_leaf, is_categorical, bitset_idx) with its ``raw_left_cat_bitsets``; plus the estimator's known
category bitsets. Floats are written with ``repr`` (they read back bit for bit).

Native categorical features (``categorical_features``) arrive as numbers (an ``OrdinalEncoder`` in the
pipeline: the bundle's ``ordinal`` step). The estimator re-encodes them itself (its ``_preprocessor``:
categorical columns first, each value -> its index among the values seen in fit, unseen -> NaN); the
file carries that column order and those values, and the Go side applies them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from scipy import special

from .errors import ExportError, UnsupportedStepError

MODEL_FILE = "histgb.json"
FORMAT = "streamscore-histgb-1"
LINKS = {"IdentityLink": "identity", "LogLink": "log", "LogitLink": "logit", "MultinomialLogit": "multinomial_logit"}
NODE_FIELDS = ("value", "feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "is_leaf",
               "is_categorical", "bitset_idx")


def is_histgb(est) -> bool:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    return type(est) in (HistGradientBoostingClassifier, HistGradientBoostingRegressor)


def _remap(est) -> dict:
    """The estimator's own preprocessing (_preprocessor): column order and category re-encoding."""
    pre = est._preprocessor
    if pre is None:
        return {}
    n = est.n_features_in_
    cols: list[int] = [-1] * n
    cats: list = [None] * n
    idx = np.arange(n)
    for name, _, spec in pre.transformers_:
        if name not in ("encoder", "numerical"):
            continue
        sel = pre.output_indices_[name]
        src = idx[np.asarray(spec)] if np.asarray(spec).dtype == bool else np.asarray(spec, dtype=int)
        for out, c in zip(range(sel.start, sel.stop), src):
            cols[out] = int(c)
    enc = pre.named_transformers_["encoder"]
    for k, c in enumerate(range(pre.output_indices_["encoder"].start, pre.output_indices_["encoder"].stop)):
        values = [float(v) for v in enc.categories_[k] if not (isinstance(v, float) and math.isnan(v))]
        if any(not math.isfinite(v) for v in values):
            raise ExportError(f"categorical column {cols[c]}: non-finite category {values}")
        cats[c] = values
    if sorted(cols) != list(range(n)):
        raise ExportError(f"HistGradientBoosting preprocessor columns {cols} are not a permutation")
    return {"columns": cols, "categories": cats}


def export(where: str, est, n_cols: int, output, out_dir: Path | None, features=None) -> dict:
    import sklearn

    if not hasattr(est, "_predictors"):
        raise ExportError(f"{where}: the HistGradientBoosting model is not fitted")
    pre = getattr(est, "_preprocessor", None)
    if pre is not None and any(isinstance(e, str) or not np.issubdtype(np.asarray(e).dtype, np.number)
                               for e in pre.named_transformers_["encoder"].categories_):
        raise UnsupportedStepError(
            f"{where}: HistGradientBoosting saw string categories; put an OrdinalEncoder in the pipeline "
            f"(the bundle's ordinal step) and pass categorical_features with its columns")
    if est.n_features_in_ != n_cols:
        raise ExportError(f"{where}: fitted on {est.n_features_in_} columns, the pipeline gives {n_cols}")
    link = LINKS.get(type(est._loss.link).__name__)
    if link is None:
        raise UnsupportedStepError(f"{where}: loss link {type(est._loss.link).__name__} is not supported")
    want = {"identity": "regression", "log": "regression", "logit": "binary", "multinomial_logit": "multiclass"}[link]
    if output.task != want:
        raise ExportError(f"{where}: {type(est).__name__} with link {link} needs output task {want!r}")
    K = int(est.n_trees_per_iteration_)
    if output.task == "multiclass" and output.n_outputs != K:
        raise ExportError(f"{where}: the model has {K} classes, the output declares {output.n_outputs}")
    known, f_idx_map = est._bin_mapper.make_known_categories_bitsets()
    trees = []
    for it in est._predictors:
        for pred in it:
            nodes = pred.nodes
            t = {k: nodes[k].tolist() for k in NODE_FIELDS}
            # a split of the missing values from the rest has threshold +inf, which JSON cannot hold
            t["num_threshold"] = [v if math.isfinite(v) else ("inf" if v > 0 else "-inf") for v in t["num_threshold"]]
            t["raw_left_cat_bitsets"] = np.asarray(pred.raw_left_cat_bitsets).tolist()
            trees.append(t)
    doc = {
        "format": FORMAT,
        "estimator": type(est).__name__,
        "sklearn": sklearn.__version__,
        "loss": type(est._loss).__name__,
        "link": link,
        "n_features": int(est.n_features_in_),
        "n_trees_per_iteration": K,
        "baseline": [float(v) for v in np.asarray(est._baseline_prediction, dtype=np.float64).reshape(-1)],
        **_remap(est),
        "known_cat_bitsets": np.asarray(known).tolist(),
        "f_idx_map": np.asarray(f_idx_map).tolist(),
        "trees": trees,
    }
    if out_dir is not None:
        Path(out_dir, MODEL_FILE).write_text(json.dumps(doc, separators=(",", ":"), allow_nan=False) + "\n")
    return {"kind": "histgb", "file": MODEL_FILE}


# ---------------------------------------------------------------------------
# numpy twin of the format (evaluate.py)


def _in_bitset(bits: np.ndarray, v: np.ndarray) -> np.ndarray:
    v = v.astype(np.int64)
    return ((bits[v // 32] >> (v % 32).astype(np.uint32)) & 1).astype(bool)


def _tree(t: dict, known: np.ndarray, f_idx_map: np.ndarray, X: np.ndarray) -> np.ndarray:
    """One tree over every row, as _predict_one_from_raw_data decides."""
    value = np.asarray(t["value"], dtype=np.float64)
    feat = np.asarray(t["feature_idx"], dtype=np.int64)
    thr = np.asarray([float(v) for v in t["num_threshold"]], dtype=np.float64)
    mleft = np.asarray(t["missing_go_to_left"], dtype=bool)
    left, right = np.asarray(t["left"], dtype=np.int64), np.asarray(t["right"], dtype=np.int64)
    leaf = np.asarray(t["is_leaf"], dtype=bool)
    cat = np.asarray(t["is_categorical"], dtype=bool)
    bidx = np.asarray(t["bitset_idx"], dtype=np.int64)
    raw = np.asarray(t["raw_left_cat_bitsets"], dtype=np.uint32).reshape(-1, 8)
    n = len(X)
    at = np.zeros(n, dtype=np.int64)
    rows = np.arange(n)
    while True:
        active = ~leaf[at]
        if not active.any():
            return value[at]
        r, nd = rows[active], at[active]
        v = X[r, feat[nd]]
        miss = np.where(mleft[nd], left[nd], right[nd])
        go = np.where(v <= thr[nd], left[nd], right[nd])
        c = cat[nd]
        if c.any():
            cv = v[c]
            ok = ~np.isnan(cv) & (cv >= 0) & (cv < 256)
            code = np.where(ok, cv, 0)
            in_left = np.array([_in_bitset(raw[b], np.array([x]))[0] for b, x in zip(bidx[nd][c], code)], dtype=bool)
            in_known = np.array([_in_bitset(known[f_idx_map[f]], np.array([x]))[0]
                                 for f, x in zip(feat[nd][c], code)], dtype=bool)
            cdec = np.where(ok & in_left, left[nd][c], np.where(ok & in_known, right[nd][c], miss[c]))
            go[c] = cdec
        go = np.where(np.isnan(v), miss, go)
        at[r] = go


def evaluate_predict(manifest, X: np.ndarray, bundle_dir) -> np.ndarray:
    doc = json.loads(Path(bundle_dir, manifest["model"]["file"]).read_text())
    K = doc["n_trees_per_iteration"]
    known = np.asarray(doc["known_cat_bitsets"], dtype=np.uint32).reshape(-1, 8)
    f_idx_map = np.asarray(doc["f_idx_map"], dtype=np.int64)
    if "columns" in doc:  # the estimator's column order and category re-encoding
        Xr = np.empty_like(X)
        for j, (c, cats) in enumerate(zip(doc["columns"], doc["categories"])):
            v = X[:, c]
            if cats is not None:
                pos = {float(x): float(i) for i, x in enumerate(cats)}
                v = np.array([pos.get(float(x) + 0.0, np.nan) if not np.isnan(x) else np.nan for x in v])
            Xr[:, j] = v
        X = Xr
    raw = np.zeros((len(X), K), dtype=np.float64, order="F")
    raw += np.asarray(doc["baseline"], dtype=np.float64)
    for i, t in enumerate(doc["trees"]):
        raw[:, i % K] += _tree(t, known, f_idx_map, X)
    link = doc["link"]
    if link == "logit":
        p = special.expit(raw[:, 0])
        return np.column_stack([1 - p, p])
    if link == "multinomial_logit":
        e = raw - raw.max(axis=1, keepdims=True)
        np.exp(e, out=e)
        return e / e.sum(axis=1, keepdims=True)
    if link == "log":
        return np.exp(raw)
    return raw
