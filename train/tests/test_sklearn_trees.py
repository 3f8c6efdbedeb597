"""The scikit-learn tree exporter: what it writes reproduces sklearn, what it cannot express it refuses."""

import json

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier

from streamscore_export import (
    ExportError,
    Schema,
    UnsupportedStepError,
    build_manifest,
    category,
    evaluate,
    export_bundle,
    number,
    policy,
    reference_rows,
)

SCHEMA = Schema([number("a"), number("b"), number("c")])


def _data(n=400, seed=0, missing=0.15):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    X[rng.random((n, 3)) < missing] = np.nan
    z = np.nan_to_num(X[:, 0]) + 1.5 * np.isnan(X[:, 1]) + rng.normal(size=n) * 0.3
    evs = [{k: (None if np.isnan(v) else float(v)) for k, v in zip("abc", row)} for row in X]
    return evs, z


@pytest.mark.parametrize("est,out,target", [
    (DecisionTreeClassifier(max_depth=4, random_state=0), policy.binary(["n", "y"]), "binary"),
    (RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0), policy.multiclass(["l", "m", "h"]), "3"),
    (ExtraTreesClassifier(n_estimators=4, max_depth=4, random_state=0), policy.binary(["n", "y"]), "binary"),
    (DecisionTreeRegressor(max_depth=4, random_state=0), policy.regression(), "value"),
    (RandomForestRegressor(n_estimators=3, max_depth=4, random_state=0), policy.regression(), "value"),
])
def test_forest_file_reproduces_sklearn(tmp_path, est, out, target):
    evs, z = _data()
    y = {"binary": (z > 0.3).astype(int), "3": np.digitize(z, [-0.5, 0.5]), "value": z}[target]
    pipe = Pipeline([("model", est)]).fit(SCHEMA.frame(evs), y)
    man = export_bundle(pipe, tmp_path, name="t", schema=SCHEMA, output=out)
    assert man["model"] == {"kind": "sklearn_forest", "file": "model.json"}
    rows = reference_rows(pipe, SCHEMA, out, evs)
    X, rejects = evaluate.features(man, [r["event"] for r in rows])
    assert rejects == [None] * len(rows)  # the forests take missing values
    got = evaluate.predict(man, X, tmp_path)
    np.testing.assert_array_equal(got, np.array([r["scores"] for r in rows]))


def test_gradient_boosting_file_reproduces_sklearn(tmp_path):
    evs, z = _data(missing=0.0)
    for est, out, y in [
        (GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0), policy.binary(["n", "y"]),
         (z > 0.3).astype(int)),
        (GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0), policy.multiclass(["l", "m", "h"]),
         np.digitize(z, [-0.5, 0.5])),
        (GradientBoostingRegressor(loss="absolute_error", n_estimators=5, max_depth=2, random_state=0),
         policy.regression(), z),
    ]:
        pipe = Pipeline([("model", est)]).fit(SCHEMA.frame(evs), y)
        man = export_bundle(pipe, tmp_path, name="t", schema=SCHEMA, output=out)
        assert man["model"]["kind"] == "sklearn_gradient_boosting"
        rows = reference_rows(pipe, SCHEMA, out, evs + [{"a": None, "b": 1.0, "c": 2.0}])
        assert rows[-1]["reject"] == "missing_field"  # GradientBoosting refuses NaN
        X, rejects = evaluate.features(man, [r["event"] for r in rows])
        assert rejects == [r.get("reject") for r in rows]
        got = evaluate.predict(man, X[:-1], tmp_path)
        np.testing.assert_array_equal(got, np.array([r["scores"] for r in rows[:-1]]))
        doc = json.loads((tmp_path / "model.json").read_text())
        assert len(doc["trees"]) == 5 * (3 if len(getattr(est, "classes_", [])) == 3 else 1)


def test_float32_overflow_is_not_finite(tmp_path):
    evs, z = _data()
    pipe = Pipeline([("model", DecisionTreeRegressor(max_depth=2))]).fit(SCHEMA.frame(evs), z)
    rows = reference_rows(pipe, SCHEMA, policy.regression(), [{"a": 3.5e38}, {"a": 3.4028235e38}, {"b": -1e39}])
    assert [r.get("reject") for r in rows] == ["not_finite", None, "not_finite"]
    man = build_manifest(pipe, name="t", schema=SCHEMA, output=policy.regression())
    _, rejects = evaluate.features(man, [r["event"] for r in rows])
    assert rejects == ["not_finite", None, "not_finite"]


def test_refusals():
    evs, z = _data()
    X, yb = SCHEMA.frame(evs), (z > 0.3).astype(int)
    b = policy.binary(["n", "y"])

    multi = Pipeline([("model", RandomForestRegressor(n_estimators=2))]).fit(X, np.column_stack([z, z]))
    with pytest.raises(UnsupportedStepError, match="multi-output"):
        build_manifest(multi, name="t", schema=SCHEMA, output=policy.regression())

    best = Pipeline([("model", ExtraTreeClassifier(splitter="best"))]).fit(X.fillna(0), yb)
    with pytest.raises(UnsupportedStepError, match="refuses missing values"):
        build_manifest(best, name="t", schema=SCHEMA, output=b)

    Xf = X.fillna(0)
    for init, ok in [(None, True), ("zero", True), (DummyClassifier(strategy="most_frequent"), True),
                     (DummyClassifier(strategy="stratified"), False), (LinearRegression(), False)]:
        est = GradientBoostingClassifier(n_estimators=3, max_depth=2, init=init, random_state=0)
        if isinstance(init, LinearRegression):
            est = GradientBoostingRegressor(n_estimators=3, max_depth=2, init=init, random_state=0)
            pipe = Pipeline([("model", est)]).fit(Xf, z)
            out = policy.regression()
        else:
            pipe = Pipeline([("model", est)]).fit(Xf, yb)
            out = b
        if ok:
            assert build_manifest(pipe, name="t", schema=SCHEMA, output=out)["model"]["kind"] == "sklearn_gradient_boosting"
        else:
            with pytest.raises(UnsupportedStepError, match="init="):
                build_manifest(pipe, name="t", schema=SCHEMA, output=out)

    clf = Pipeline([("model", RandomForestClassifier(n_estimators=2))]).fit(X, yb)
    with pytest.raises(ExportError, match="needs output task 'binary' with 2 classes"):
        build_manifest(clf, name="t", schema=SCHEMA, output=policy.multiclass(["a", "b", "c"]))
    with pytest.raises(ExportError, match="needs output task 'binary'"):
        build_manifest(clf, name="t", schema=SCHEMA, output=policy.regression())

    cs = Schema([category("c")])
    cevs = [{"c": "abc"[i % 3]} for i in range(30)]
    sparse = Pipeline([("prep", ColumnTransformer([("c", OneHotEncoder(), ["c"])], sparse_threshold=1.0)),
                       ("model", RandomForestClassifier(n_estimators=2))]).fit(cs.frame(cevs), np.arange(30) % 2)
    with pytest.raises(UnsupportedStepError, match="sparse"):
        build_manifest(sparse, name="t", schema=cs, output=b)

    deep = Pipeline([("model", DecisionTreeRegressor())]).fit(  # each split peels off the largest target: depth 299
        Schema([number("a")]).frame([{"a": float(i)} for i in range(300)]), 4.0 ** np.arange(300))
    with pytest.raises(UnsupportedStepError, match="depth"):
        build_manifest(deep, name="t", schema=Schema([number("a")]), output=policy.regression())
