"""Reference rows (parity fixture): raw events + the training library's own outputs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import RejectedEvent
from .exporter import split_pipeline
from .jsonfmt import compact, plain
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


def _library_scores(model, frame, output: Output) -> np.ndarray:
    if output.task in ("binary", "multiclass"):
        return np.asarray(model.predict_proba(frame))[0]
    return np.atleast_1d(np.asarray(model.predict(frame))[0])


def reference_rows(model, schema: Schema, output: Output, events: Sequence[Mapping[str, Any]],
                   notes: Sequence[str | None] | None = None, with_features: bool = True) -> list[dict]:
    """One dict per event.

    ``scores`` come from the fitted pipeline itself, called on that one row:
    ``predict_proba`` (all classes) for classifiers, ``predict`` for regressors.
    Rows the bundle must send to the DLQ get ``reject``: ``missing_field`` for a
    missing/null required input (decided by the schema), or the reason from
    :func:`rejection_reason` when sklearn itself refuses the row. ``features`` is the pipeline's transform output for
    the row (the model input columns, NaN as null).
    """
    notes = list(notes) if notes is not None else [None] * len(events)
    steps, _, _ = split_pipeline(model)
    rows: list[dict] = []
    decoded: list[tuple[int, list]] = []
    for i, ev in enumerate(events):
        r: dict[str, Any] = {"event": ev}
        try:
            dec = schema.decode(ev)
        except RejectedEvent as rej:
            r["reject"] = rej.reason
        else:
            frame = schema.frame_from_rows([dec])
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    s = _library_scores(model, frame, output)
            except ValueError as e:
                reason = rejection_reason(e)
                if reason is None:
                    raise
                if reason == "nan":
                    reason = _bundle_reason(model, schema, output, ev)
                r["reject"] = reason
            else:
                r["scores"] = [float(v) for v in s]
                label = output.label(s)
                if label is not None:
                    r["label"] = label
                decoded.append((i, dec))
        if notes[i]:
            r["note"] = notes[i]
        rows.append(r)
    if with_features and decoded and steps:
        prep = model[:-1]  # the fitted transformer steps, as one Pipeline
        frame = schema.frame_from_rows([d for _, d in decoded])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X = prep.transform(frame)
        if hasattr(X, "toarray"):
            X = X.toarray()
        X = np.asarray(X, dtype=np.float64)
        for (i, _), x in zip(decoded, X):
            rows[i]["features"] = [float(v) for v in x]
    elif with_features:
        for i, dec in decoded:
            rows[i]["features"] = [float(v) for v in dec]
    # key order: event, scores | reject, label, features, note
    order = ("event", "scores", "reject", "label", "features", "note")
    return [{k: r[k] for k in order if k in r} for r in rows]


def write_jsonl(rows: Sequence[Mapping], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(compact(r) + "\n")
