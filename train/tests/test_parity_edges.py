"""Exporter fixes from the parity audit of every model kind on edge-case rows (issue 9, deliverable 4):
what the exporter must refuse because the bundle would score it differently from the library."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import xgboost as xgb

from streamscore_export import Schema, UnsupportedStepError, build_manifest, number, policy

warnings.filterwarnings("ignore")

SCHEMA = Schema([number("a"), number("b")])


def frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    events = [{"a": float(rng.normal()), "b": float(rng.choice([0.0, 1.0, 2.0]))} for _ in range(n)]
    X = SCHEMA.frame(events)
    y = ((X["a"] + X["b"]) > 1).astype(int).to_numpy()
    return X, y


@pytest.mark.parametrize("missing", [0.0, -1, -999.0])
def test_refuses_xgboost_missing_other_than_nan(missing):
    # XGBClassifier(missing=0) reads every 0 as missing (default direction); the bundle reads only
    # NaN as missing, so the 0 rows would take the other branch: the audit measured 0.35 on such rows.
    X, y = frame()
    m = xgb.XGBClassifier(n_estimators=3, max_depth=2, missing=missing, n_jobs=1).fit(X, y)
    # the library itself reads the value as missing: the same scores as NaN
    assert m.predict_proba(X.assign(b=float(missing))).tolist() == m.predict_proba(X.assign(b=np.nan)).tolist()
    with pytest.raises(UnsupportedStepError, match=r"missing=.*train with missing=np.nan"):
        build_manifest(m, name="m", schema=SCHEMA, output=policy.binary(["no", "yes"]))


@pytest.mark.parametrize("missing", [np.nan, float("nan"), None])
def test_exports_xgboost_missing_nan(missing):
    X, y = frame()
    m = xgb.XGBClassifier(n_estimators=3, max_depth=2, missing=missing, n_jobs=1).fit(X, y)
    assert build_manifest(m, name="m", schema=SCHEMA, output=policy.binary(["no", "yes"]))["model"]["kind"] == "xgboost"


def test_reference_rows_reject_an_infinite_model_column_the_library_scores(tmp_path):
    # log1p(-1) = -inf reaches the model. HistGradientBoosting scores it (it goes left of every split); the
    # bundle rejects an infinite feature value (docs/bundle.md, not_finite). The reference row must say what
    # the service does; it used to carry the library's scores and a -inf feature that write_jsonl refused.
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from streamscore_export import reference_rows, write_jsonl

    X, y = frame()
    pipe = Pipeline([("log", FunctionTransformer(np.log1p)),
                     ("m", HistGradientBoostingClassifier(max_iter=3, random_state=0))]).fit(X, y)
    out = policy.binary(["no", "yes"])
    assert np.isfinite(pipe.predict_proba(SCHEMA.frame([{"a": -1.0, "b": 1.0}]))).all()  # the library scores it
    rows = reference_rows(pipe, SCHEMA, out, [{"a": 0.5, "b": 1.0}, {"a": -1.0, "b": 1.0}, {"a": -2.0, "b": 1.0}])
    assert "scores" in rows[0] and "reject" not in rows[0]
    assert rows[1].get("reject") == "not_finite" and "scores" not in rows[1] and "features" not in rows[1]
    assert "scores" in rows[2] and math.isnan(rows[2]["features"][0])  # log1p(-2) is NaN: missing, scored
    write_jsonl(rows, tmp_path / "reference.jsonl")
