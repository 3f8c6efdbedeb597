"""Training distributions for drift monitoring: the bundle's optional ``drift`` object.

The service compares live traffic with these histograms (the population
stability index, docs/operations.md "Drift"); docs/bundle.md "drift" is the
format. One histogram per raw input as the service decodes it (what an
upstream change moves, under the name producers and SREs use), except
timestamps, plus one for the model's score. Any model kind gets them: the
score comes from the fitted pipeline's own ``predict_proba`` / ``predict``.

* number and bool inputs: deciles of the training values (missing left out),
  duplicates dropped, as ``edges``; a value v is in bin
  ``searchsorted(edges, v, side="right")`` (edges[i-1] <= v < edges[i]).
* category inputs: the ``TOP_K`` most frequent categories (ties by name) as
  ``categories``, then one bin for every other category.
* ``expected``: the fraction of all training rows in each bin; ``missing``:
  the fraction without the input. They sum to 1.
* the score: deciles of the training rows' scores, binned the same way.

:func:`psi` is the formula the service computes, in numpy (the Go tests'
golden values come from it).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from .schema import BOOL, CATEGORY, NUMBER, Schema

TOP_K = 20
QUANTILES = np.linspace(0.1, 0.9, 9)  # deciles: 10 bins at most
EPSILON = 1e-4  # drift.Epsilon: an empty bin's fraction, either side


def section(model, schema: Schema, output, train_frame, used: set[str]) -> dict:
    """``{"drift": {...}}`` for the manifest, or ``{}`` without training data."""
    if train_frame is None:
        return {}
    return {"drift": stats(model, schema, output, train_frame, used)}


def stats(model, schema: Schema, output, train_frame, used: set[str]) -> dict:
    n = len(train_frame)
    declared = {d["name"] for d in schema.to_json(used)}  # the manifest's inputs
    inputs = []
    for inp in schema.inputs:
        if inp.name not in declared or inp.name not in train_frame.columns:
            continue
        col = train_frame[inp.name]
        if inp.type in (NUMBER, BOOL):
            h = numeric(col.to_numpy(dtype=np.float64), n)
        elif inp.type == CATEGORY:
            h = categorical([x if isinstance(x, str) else None for x in col], n)
        else:
            continue  # timestamps move on with time: their histogram would always alarm
        if h is not None:
            inputs.append({"input": inp.name, **h})
    scores = training_scores(model, output, train_frame)
    edges = np.unique(np.quantile(scores, QUANTILES))
    return {"rows": n, "inputs": inputs,
            "score": {"edges": [float(e) for e in edges], "expected": fractions(bin_counts(edges, scores), n)}}


def numeric(v: np.ndarray, n: int) -> dict | None:
    ok = ~np.isnan(v)
    if not ok.any():
        return None  # never seen in training: nothing to compare with
    edges = np.unique(np.quantile(v[ok], QUANTILES))
    return {"edges": [float(e) for e in edges], "expected": fractions(bin_counts(edges, v[ok]), n),
            "missing": int((~ok).sum()) / n}


def categorical(values: list[str | None], n: int) -> dict:
    seen = [x for x in values if x is not None]
    top = sorted(Counter(seen).items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_K]
    counts = [k for _, k in top] + [len(seen) - sum(k for _, k in top)]
    return {"categories": [c for c, _ in top], "expected": [k / n for k in counts],
            "missing": (len(values) - len(seen)) / n}


def bin_counts(edges, values) -> np.ndarray:
    """Counts per bin (len(edges) + 1) of finite values."""
    return np.bincount(np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right"),
                       minlength=len(edges) + 1)


def fractions(counts, n: int) -> list[float]:
    return [int(k) / n for k in counts]


def training_scores(model, output, train_frame) -> np.ndarray:
    """The score the service reports (Prediction.Score) for every training row."""
    from .reference import _library_scores  # reference imports exporter, which imports this module

    S = _library_scores(model, train_frame, output)
    return np.array([output.score(row) for row in S], dtype=np.float64)


def psi(expected, counts) -> float:
    """PSI = sum (a - e) * ln(a / e), a = counts / sum(counts), a and e raised to EPSILON."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total == 0:
        return float("nan")
    a = np.maximum(counts / total, EPSILON)
    e = np.maximum(np.asarray(expected, dtype=np.float64), EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def input_counts(hist: dict[str, Any], values: list) -> np.ndarray:
    """Counts per bin of one input's decoded values (None or NaN: missing), as the service bins them:
    value bins, then (categories) the other bin, then missing."""
    k = len(hist["expected"])
    out = np.zeros(k + 1, dtype=np.int64)
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out[k] += 1
        elif "categories" in hist:
            cats = hist["categories"]
            out[cats.index(v) if v in cats else len(cats)] += 1
        else:
            out[int(np.searchsorted(hist["edges"], float(v), side="right"))] += 1
    return out
