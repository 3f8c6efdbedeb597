"""Exporter tests: refusals by name, column order, numpy round trip of linear bundles."""

from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    RobustScaler,
    StandardScaler,
)

from streamscore_export import (
    RejectedEvent,
    Schema,
    UnsupportedStepError,
    boolean,
    build_manifest,
    category,
    derive,
    evaluate,
    export_bundle,
    number,
    policy,
    reference_rows,
    timestamp,
    write_reference,
)

warnings.filterwarnings("ignore")

SCHEMA = Schema([
    number("a"), number("b"), category("color"), category("size"), boolean("flag"), timestamp("ts"),
])
COLORS = ["red", "green", "blue", "teal"]


def make_events(n: int, seed: int = 0) -> tuple[list[dict], np.ndarray]:
    rng = np.random.default_rng(seed)
    evs, y = [], []
    for i in range(n):
        a = float(rng.normal(10, 3))
        b = float(rng.uniform(0.5, 5))
        color = COLORS[int(rng.choice(4, p=[0.5, 0.3, 0.18, 0.02]))]
        ev = {"a": a, "b": b, "color": color, "size": ["S", "M", "L"][i % 3], "flag": bool(rng.random() < 0.3),
              "ts": 1767225600000 + int(rng.integers(0, 30 * 86400)) * 1000}
        if rng.random() < 0.1:
            ev.pop("a")
        if rng.random() < 0.05:
            ev["b"] = None
        if rng.random() < 0.05:
            ev["color"] = None
        evs.append(ev)
        y.append(int(a / b + (color == "red") * 2 + rng.normal(0, 1) > 6))
    return evs, np.asarray(y)


EVENTS, Y = make_events(400)
EDGE = [
    {},
    {"a": 1e6, "b": 0.0, "color": "purple", "size": "XL", "flag": True, "ts": "2026-03-29T01:30:00+02:00"},
    {"a": -50.0, "b": -3.0, "color": "teal", "size": "S", "flag": False, "ts": None},
    {"a": 3.0, "b": 2.0, "color": "", "size": "M"},
]


def rich_pipeline(model):
    return Pipeline([
        ("ratio", derive.ratio("a", "b", name="a_per_b")),
        ("prod", derive.product("a", "b", name="ab")),
        ("hour", derive.datepart("ts", "hour", tz="Europe/Berlin", name="hour")),
        ("prep", ColumnTransformer([
            ("num", Pipeline([("imp", SimpleImputer(strategy="median", add_indicator=True)),
                              ("sc", StandardScaler())]), ["a", "a_per_b"]),
            ("mm", Pipeline([("imp", SimpleImputer(strategy="mean")), ("mm", MinMaxScaler(clip=True))]), ["ab"]),
            ("rb", Pipeline([("imp", SimpleImputer(strategy="constant", fill_value=1.0)),
                             ("log", FunctionTransformer(np.log1p)), ("rb", RobustScaler())]), ["b"]),
            ("bins", Pipeline([("imp", SimpleImputer(strategy="median")),
                               ("kb", KBinsDiscretizer(n_bins=3, encode="onehot-dense", strategy="uniform"))]),
             ["hour"]),
            ("color", Pipeline([("imp", SimpleImputer(strategy="most_frequent")),
                                ("oh", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=0.05,
                                                     sparse_output=False))]), ["color"]),
            ("size", OneHotEncoder(handle_unknown="ignore", drop="first", sparse_output=False), ["size"]),
            ("size_ord", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["size"]),
        ], remainder="passthrough", sparse_threshold=0.0)),  # remainder: flag, ts -> hour already derived
        ("model", model),
    ])


def test_column_order_matches_transform():
    pipe = rich_pipeline(LogisticRegression(max_iter=2000))
    X = SCHEMA.frame(EVENTS)
    pipe.fit(X, Y)
    m = build_manifest(pipe, name="t", schema=SCHEMA, output=policy.binary(["no", "yes"]))
    events = EVENTS[:100] + EDGE
    got, rejects = evaluate.features(m, events)
    want = pipe[:-1].transform(SCHEMA.frame(events))
    assert got.shape == want.shape
    for i in range(len(events)):
        if rejects[i] is None:
            np.testing.assert_array_equal(got[i], want[i], err_msg=f"row {i}")
    # the feature entries in manifest order, matching sklearn's output layout
    names = [f["name"] for f in m["features"]]
    assert names[:4] == ["a", "a_per_b", "a_missing", "a_per_b_missing"]  # indicators after imputed columns
    assert names[-2:] == ["flag", "ts"]  # remainder passthrough last, in input order
    color = next(f for f in m["features"] if f["name"] == "color")["steps"][-1]
    assert color["unknown"] == "column" and "teal" not in color["categories"]
    oh = next(f for f in m["features"] if f["steps"] and f["steps"][-1]["op"] == "onehot" and "drop" in f["steps"][-1])
    assert oh["steps"][-1]["drop"] == "L"


def test_linear_round_trip_equals_sklearn():
    X = SCHEMA.frame(EVENTS)
    events = EVENTS[:200] + EDGE
    frame = SCHEMA.frame(events)
    # binary logistic
    pipe = rich_pipeline(LogisticRegression(max_iter=2000)).fit(X, Y)
    m = build_manifest(pipe, name="t", schema=SCHEMA, output=policy.binary(["no", "yes"]))
    F, rej = evaluate.features(m, events)
    ok = [i for i, r in enumerate(rej) if r is None]
    np.testing.assert_allclose(evaluate.predict(m, F[ok]), pipe.predict_proba(frame.iloc[ok]), rtol=0, atol=1e-12)
    # multinomial
    y3 = np.asarray([i % 3 for i in range(len(EVENTS))]) * (Y + 1) % 3
    pipe3 = rich_pipeline(LogisticRegression(max_iter=2000)).fit(X, y3)
    m3 = build_manifest(pipe3, name="t", schema=SCHEMA, output=policy.multiclass(["x", "y", "z"]))
    assert m3["model"]["link"] == "softmax" and len(m3["model"]["coef"]) == 3
    np.testing.assert_allclose(evaluate.predict(m3, F[ok]), pipe3.predict_proba(frame.iloc[ok]), rtol=0, atol=1e-12)
    # linear regression
    yr = np.asarray([e.get("b") or 0.0 for e in EVENTS]) * 3.0 + 1.0
    pr = rich_pipeline(LinearRegression()).fit(X, yr)
    mr = build_manifest(pr, name="t", schema=SCHEMA, output=policy.regression())
    np.testing.assert_allclose(evaluate.predict(mr, F[ok])[:, 0], pr.predict(frame.iloc[ok]), rtol=1e-12, atol=1e-9)


def test_reference_rows_rejects_and_manifest_json(tmp_path):
    schema = Schema([number("x", required=True), category("c")])
    evs = [{"x": float(i), "c": "ab"[i % 2]} for i in range(50)]
    pipe = Pipeline([
        ("prep", ColumnTransformer([
            ("x", Pipeline([("log", FunctionTransformer(np.log1p)), ("sc", StandardScaler())]), ["x"]),
            ("c", OneHotEncoder(sparse_output=False), ["c"]),  # handle_unknown="error" -> reject
        ])),
        ("model", LogisticRegression()),
    ]).fit(schema.frame(evs), np.arange(50) % 2)
    out = policy.binary(["n", "p"], [(0.6, "p")], "n")
    m = export_bundle(pipe, tmp_path, name="t", schema=schema, output=out)
    assert json.loads((tmp_path / "bundle.json").read_text()) == json.loads(json.dumps(m))
    rows = reference_rows(pipe, schema, out, [
        {"x": 1.0, "c": "a"}, {"c": "a"}, {"x": None, "c": "a"}, {"x": 1.0, "c": "zz"}, {"x": -1.0, "c": "a"},
        {"x": -3.0, "c": "b"}, {"x": 2.0},
    ])
    assert "scores" in rows[0] and rows[0]["label"] in ("n", "p")
    assert [r.get("reject") for r in rows[1:]] == [
        "missing_field", "missing_field", "unknown_category", "not_finite", "not_finite", "unknown_category"]
    _, rej = evaluate.features(m, [r["event"] for r in rows])
    assert rej == [r.get("reject") for r in rows]


@pytest.mark.parametrize("step,needle", [
    (("poly", PolynomialFeatures()), "'poly' (sklearn.PolynomialFeatures)"),
    (("pca", PCA(n_components=1)), "'pca' (sklearn.PCA)"),
    (("sqrt", FunctionTransformer(np.sqrt)), "'sqrt' (sklearn.FunctionTransformer(func=sqrt))"),
])
def test_refuses_unsupported_transformer_by_name(step, needle):
    schema = Schema([number("a"), number("b")])
    evs = [{"a": float(i), "b": float(i % 7)} for i in range(40)]
    pipe = Pipeline([step, ("model", LinearRegression())]).fit(schema.frame(evs), np.arange(40.0))
    with pytest.raises(UnsupportedStepError) as e:
        build_manifest(pipe, name="t", schema=schema, output=policy.regression())
    assert needle in str(e.value)


def test_refuses_unsupported_model_and_settings():
    schema = Schema([number("a"), category("c")])
    evs = [{"a": float(i), "c": "xy"[i % 2]} for i in range(40)]
    X, y = schema.frame(evs), np.arange(40) % 2
    knn = Pipeline([("prep", ColumnTransformer([("a", "passthrough", ["a"])])),
                    ("knn", KNeighborsClassifier(n_neighbors=3))]).fit(X, y)
    with pytest.raises(UnsupportedStepError, match=r"'knn' \(sklearn.KNeighborsClassifier\)"):
        build_manifest(knn, name="t", schema=schema, output=policy.binary(["0", "1"]))
    # infrequent categories with handle_unknown="ignore": known-infrequent and unknown differ
    evs3 = evs + [{"a": 1.0, "c": "rare"}]
    infreq = Pipeline([("prep", ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore", min_frequency=2),
                                                    ["c"])])),
                       ("model", LinearRegression())]).fit(schema.frame(evs3), np.arange(41.0))
    with pytest.raises(UnsupportedStepError, match="infrequent_if_exist"):
        build_manifest(infreq, name="t", schema=schema, output=policy.regression())
    # missing values learnt as a category
    evs2 = evs + [{"a": 1.0, "c": None}]
    nan_cat = Pipeline([("prep", ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore"), ["c"])])),
                        ("model", LinearRegression())]).fit(schema.frame(evs2), np.arange(41.0))
    with pytest.raises(UnsupportedStepError, match="impute them first"):
        build_manifest(nan_cat, name="t", schema=schema, output=policy.regression())


def test_refuses_sparse_matrix_for_xgboost():
    xgb = pytest.importorskip("xgboost")
    schema = Schema([category("c")])
    evs = [{"c": "abc"[i % 3]} for i in range(30)]
    pipe = Pipeline([("prep", ColumnTransformer([("c", OneHotEncoder(), ["c"])], sparse_threshold=1.0)),
                     ("model", xgb.XGBClassifier(n_estimators=2, n_jobs=1))]).fit(schema.frame(evs), np.arange(30) % 2)
    with pytest.raises(UnsupportedStepError, match="sparse"):
        build_manifest(pipe, name="t", schema=schema, output=policy.binary(["0", "1"]))


def test_xgboost_bundle_scores_equal_library(tmp_path):
    xgb = pytest.importorskip("xgboost")
    X = SCHEMA.frame(EVENTS)
    pipe = rich_pipeline(xgb.XGBClassifier(n_estimators=5, max_depth=3, n_jobs=1, random_state=0)).fit(X, Y)
    m = export_bundle(pipe, tmp_path, name="t", schema=SCHEMA, output=policy.binary(["no", "yes"]))
    assert (tmp_path / "model.json").exists() and m["model"] == {"kind": "xgboost", "file": "model.json"}
    rows = reference_rows(pipe, SCHEMA, policy.binary(["no", "yes"]), EVENTS[:50] + EDGE)
    F, rej = evaluate.features(m, [r["event"] for r in rows])
    ok = [i for i, r in enumerate(rows) if "scores" in r]
    assert rej == [r.get("reject") for r in rows]
    np.testing.assert_array_equal(evaluate.predict(m, F[ok], tmp_path), [rows[i]["scores"] for i in ok])


def test_write_reference_records_rows_and_sha256(tmp_path):
    # bundle.json records reference.jsonl's row count and the SHA-256 of its bytes, written after the
    # rows, so that the service refuses a copy of the file cut short at a line boundary (docs/bundle.md).
    pipe = Pipeline([("prep", ColumnTransformer([("n", SimpleImputer(), ["a", "b"])])),
                     ("m", LogisticRegression())]).fit(SCHEMA.frame(EVENTS), Y)
    out = policy.binary(["no", "yes"])
    m = export_bundle(pipe, tmp_path, name="t", schema=SCHEMA, output=out)
    assert "reference" not in m and "reference" not in json.loads((tmp_path / "bundle.json").read_text())
    rows = reference_rows(pipe, SCHEMA, out, EVENTS[:40] + EDGE)
    recorded = write_reference(tmp_path, m, rows)
    data = (tmp_path / "reference.jsonl").read_bytes()
    assert data.count(b"\n") == len(rows) and all(data.split(b"\n")[:-1])  # one non-blank line per row
    assert recorded["reference"] == {"rows": len(rows), "sha256": hashlib.sha256(data).hexdigest()}
    assert json.loads((tmp_path / "bundle.json").read_text()) == json.loads(json.dumps(recorded))
    assert list(recorded)[-1] == "reference" and {k: v for k, v in recorded.items() if k != "reference"} == m
    assert "reference" not in m  # the manifest passed in is left as it was
    with pytest.raises(ValueError, match="no reference rows"):
        write_reference(tmp_path, m, [])


def test_derive_and_schema_semantics():
    import pandas as pd

    df = pd.DataFrame({"a": [1.0, np.nan, 0.0, 5.0], "b": [2.0, 1.0, 0.0, 0.0]})
    r = derive.ratio("a", "b", on_zero=-1.0).fit(df).transform(df)["a_over_b"].to_numpy()
    np.testing.assert_array_equal(r, [0.5, np.nan, -1.0, -1.0])
    r = derive.ratio("a", "b").fit(df).transform(df)["a_over_b"].to_numpy()
    assert np.isnan(r[2]) and np.isnan(r[3])
    s = Schema([timestamp("t"), boolean("f"), number("n", required=True)])
    row = s.decode({"t": "2026-03-01T01:30:00.9999+05:00", "f": True, "n": 3})
    assert row == [1772310600999.0, 1.0, 3.0]
    assert s.decode({"t": 1767225600000, "n": 1})[:2] == [1767225600000.0, pytest.approx(np.nan, nan_ok=True)]
    with pytest.raises(RejectedEvent) as e:
        s.decode({"t": None})
    assert e.value.reason == "missing_field"
    ts = s.frame([{"t": "2026-03-29T00:59:59Z", "n": 0}, {"t": "2026-03-29T01:00:00Z", "n": 0}, {"n": 0}])
    h = derive.datepart("t", "hour", tz="Europe/Berlin").fit(ts).transform(ts)["t_hour"].to_numpy()
    np.testing.assert_array_equal(h, [1.0, 3.0, np.nan])  # DST starts 02:00 local on 2026-03-29
    wd = derive.datepart("t", "weekday").fit(ts).transform(ts)["t_weekday"].to_numpy()
    assert wd[0] == 6.0  # Sunday
