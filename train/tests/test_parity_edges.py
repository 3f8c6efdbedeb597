"""Exporter fixes from the parity audit of every model kind on edge-case rows (issue 9, deliverable 4):
what the exporter must refuse because the bundle would score it differently from the library."""

from __future__ import annotations

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
