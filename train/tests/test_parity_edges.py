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


# The Go pipeline's parts at both ends of years 1-9999 UTC (time.UnixMilli(ms).In(zone)): hour, weekday,
# month, dayofyear, minute. The local year there is 0 or 10000, which Python's datetime cannot hold;
# derive.datepart used to raise (OverflowError, NotImplementedError) where the service scored.
GO_DATEPARTS = [
    ("Europe/Berlin", -62135596800000, [0, 0, 1, 1, 53]),
    ("Europe/Berlin", 253402300799999, [0, 5, 1, 1, 59]),
    ("America/New_York", -62135596800000, [19, 6, 12, 366, 3]),
    ("America/New_York", 253402300799999, [18, 4, 12, 365, 59]),
    ("Pacific/Kiritimati", -62135578800000, [18, 6, 12, 366, 30]),
    ("Pacific/Kiritimati", 253402300799999, [13, 5, 1, 1, 59]),
    ("UTC", 253402300799999, [23, 4, 12, 365, 59]),
]


@pytest.mark.parametrize("tz,ms,want", GO_DATEPARTS)
def test_datepart_at_the_ends_of_years_1_to_9999(tz, ms, want):
    from streamscore_export import derive, evaluate, timestamp

    schema = Schema([timestamp("ts")])
    X = schema.frame([{"ts": ms}])
    for part, w in zip(("hour", "weekday", "month", "dayofyear", "minute"), want):
        assert derive.datepart("ts", part, tz=tz, name="p").fit(X).transform(X)["p"].tolist() == [w], (part, tz)
        assert evaluate._datepart(np.array([float(ms)]), part, tz).tolist() == [w], (part, tz)


@pytest.mark.parametrize("ms", [-62135596800001, 253402300800000, 1e15, -1e15, 1e16, 1e300])
def test_datepart_outside_years_1_to_9999_is_missing(ms):
    from streamscore_export import derive, timestamp

    X = Schema([timestamp("ts")]).frame([{"ts": ms}])
    for tz in ("UTC", "Europe/Berlin"):
        assert math.isnan(derive.datepart("ts", "hour", tz=tz, name="p").fit(X).transform(X)["p"].iloc[0])


def test_multi_softmax_references_are_xgboosts_softmax():
    # XGBClassifier(objective="multi:softmax").predict_proba is scipy's softmax of the float32 margins;
    # the bundle scores it as multi:softprob (XGBoost's softmax: float32 expf, float64 sum). The two differ
    # in the last float32 bit for many rows (the audit: 699 of 2526 outputs, 1.2e-7), and the parity test
    # wants XGBoost's bits: the reference rows record the model's own softprob output.
    from streamscore_export import reference_rows

    X, _ = frame(600, seed=3)
    rng = np.random.default_rng(4)
    y3 = np.digitize(X["a"].to_numpy() + rng.normal(0, 0.5, len(X)), [-0.5, 0.5])
    soft = xgb.XGBClassifier(n_estimators=6, max_depth=3, objective="multi:softmax", n_jobs=1, random_state=0).fit(X, y3)
    prob = xgb.XGBClassifier(n_estimators=6, max_depth=3, objective="multi:softprob", n_jobs=1, random_state=0).fit(X, y3)
    events = [{"a": float(a), "b": float(b)} for a, b in zip(X["a"], X["b"])]
    rows = reference_rows(soft, SCHEMA, policy.multiclass(["lo", "mid", "hi"]), events, with_features=False)
    want = prob.predict_proba(X).astype(np.float64).tolist()  # the same trees, XGBoost's own softmax
    assert np.array_equal(soft.predict(X, output_margin=True), prob.predict(X, output_margin=True))
    assert [r["scores"] for r in rows] == want
