"""LightGBM / HistGradientBoosting exporters and the date derive."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline

from streamscore_export import Schema, UnsupportedStepError, build_manifest, category, derive, evaluate, number, policy
from streamscore_export import export_bundle, lightgbm_model


def frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    schema = Schema([number("a"), number("b"), category("c")])
    rows = [{"a": float(rng.normal()), "b": float(rng.normal()), "c": str(rng.choice(["x", "y", "z"]))}
            for _ in range(n)]
    X = schema.frame(rows)
    y = (X["a"] + (X["c"] == "x") > 0.3).astype(int).to_numpy()
    return schema, X, y


def test_lightgbm_refuses_custom_objective_and_linear_trees():
    schema, X, y = frame()
    Xn = X[["a", "b"]]
    s2 = Schema([number("a"), number("b")])

    def custom(y_true, y_pred):
        return y_pred - y_true, np.ones_like(y_pred)

    m = lgb.LGBMRegressor(objective=custom, n_estimators=3, verbose=-1).fit(Xn, y)
    with pytest.raises(UnsupportedStepError, match="custom objective"):
        build_manifest(m, name="x", schema=s2, output=policy.regression())
    m = lgb.LGBMRegressor(linear_tree=True, n_estimators=3, verbose=-1).fit(Xn, y)
    with pytest.raises(UnsupportedStepError, match="linear trees"):
        build_manifest(m, name="x", schema=s2, output=policy.regression())
    m = lgb.train({"objective": "lambdarank", "verbose": -1}, lgb.Dataset(Xn, y, group=[len(y)]), num_boost_round=3)
    with pytest.raises(UnsupportedStepError, match="lambdarank"):
        build_manifest(m, name="x", schema=s2, output=policy.regression())


def test_lightgbm_pandas_categoricals_become_ordinal(tmp_path):
    schema, X, y = frame()
    pipe = Pipeline([("cats", lightgbm_model.categorical(["c"])),
                     ("model", lgb.LGBMClassifier(n_estimators=5, min_child_samples=5, verbose=-1))]).fit(X, y)
    m = export_bundle(pipe, tmp_path, name="x", schema=schema, output=policy.binary(["n", "p"]))
    step = [f for f in m["features"] if f["name"] == "c"][0]["steps"][-1]
    assert step == {"op": "ordinal", "categories": ["x", "y", "z"], "unknown": "value", "unknown_value": None}
    assert m["model"] == {"kind": "lightgbm", "file": "model.txt"}
    Xb, rej = evaluate.features(m, [{"a": 1.0, "b": 0.0, "c": "x"}, {"a": 1.0, "b": 0.0, "c": "unseen"}])
    assert rej == [None, None] and Xb[0, 2] == 0.0 and np.isnan(Xb[1, 2])
    want = pipe.predict_proba(schema.frame([{"a": 1.0, "b": 0.0, "c": "x"}, {"a": 1.0, "b": 0.0, "c": "unseen"}]))
    assert np.array_equal(evaluate.predict(m, Xb, tmp_path), want)


def test_lightgbm_categorical_step_must_be_last():
    schema, X, y = frame()
    pipe = Pipeline([("cats", lightgbm_model.categorical(["c"])),
                     ("ratio", derive.ratio("a", "b", name="r")),
                     ("model", lgb.LGBMClassifier(n_estimators=3, verbose=-1))])
    with pytest.raises(Exception):
        pipe.fit(X, y)
        build_manifest(pipe, name="x", schema=schema, output=policy.binary(["n", "p"]))


def test_histgb_refuses_string_categories():
    schema, X, y = frame()
    m = HistGradientBoostingClassifier(max_iter=3, categorical_features=["c"]).fit(X, y)
    with pytest.raises(UnsupportedStepError, match="as a category; encode it"):
        build_manifest(m, name="x", schema=schema, output=policy.binary(["n", "p"]))


@pytest.mark.parametrize("month,day,want", [
    (1, 1, "2012-01-01"), (2, 29, "2012-02-29"), (12, 31, "2012-12-31"),
    (2, 30, None), (13, 1, None), (1.5, 1, None), (np.nan, 1, None), (0, 1, None),
])
def test_date_millis(month, day, want):
    got = derive.date_millis(2012, np.array([month]), np.array([day]))[0]
    if want is None:
        assert np.isnan(got)
    else:
        assert got == np.datetime64(want, "ms").astype(np.int64)
