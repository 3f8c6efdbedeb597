"""Reference rows (parity fixture): raw events + the training library's own outputs."""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from . import lightgbm_model as _lgb
from . import xgbmath
from .errors import RejectedEvent
from .exporter import split_pipeline
from .jsonfmt import compact, plain, pretty
from .policy import Output
from .schema import Schema


def rejection_reason(err: ValueError) -> str | None:
    """The DLQ reason for a row sklearn itself refuses, or None for an unexpected error.

    * ``unknown_category``: OneHotEncoder / OrdinalEncoder with handle_unknown='error'
      met a category not seen in training ("Found unknown categories").
    * ``not_finite``: a step got +-Inf (e.g. log1p(-1) into StandardScaler, an overflowing
      ratio): "Input X contains infinity".
    * ``nan``: a NaN reached a step that refuses it (a linear model, KBinsDiscretizer):
      "Input X contains NaN". The bundle's rules name the reason (missing_field when the
      value's source input is missing or it enters bucketize, not_finite when the pipeline
      computed it, e.g. log1p(-2)); :func:`reference_rows` asks the bundle evaluator.
    """
    msg = str(err).lower()
    if "unknown categor" in msg:
        return "unknown_category"
    if "contains infinity" in msg:
        return "not_finite"
    if "contains nan" in msg:
        return "nan"
    return None


def _bundle_reason(model, schema: Schema, output: Output, event) -> str:
    from . import evaluate
    from .exporter import build_manifest

    manifest = build_manifest(model, name="reference", schema=schema, output=output)
    _, rejects = evaluate.features(manifest, [event])
    if rejects[0] not in ("missing_field", "not_finite"):
        raise ValueError(f"sklearn refused a NaN in {event!r}, but the bundle would give {rejects[0]!r}")
    return rejects[0]


def _xgb_objective(model) -> str | None:
    """The XGBoost objective of the pipeline's final estimator, or None."""
    _, _, est = split_pipeline(model)
    try:
        import xgboost as xgb
    except ImportError:  # pragma: no cover
        return None
    if isinstance(est, (xgb.XGBModel, xgb.Booster)):
        booster = est if isinstance(est, xgb.Booster) else est.get_booster()
        return json.loads(booster.save_config())["learner"]["objective"]["name"]
    return None


def _library_scores(model, frame, output: Output) -> np.ndarray:
    """(n, k) scores from the fitted pipeline itself.

    Classifiers: ``predict_proba``; regressors: ``predict``. XGBoost cases
    where neither is the bundle's score: ``multi:softmax`` (predict_proba is
    scipy's softmax of the margins; the score is XGBoost's own softmax, as
    multi:softprob gives it), ``binary:logitraw`` (predict_proba
    returns margins; the score is the margin for a regression task, its
    float32 sigmoid for a binary one), and a binary task on an estimator
    without predict_proba (``XGBRegressor(objective="reg:logistic")``):
    ``predict``'s probability p as ``[1-p, p]`` in float32.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if (s := _lgb.library_scores(model, frame, output)) is not None:  # a bare lightgbm.Booster
            return s
        obj = _xgb_objective(model)
        if obj == "multi:softmax":  # predict_proba: scipy's float32 softmax; the bundle's: XGBoost's own
            return xgbmath.softmax(model.predict(frame, output_margin=True)).astype(np.float64)
        if obj == "binary:logitraw":
            m = np.asarray(model.predict(frame, output_margin=True), dtype=np.float32)
            if output.task == "binary":
                return xgbmath.binary_proba(xgbmath.sigmoid(m)).astype(np.float64)
            return m.astype(np.float64).reshape(len(frame), -1)
        if output.task in ("binary", "multiclass"):
            if not hasattr(model, "predict_proba"):
                if output.task != "binary":
                    raise ValueError("multiclass output needs predict_proba")
                return xgbmath.binary_proba(model.predict(frame)).astype(np.float64)
            return np.asarray(model.predict_proba(frame), dtype=np.float64)
        return np.asarray(model.predict(frame), dtype=np.float64).reshape(len(frame), -1)


def _score_or_reason(model, schema: Schema, output: Output, events, decoded: list) -> list:
    """Per row: scores array, or the DLQ reason (str) when sklearn refuses the row.

    Rows go through the pipeline in blocks (like a batch scorer); a block that sklearn
    refuses is redone row by row, so one bad row rejects only itself.
    """
    out: list = [None] * len(decoded)
    block = 128

    def one(k: int):
        try:
            out[k] = _library_scores(model, schema.frame_from_rows([decoded[k][1]]), output)[0]
        except ValueError as e:
            reason = rejection_reason(e)
            if reason is None:
                raise
            if reason == "nan":
                reason = _bundle_reason(model, schema, output, events[decoded[k][0]])
            out[k] = reason

    for start in range(0, len(decoded), block):
        ks = range(start, min(start + block, len(decoded)))
        try:
            S = _library_scores(model, schema.frame_from_rows([decoded[k][1] for k in ks]), output)
        except ValueError:
            for k in ks:
                one(k)
        else:
            for k, srow in zip(ks, S):
                out[k] = srow
    return out


def reference_rows(model, schema: Schema, output: Output, events: Sequence[Mapping[str, Any]],
                   notes: Sequence[str | None] | None = None, with_features: bool = True) -> list[dict]:
    """One dict per event.

    ``scores`` come from the fitted pipeline itself: ``predict_proba`` (all classes)
    for classifiers, ``predict`` for regressors, called on blocks of rows (a block
    sklearn refuses is redone row by row). Rows the bundle must send to the DLQ get
    ``reject``: ``missing_field`` for a missing/null required input (decided by the
    schema), or the reason from :func:`rejection_reason` when sklearn itself refuses
    the row. ``features`` is the pipeline's transform output for the row (the model
    input columns, NaN as null).
    """
    events = list(events)
    notes = list(notes) if notes is not None else [None] * len(events)
    steps, _, _ = split_pipeline(model)
    rows: list[dict] = [{"event": ev} for ev in events]
    decoded: list[tuple[int, list]] = []
    for i, ev in enumerate(events):
        try:
            decoded.append((i, schema.decode(ev)))
        except RejectedEvent as rej:
            rows[i]["reject"] = rej.reason
    results = _score_or_reason(model, schema, output, events, decoded)
    scored: list[tuple[int, list]] = []
    for (i, dec), res in zip(decoded, results):
        if isinstance(res, str) or not np.isfinite(res).all():  # a non-finite output is rejected (not_finite)
            rows[i]["reject"] = res if isinstance(res, str) else "not_finite"
            continue
        scored.append((i, dec))
    features: dict[int, list] = {i: dec for i, dec in scored}  # a bare estimator: the decoded row
    if scored and steps:
        prep = model[:-1]  # the fitted transformer steps, as one Pipeline
        frame = schema.frame_from_rows([d for _, d in scored])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X = _lgb.codes(prep.transform(frame))  # pandas categoricals as LightGBM reads them
        if hasattr(X, "toarray"):
            X = X.toarray()
        features = {i: x for (i, _), x in zip(scored, np.asarray(X, dtype=np.float64))}
    res_of = {i: res for (i, _), res in zip(decoded, results)}
    for i, _ in scored:
        if any(isinstance(v, (float, np.floating)) and math.isinf(v) for v in features[i]):
            # An infinite model column (log1p(-1), an overflowing ratio or product): the bundle rejects
            # it (docs/bundle.md, not_finite), though HistGradientBoosting, XGBoost and LightGBM score it.
            rows[i]["reject"] = "not_finite"
            continue
        rows[i]["scores"] = [float(v) for v in res_of[i]]
        label = output.label(res_of[i])
        if label is not None:
            rows[i]["label"] = label
        if with_features:
            rows[i]["features"] = [float(v) for v in features[i]]
    for i, n in enumerate(notes):
        if n:
            rows[i]["note"] = n
    # key order: event, scores | reject, label, features, note
    order = ("event", "scores", "reject", "label", "features", "note")
    return [{k: r[k] for k in order if k in r} for r in rows]


REFERENCE_FILE = "reference.jsonl"


def jsonl(rows: Sequence[Mapping]) -> bytes:
    """One compact JSON object per line, UTF-8: the bytes of reference.jsonl."""
    return "".join(compact(r) + "\n" for r in rows).encode("utf-8")


def write_jsonl(rows: Sequence[Mapping], path: str | Path) -> None:
    Path(path).write_bytes(jsonl(rows))


def write_reference(out_dir: str | Path, manifest: Mapping, rows: Sequence[Mapping]) -> dict:
    """Write ``reference.jsonl`` into the bundle in ``out_dir`` and record it in its ``bundle.json``.

    ``manifest`` is what :func:`export_bundle` returned. bundle.json is written again, after the
    rows, with ``"reference": {"rows": N, "sha256": HEX}`` (the file's row count and the SHA-256 of
    its bytes), so that a copy of the file cut short at a line boundary, which still reads as good
    rows, is refused when the service loads the bundle (docs/bundle.md). Returns that manifest.
    """
    if not rows:
        raise ValueError("no reference rows: a bundle's reference.jsonl has at least one")
    out = Path(out_dir)
    data = jsonl(rows)
    (out / REFERENCE_FILE).write_bytes(data)
    recorded = {**manifest, "reference": {"rows": len(rows), "sha256": hashlib.sha256(data).hexdigest()}}
    (out / "bundle.json").write_text(pretty(recorded), encoding="utf-8")
    return recorded
