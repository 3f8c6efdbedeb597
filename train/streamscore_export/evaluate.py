"""A second, independent implementation of a bundle in numpy.

Reads a manifest (bundle.json) and scores raw events with it, step by step as
docs/bundle.md defines them, without sklearn. Used by the tests and by
make_examples.py to check that every exported bundle reproduces the sklearn
pipeline it came from (features and linear models exactly; XGBoost via the
xgboost library on the features computed here; scikit-learn trees from their
model file, sklearn_trees.predict). It is a checking tool, not a serving path.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import mlp_model
from . import sklearn_trees
from .errors import RejectedEvent
from .schema import Input, Schema


# sklearn validates its input with ensure_all_finite="allow-nan" in these steps: +-Inf is refused.
INF_REJECTING = {"impute", "indicator", "standard", "robust", "minmax", "bucketize"}


def schema_of(manifest: Mapping) -> Schema:
    return Schema([Input(i["name"], i["type"], i.get("required", False), i.get("path")) for i in manifest["inputs"]])


def _missing_cat(v) -> bool:
    return not isinstance(v, str)


def _datepart(ms: np.ndarray, part: str, tz: str) -> np.ndarray:
    from .derive import dateparts  # the one definition, shared with training (years 1-9999 UTC)
    return dateparts(ms, part, tz)


def _source(feature: Mapping, frame: pd.DataFrame) -> np.ndarray:
    if "input" in feature:
        col = frame[feature["input"]]
        return col.to_numpy(dtype=object) if col.dtype == object else col.to_numpy(dtype=np.float64)
    d = feature["derive"]
    a = frame[d["a"]].to_numpy(dtype=np.float64)
    b = frame[d["b"]].to_numpy(dtype=np.float64)
    with np.errstate(all="ignore"):
        if d["op"] == "ratio":
            oz = np.nan if d.get("on_zero", "nan") == "nan" else float(d["on_zero"])
            r = np.where(b == 0, oz, a / b)
        elif d["op"] == "difference":
            r = a - b
        elif d["op"] == "product":
            r = a * b
        elif d["op"] == "date":
            from .derive import date_millis
            r = date_millis(d["year"], a, b)
        else:
            raise ValueError(f"unknown derive op {d['op']!r}")
    return np.where(np.isnan(a) | np.isnan(b), np.nan, r)


def _apply(feature: Mapping, x: np.ndarray, reject: list) -> np.ndarray:
    """Run the step chain; returns (n,) or (n, k). Sets reject[i] for rejected rows."""
    n = len(x)
    for st in feature["steps"]:
        op = st["op"]
        if op in INF_REJECTING and x.dtype != object:
            for i in np.flatnonzero(np.isinf(x)):
                reject[i] = reject[i] or "not_finite"
        if op == "impute":
            if x.dtype == object:
                x = np.array([st["value"] if _missing_cat(v) else v for v in x], dtype=object)
            else:
                x = np.where(np.isnan(x), float(st["value"]), x)
        elif op == "indicator":
            miss = np.array([_missing_cat(v) for v in x]) if x.dtype == object else np.isnan(x)
            x = miss.astype(np.float64)
        elif op == "standard":
            x = (x - st["mean"]) / st["scale"]
        elif op == "robust":
            x = (x - st["center"]) / st["scale"]
        elif op == "minmax":
            oor = (x < st["data_min"]) | (x > st["data_max"])
            y = x * st["scale"]
            y = y + st["offset"]
            policy = st.get("out_of_range", "extrapolate")
            if policy == "clip":
                lo, hi = st.get("feature_range", [0.0, 1.0])
                y = np.clip(y, lo, hi)
            elif policy == "reject":
                for i in np.flatnonzero(oor):
                    reject[i] = reject[i] or "out_of_range"
            x = y
        elif op == "log1p":
            with np.errstate(all="ignore"):
                x = np.log1p(x)
        elif op == "datepart":
            x = _datepart(x.astype(np.float64), st["part"], st.get("tz", "UTC"))
        elif op == "bucketize":
            edges = np.asarray(st["edges"], dtype=np.float64)
            b = np.searchsorted(edges, x, side="right").astype(np.float64)
            for i in np.flatnonzero(np.isnan(x)):
                reject[i] = reject[i] or "missing_field"  # KBinsDiscretizer raises on NaN
            b[np.isnan(x)] = np.nan
            if st["encode"] == "ordinal":
                x = b
            else:
                m = np.zeros((n, len(edges) + 1))
                ok = ~np.isnan(b)
                m[np.flatnonzero(ok), b[ok].astype(int)] = 1.0
                x = m
        elif op == "onehot":
            cats = st["categories"]
            pos = {c: j for j, c in enumerate(cats)}
            drop = st.get("drop")
            keep = [c for c in cats if c != drop]
            kpos = {c: j for j, c in enumerate(keep)}
            width = len(keep) + (st["unknown"] == "column")
            m = np.zeros((n, width))
            for i, v in enumerate(x):
                if not _missing_cat(v) and v in pos:
                    if v in kpos:
                        m[i, kpos[v]] = 1.0
                elif st["unknown"] == "column":
                    m[i, width - 1] = 1.0
                elif st["unknown"] == "reject":
                    reject[i] = reject[i] or "unknown_category"
            x = m
        elif op == "ordinal":
            pos = {c: float(j) for j, c in enumerate(st["categories"])}
            y = np.empty(n)
            for i, v in enumerate(x):
                if not _missing_cat(v) and v in pos:
                    y[i] = pos[v]
                elif st["unknown"] == "value":
                    uv = st["unknown_value"]
                    y[i] = np.nan if uv is None or uv == "nan" else float(uv)
                else:
                    y[i] = np.nan
                    reject[i] = reject[i] or "unknown_category"
            x = y
        else:
            raise ValueError(f"unknown step {op!r}")
    if x.dtype == object:
        raise ValueError(f"feature {feature['name']!r} ends as a category")
    return x


def features(manifest: Mapping, events: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, list[str | None]]:
    """Events -> (model input matrix, per-row DLQ reason or None). Rejected rows are NaN."""
    schema = schema_of(manifest)
    rows, reject = [], []
    for e in events:
        try:
            rows.append(schema.decode(e))
            reject.append(None)
        except RejectedEvent as r:
            rows.append([np.nan] * len(schema.inputs))
            reject.append(r.reason)
    frame = schema.frame_from_rows(rows)
    blocks, col_feature, src_missing = [], [], []
    for k, f in enumerate(manifest["features"]):
        src = _source(f, frame)
        src_missing.append(np.array([_missing_cat(v) for v in src]) if src.dtype == object else np.isnan(src))
        x = _apply(f, src, reject).reshape(len(events), -1)
        blocks.append(x)
        col_feature += [k] * x.shape[1]
    X = np.hstack(blocks) if blocks else np.zeros((len(events), 0))
    # a feature value that is +-Inf rejects the record
    for i in np.flatnonzero(np.isinf(X).any(axis=1)):
        reject[i] = reject[i] or "not_finite"
    if manifest["model"]["kind"] in ("linear", "mlp") or sklearn_trees.refuses_nan(manifest["model"]):
        # sklearn's linear, MLP and GradientBoosting models refuse NaN: the first NaN column decides the reason, missing_field
        # when its feature's source is missing, not_finite when the pipeline computed the NaN
        for i in np.flatnonzero(np.isnan(X).any(axis=1)):
            j = int(np.flatnonzero(np.isnan(X[i]))[0])
            why = "missing_field" if src_missing[col_feature[j]][i] else "not_finite"
            reject[i] = reject[i] or why
    if sklearn_trees.refuses_float32_overflow(manifest["model"]):
        # sklearn's trees cast to float32 and refuse a value that becomes infinite
        with np.errstate(over="ignore", invalid="ignore"):
            for i in np.flatnonzero((np.abs(X) > sklearn_trees.FLOAT32_MAX).any(axis=1)):
                if np.isinf(X[i].astype(np.float32)).any():
                    reject[i] = reject[i] or "not_finite"
    for i, r in enumerate(reject):
        if r:
            X[i] = np.nan
    return X, reject


def predict(manifest: Mapping, X: np.ndarray, bundle_dir: str | Path | None = None) -> np.ndarray:
    """Model scores per row: probabilities for classifiers, (n, 1) values for regression."""
    m = manifest["model"]
    if m["kind"] == "mlp":
        return mlp_model.predict_scores(mlp_model.read(bundle_dir, m), X, manifest["output"]["task"])
    if m["kind"] == "linear":
        coef = np.asarray(m["coef"], dtype=np.float64)
        icpt = np.asarray(m["intercept"], dtype=np.float64)
        z = np.array([[float(np.dot(row, c)) + b for c, b in zip(coef, icpt)] for row in X])
        if m["link"] == "identity":
            return z
        if m["link"] == "logistic":
            p = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.column_stack([1.0 - p, p])
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if m["kind"] in ("lightgbm", "histgb"):
        from . import histgb_model, lightgbm_model
        return {"lightgbm": lightgbm_model, "histgb": histgb_model}[m["kind"]].evaluate_predict(manifest, X, bundle_dir)
    if m["kind"] in sklearn_trees.KINDS:
        return sklearn_trees.predict(manifest, X, bundle_dir)
    import xgboost as xgb

    bst = xgb.Booster(model_file=str(Path(bundle_dir) / m["file"]))
    bst.set_param({"nthread": 1})
    best = bst.attr("best_iteration")  # early stopping: predict with trees 0..best_iteration
    rng = (0, int(best) + 1) if best is not None else (0, 0)
    p = np.asarray(bst.inplace_predict(X, iteration_range=rng))  # float32, as XGBoost computes it
    if manifest["output"]["task"] == "binary":
        p = p.reshape(-1)
        # XGBClassifier.predict_proba computes the negative class as 1 - p in float32
        return np.column_stack([np.float32(1.0) - p, p]).astype(np.float64)
    return p.astype(np.float64).reshape(len(X), -1)
