"""Write the LightGBM and HistGradientBoosting test bundles in testdata/bundles (gen-lgb-*, gen-hgb-*).

    .venv/bin/python scoring/testdata/make_lightgbm_fixtures.py

Small models trained here for the objectives and options the examples do not cover, exported with
streamscore_export (the same exporter users run) with the library's own predictions as reference rows:
every LightGBM objective the loader reads, zero_as_missing, a sigmoid other than 1, early stopping
(best_iteration), boosting rf, a bare lightgbm.Booster with categorical_feature on integer inputs,
an OrdinalEncoder + categorical_feature pipeline, HistGradientBoosting regression (Poisson) and
multiclass with native categorical features. Inputs get missing values, zeros, tiny values
(|x| <= 1e-35), out-of-range and negative codes. Seeded, single-threaded: reruns write the same bytes.
"""

from __future__ import annotations

import math
import pathlib
import shutil
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "train"))

import lightgbm as lgb  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OrdinalEncoder  # noqa: E402

from streamscore_export import Schema, category, export_bundle, number, policy, reference_rows, write_jsonl  # noqa: E402

OUT = pathlib.Path(__file__).parent / "bundles"
NUMS = ["x0", "x1", "x2", "x3"]
COLORS = ["red", "green", "blue", "amber", "violet"]


def data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        r = {k: round(float(rng.normal()), 3) for k in NUMS}
        r["code"] = int(rng.integers(0, 8))
        r["color"] = COLORS[int(rng.integers(0, len(COLORS)))]
        for k in NUMS + ["code"]:
            u = rng.random()
            if u < 0.05:
                r.pop(k)
            elif u < 0.08:
                r[k] = 0.0
        rows.append(r)
    return rows


def target(rows, kind: str, rng):
    def v(r, k):
        x = r.get(k)
        return 0.0 if x is None else float(x)

    z = np.array([1.2 * v(r, "x0") - v(r, "x1") + 0.5 * (r.get("code", 3) % 3) + (r.get("color") == "red")
                  for r in rows])
    if kind == "binary":
        return (rng.random(len(z)) < 1 / (1 + np.exp(-2 * z))).astype(int)
    if kind == "multi":
        return np.digitize(z + rng.normal(0, 0.3, len(z)), [-0.3, 0.6, 1.4])
    if kind == "count":
        return rng.poisson(np.exp(0.4 * z))
    if kind == "positive":
        return np.exp(0.4 * z) * rng.gamma(4.0, 0.25, len(z))
    if kind == "unit":
        return 1 / (1 + np.exp(-z))
    return z + rng.normal(0, 0.2, len(z))


def events(rows, model_thresholds=()):
    base = dict(rows[0])
    evs = list(rows[:250])
    for k in NUMS:
        for val in (None, 0.0, -0.0, 1e-40, -1e-36, 1e-35, 1e300, -1e300, 5e-324):
            e = dict(base)
            e[k] = val
            evs.append(e)
    for val in (None, -1, -0.5, 0.5, 7.99, 8, 100, 2**31, 1e12):
        evs.append(dict(base, code=val))
    for val in (None, "", "purple", "RED"):
        evs.append(dict(base, color=val))
    for k, t in model_thresholds:
        for val in (t, math.nextafter(t, math.inf), math.nextafter(t, -math.inf)):
            evs.append(dict(base, **{k: val}))
    evs.append({})
    return evs


def lgb_thresholds(booster, names):
    out = []
    d = booster.dump_model()
    for t in d["tree_info"][:8]:
        stack = [t["tree_structure"]]
        while stack:
            nd = stack.pop()
            if "split_feature" in nd:
                if nd["decision_type"] == "<=" and names[nd["split_feature"]] in NUMS:
                    out.append((names[nd["split_feature"]], float(nd["threshold"])))
                stack += [nd["left_child"], nd["right_child"]]
    return out[:24]


def write(name, model, schema, output, evs):
    d = OUT / name
    shutil.rmtree(d, ignore_errors=True)
    export_bundle(model, d, name=name, schema=schema, output=output)
    write_jsonl(reference_rows(model, schema, output, evs), d / "reference.jsonl")
    print(name)


def lgb_fixture(name, params, kind, output, rounds=30, booster=False, ordinal=False, early=False):
    rng = np.random.default_rng(len(name) * 7919)
    rows = data(1500, seed=len(name))
    y = target(rows, kind, rng)
    fit_kw = {}
    if ordinal:
        schema = Schema([number(k) for k in NUMS] + [number("code"), category("color")])
    else:
        schema = Schema([number(k) for k in NUMS] + [number("code")])
    X = schema.frame(rows)
    if early:  # early stopping on held-out rows: the model keeps best_iteration
        val = data(500, seed=len(name) + 1)
        fit_kw = {"model__eval_set": [(schema.frame(val), target(val, kind, rng))],
                  "model__callbacks": [lgb.early_stopping(5, verbose=False)]}
    base = dict(params, n_estimators=rounds, num_leaves=15, learning_rate=0.1, min_child_samples=10,
                random_state=0, n_jobs=1, verbose=-1)
    if booster:
        p = {k: v for k, v in base.items() if k not in ("n_estimators", "random_state", "n_jobs")}
        p.update(seed=0, num_threads=1, deterministic=True)
        model = lgb.train(p, lgb.Dataset(X, y, categorical_feature=["code"]), num_boost_round=rounds)
        names = list(X.columns)
        thr = lgb_thresholds(model, names)
    else:
        est = (lgb.LGBMClassifier if output.task in ("binary", "multiclass") else lgb.LGBMRegressor)(**base)
        if ordinal:
            model = Pipeline([
                ("prep", ColumnTransformer([
                    ("num", "passthrough", NUMS + ["code"]),
                    ("color", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["color"]),
                ], remainder="drop")),
                ("model", est)])
            model.fit(X, y, model__categorical_feature=[4, 5], **fit_kw)
        else:
            model = Pipeline([("model", est)])
            model.fit(X, y, model__categorical_feature=["code"], **fit_kw)
        names = NUMS + ["code", "color"]
        thr = lgb_thresholds(model[-1].booster_, names)
    write(name, model, schema, output, events(rows, thr))


def hgb_fixture(name, est, kind, output):
    rng = np.random.default_rng(len(name))
    rows = data(1500, seed=len(name) + 100)
    y = target(rows, kind, rng)
    schema = Schema([number(k) for k in NUMS] + [number("code"), category("color")])
    X = schema.frame(rows)
    model = Pipeline([
        ("prep", ColumnTransformer([
            ("num", "passthrough", NUMS),
            ("color", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan), ["color"]),
            ("code", "passthrough", ["code"]),
        ], remainder="drop")),
        ("model", est)]).fit(X, y)
    thr = []
    for it in model[-1]._predictors[:5]:
        for p in it:
            for nd in p.nodes:
                if not nd["is_leaf"] and not nd["is_categorical"] and nd["feature_idx"] < 4 \
                        and math.isfinite(nd["num_threshold"]):
                    thr.append((NUMS[nd["feature_idx"]], float(nd["num_threshold"])))
    write(name, model, schema, output, events(rows, thr[:24]))


def main():
    reg = policy.regression()
    lgb_fixture("gen-lgb-multiclass", {"objective": "multiclass"}, "multi",
                policy.multiclass(["a", "b", "c", "d"]), ordinal=True)
    lgb_fixture("gen-lgb-ova", {"objective": "multiclassova", "sigmoid": 0.5}, "multi",
                policy.multiclass(["a", "b", "c", "d"]))
    lgb_fixture("gen-lgb-binary-zero", {"objective": "binary", "zero_as_missing": True, "sigmoid": 0.7}, "binary",
                policy.binary(["no", "yes"]))
    lgb_fixture("gen-lgb-early", {"objective": "binary"}, "binary", policy.binary(["no", "yes"]), rounds=300,
                early=True)
    lgb_fixture("gen-lgb-rf", {"objective": "binary", "boosting_type": "rf", "subsample": 0.7, "subsample_freq": 1},
                "binary", policy.binary(["no", "yes"]))
    lgb_fixture("gen-lgb-l1-sqrt", {"objective": "regression_l1", "reg_sqrt": True}, "reg", reg)
    lgb_fixture("gen-lgb-huber", {"objective": "huber"}, "reg", reg)
    lgb_fixture("gen-lgb-quantile", {"objective": "quantile", "alpha": 0.8}, "reg", reg)
    lgb_fixture("gen-lgb-gamma", {"objective": "gamma"}, "positive", reg)
    lgb_fixture("gen-lgb-tweedie", {"objective": "tweedie"}, "count", reg)
    lgb_fixture("gen-lgb-xentropy", {"objective": "cross_entropy"}, "unit", reg)
    lgb_fixture("gen-lgb-xentlambda", {"objective": "cross_entropy_lambda"}, "unit", reg)
    lgb_fixture("gen-lgb-booster", {"objective": "regression"}, "reg", reg, booster=True)
    hgb_fixture("gen-hgb-poisson", HistGradientBoostingRegressor(loss="poisson", max_iter=40, max_leaf_nodes=15,
                                                                 categorical_features=[4], random_state=0), "count",
                reg)
    hgb_fixture("gen-hgb-multiclass", HistGradientBoostingClassifier(max_iter=20, max_leaf_nodes=8,
                                                                     categorical_features=[4], random_state=0),
                "multi", policy.multiclass(["a", "b", "c", "d"]))
    hgb_fixture("gen-hgb-regressor", HistGradientBoostingRegressor(max_iter=30, max_leaf_nodes=15,
                                                                   random_state=0), "reg", reg)


if __name__ == "__main__":
    main()
