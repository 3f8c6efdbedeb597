"""Exporter fixes found on models trained outside the project (issue 10 item 4)."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from streamscore_export import ExportError, RejectedEvent, Schema, build_manifest, category, number, policy, reference_rows

warnings.filterwarnings("ignore")

SCHEMA = Schema([number("a"), number("b"), number("c")])


def frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    events = [{"a": float(rng.normal()), "b": float(rng.normal()), "c": float(rng.normal())} for _ in range(n)]
    X = SCHEMA.frame(events)
    y = ((X["a"] + X["b"]) > 0).astype(int).to_numpy()
    return events, X, y


def test_multi_softmax_exports_and_references_are_probabilities():
    events, X, _ = frame()
    y3 = ((X["a"] > 0).astype(int) + (X["b"] > 0).astype(int)).to_numpy()
    m = xgb.XGBClassifier(n_estimators=4, max_depth=2, objective="multi:softmax", num_class=3, n_jobs=1).fit(X, y3)
    out = policy.multiclass(["lo", "mid", "hi"])
    manifest = build_manifest(m, name="s", schema=SCHEMA, output=out)
    assert manifest["model"]["kind"] == "xgboost"
    rows = reference_rows(m, SCHEMA, out, events[:20], with_features=False)
    for r in rows:
        assert len(r["scores"]) == 3 and abs(sum(r["scores"]) - 1) < 1e-5
        assert r["label"] == ["lo", "mid", "hi"][int(np.argmax(r["scores"]))]


def test_logitraw_binary_task_scores_sigmoid_of_margin():
    events, X, y = frame()
    m = xgb.XGBClassifier(n_estimators=4, max_depth=2, objective="binary:logitraw", n_jobs=1).fit(X, y)
    out = policy.binary(["no", "yes"])
    build_manifest(m, name="r", schema=SCHEMA, output=out)  # no longer refused
    rows = reference_rows(m, SCHEMA, out, events[:20], with_features=False)
    margins = m.predict(X[:20], output_margin=True)
    for r, mg in zip(rows, margins):
        p = 1 / (1 + math.exp(-float(mg)))
        assert abs(r["scores"][1] - p) < 1e-6 and abs(r["scores"][0] + r["scores"][1] - 1) < 1e-6


def test_logitraw_regression_task_scores_the_margin():
    events, X, y = frame()
    m = xgb.XGBClassifier(n_estimators=4, max_depth=2, objective="binary:logitraw", n_jobs=1).fit(X, y)
    rows = reference_rows(m, SCHEMA, policy.regression(), events[:20], with_features=False)
    margins = m.predict(X[:20], output_margin=True)
    assert [r["scores"][0] for r in rows] == [float(np.float32(v)) for v in margins]


def test_reg_logistic_regressor_with_binary_output():
    events, X, y = frame()
    m = xgb.XGBRegressor(n_estimators=4, max_depth=2, objective="reg:logistic", n_jobs=1).fit(X, y)
    out = policy.binary(["no", "yes"])
    rows = reference_rows(m, SCHEMA, out, events[:10], with_features=False)  # crashed: no predict_proba
    p = m.predict(X[:10])
    for r, v in zip(rows, p):
        assert r["scores"] == [float(np.float32(1) - np.float32(v)), float(np.float32(v))]


def test_booster_feature_names_out_of_order_refused():
    _, X, y = frame()
    d = xgb.DMatrix(X[["b", "a", "c"]].to_numpy(), y, feature_names=["b", "a", "c"])
    booster = xgb.train({"max_depth": 2, "nthread": 1}, d, 3)
    with pytest.raises(ExportError, match="feature_names are not the bundle's columns in order"):
        build_manifest(booster, name="x", schema=SCHEMA, output=policy.regression())
    d2 = xgb.DMatrix(X.to_numpy(), y, feature_names=["a", "b", "c"])
    build_manifest(xgb.train({"max_depth": 2, "nthread": 1}, d2, 3), name="x", schema=SCHEMA, output=policy.regression())


def test_integer_class_names_become_strings():
    out = policy.binary(np.array([0, 1]))
    assert out.classes == ["0", "1"] and out.to_json()["classes"] == ["0", "1"]


def test_nan_in_dict_events_is_missing():
    s = Schema([number("a"), number("b", required=True), category("c")])
    row = s.decode({"a": float("nan"), "b": 1.0, "c": np.nan})
    assert math.isnan(row[0]) and math.isnan(row[2]) and row[1] == 1.0
    with pytest.raises(RejectedEvent) as e:
        s.decode({"a": 1.0, "b": np.float64("nan")})
    assert e.value.reason == "missing_field"
    with pytest.raises(RejectedEvent) as e:
        s.decode({"a": float("inf"), "b": 1.0})
    assert e.value.reason == "not_finite"
    with pytest.raises(RejectedEvent) as e:
        s.decode({"a": "12", "b": 1.0})
    assert e.value.reason == "wrong_type"  # the stream decoder's reasons, not invalid_field


def test_integer_category_is_its_text():
    s = Schema([category("mcc")])
    assert s.decode({"mcc": 5411}) == ["5411"]  # as the stream's JSON decoder reads it
    with pytest.raises(RejectedEvent) as e:
        s.decode({"mcc": 54.5})
    assert e.value.reason == "wrong_type"


def test_schema_from_frame():
    df = pd.DataFrame({"amount": [1.5, 2.0], "n": [1, 2], "flag": [True, False], "city": ["a", "b"],
                       "when": pd.to_datetime(["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"]),
                       "kind": pd.Categorical(["x", "y"]), "zip": [10115, 20095]})
    s = Schema.from_frame(df, required=["amount"], types={"zip": "category"})
    assert [(i.name, i.type, i.required) for i in s.inputs] == [
        ("amount", "number", True), ("n", "number", False), ("flag", "bool", False), ("city", "category", False),
        ("when", "timestamp", False), ("kind", "category", False), ("zip", "category", False)]
    with pytest.raises(ExportError, match="not columns"):
        Schema.from_frame(df, required=["nope"])


def test_output_classes_in_another_order_than_classes_are_refused():
    # policy.binary(["good", "bad"]) on a model whose classes_ are ["bad", "good"] used to export: the
    # service then labelled P(good) "bad" (and the reference rows, from the same pipeline, agreed).
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    _, X, y = frame()
    names = np.where(y == 1, "good", "bad")
    lr = LogisticRegression().fit(X, names)
    with pytest.raises(ExportError, match=r"output class 'good' is output 0, but it is class 1 .*\['bad', 'good'\]"):
        build_manifest(lr, name="s", schema=SCHEMA, output=policy.binary(["good", "bad"]))
    y3 = (X["a"] > 0).astype(int).to_numpy() + (X["b"] > 0).astype(int).to_numpy()
    rf = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y3)
    with pytest.raises(ExportError, match=r"output class '2' is output 0"):
        build_manifest(rf, name="s", schema=SCHEMA, output=policy.multiclass([2, 1, 0]))
    # the order of classes_, or new names for all of them, export as before
    build_manifest(lr, name="s", schema=SCHEMA, output=policy.binary(["bad", "good"]))
    build_manifest(lr, name="s", schema=SCHEMA, output=policy.binary(["Low Risk", "High Risk"]))
    build_manifest(rf, name="s", schema=SCHEMA, output=policy.multiclass(["lo", "mid", "hi"]))


def test_dataframe_records_decode_timestamps_and_pandas_missing():
    # Schema.from_frame types a datetime column as a timestamp, but the events of that frame
    # (df.to_dict("records")) hold pd.Timestamp, pd.NaT and pd.NA, which were wrong_type.
    from streamscore_export.reference import jsonl

    df = pd.DataFrame({"when": pd.to_datetime([1_760_000_000_123, None, -86_399_999], unit="ms", utc=True),
                       "visits": pd.array([3, None, 1], dtype="Int64")})
    s = Schema.from_frame(df)
    assert [i.type for i in s.inputs] == ["timestamp", "number"]
    ev = df.to_dict("records")
    X = s.frame(ev)
    np.testing.assert_array_equal(X["when"].to_numpy(), [1_760_000_000_123.0, np.nan, -86_399_999.0])
    np.testing.assert_array_equal(X["visits"].to_numpy(), [3.0, np.nan, 1.0])
    # reference rows write the events as JSON: the timestamp as its RFC 3339 text, missing as null,
    # which decodes to the same row
    lines = [json.loads(l) for l in jsonl([{"event": e} for e in ev]).decode().splitlines()]
    assert lines[0]["event"]["when"].startswith("2025-10-09T08:53:20.123") and lines[1]["event"] == {"when": None, "visits": None}
    np.testing.assert_array_equal(s.frame([l["event"] for l in lines]).to_numpy(), X.to_numpy())
    with pytest.raises(RejectedEvent, match="no time zone"):
        s.decode({"when": pd.Timestamp("2025-01-01 10:00")})


def test_integer_categories_fitted_raw_say_to_train_on_schema_frame():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from streamscore_export import UnsupportedStepError

    df = pd.DataFrame({"mcc": [5411, 5812, 4511, 5411] * 10, "a": np.arange(40.0)})
    s = Schema.from_frame(df, types={"mcc": "category"})
    ct = ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["mcc"])])
    y = np.arange(40) % 2
    raw = Pipeline([("ct", ct), ("m", LogisticRegression())]).fit(df, y)
    with pytest.raises(UnsupportedStepError, match=r"categories of 'mcc' must be strings.*train on schema\.frame\(events\)"):
        build_manifest(raw, name="s", schema=s, output=policy.binary([0, 1]))
    decoded = Pipeline([("ct", ct), ("m", LogisticRegression())]).fit(s.frame(df.to_dict("records")), y)
    manifest = build_manifest(decoded, name="s", schema=s, output=policy.binary([0, 1]))
    assert manifest["features"][0]["steps"][-1]["categories"] == ["4511", "5411", "5812"]
