"""Regenerate golden.json: feature specs with the values scikit-learn / pandas
compute for them. TestGolden checks the Go pipeline against this file.

    python features/testdata/make_golden.py   # needs numpy, pandas, scikit-learn

Each case fits the sklearn transformer on `fit`, writes the fitted
parameters as a bundle step, and records sklearn's transform of `events`.
"""
import json
import math
import pathlib

import numpy as np
import pandas as pd
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.preprocessing import (KBinsDiscretizer, MinMaxScaler, OneHotEncoder, OrdinalEncoder,
                                   RobustScaler, StandardScaler)

rng = np.random.default_rng(7)
FIT = np.concatenate([rng.normal(50, 20, 200), [0.0, 100.0, 12.5, 12.5, 80.0]])
TEST = [-5.0, 0.0, 12.5, 49.99, 50.0, 100.0, 130.0, 1e-12, float(FIT[3]), float(FIT[10])]


def col(xs):
    return np.asarray(xs, dtype=np.float64).reshape(-1, 1)


def num_events(xs):
    return [{"x": (None if (x is None or (isinstance(x, float) and math.isnan(x))) else x)} for x in xs]


def vec(a):
    return [[None if math.isnan(v) else float(v) for v in row] for row in np.asarray(a, dtype=np.float64)]


cases = []


def case(name, inputs, feats, events, want):
    cases.append({"name": name, "inputs": inputs, "features": feats, "events": events, "want": want})


X = [{"name": "x", "type": "number"}]

sc = StandardScaler().fit(col(FIT))
case("standard", X, [{"name": "f", "input": "x", "steps": [
    {"op": "standard", "mean": float(sc.mean_[0]), "scale": float(sc.scale_[0])}]}],
    num_events(TEST), vec(sc.transform(col(TEST))))

rs = RobustScaler().fit(col(FIT))
case("robust", X, [{"name": "f", "input": "x", "steps": [
    {"op": "robust", "center": float(rs.center_[0]), "scale": float(rs.scale_[0])}]}],
    num_events(TEST), vec(rs.transform(col(TEST))))

for clip in (False, True):
    mm = MinMaxScaler(feature_range=(-1, 2), clip=clip).fit(col(FIT))
    step = {"op": "minmax", "scale": float(mm.scale_[0]), "offset": float(mm.min_[0]),
            "data_min": float(mm.data_min_[0]), "data_max": float(mm.data_max_[0]), "feature_range": [-1.0, 2.0]}
    if clip:
        step["out_of_range"] = "clip"
    case(f"minmax_clip_{clip}".lower(), X, [{"name": "f", "input": "x", "steps": [step]}],
         num_events(TEST + [float(FIT.max()), float(FIT.min())]),
         vec(mm.transform(col(TEST + [float(FIT.max()), float(FIT.min())]))))

case("log1p", X, [{"name": "f", "input": "x", "steps": [{"op": "log1p"}]}],
     num_events([0.0, 1e-10, 1.0, 99.5, 1e6]), vec(np.log1p(col([0.0, 1e-10, 1.0, 99.5, 1e6]))))

for strategy in ("uniform", "quantile"):
    kb = KBinsDiscretizer(n_bins=5, encode="ordinal", strategy=strategy, quantile_method="averaged_inverted_cdf").fit(col(FIT))
    edges = [float(e) for e in kb.bin_edges_[0][1:-1]]
    probe = TEST + edges + [np.nextafter(e, -np.inf) for e in edges] + [-1e9, 1e9]
    case(f"bucketize_{strategy}", X, [{"name": "f", "input": "x", "steps": [{"op": "bucketize", "edges": edges}]}],
         num_events(probe), vec(kb.transform(col(probe))))
    kb1 = KBinsDiscretizer(n_bins=5, encode="onehot-dense", strategy=strategy, quantile_method="averaged_inverted_cdf").fit(col(FIT))
    case(f"bucketize_onehot_{strategy}", X,
         [{"name": "f", "input": "x", "steps": [{"op": "bucketize", "edges": edges, "encode": "onehot"}]}],
         num_events(probe), vec(kb1.transform(col(probe))))

imp = SimpleImputer(strategy="mean").fit(col(np.r_[FIT, np.nan]))
sc2 = StandardScaler().fit(imp.transform(col(FIT)))
case("impute_standard_indicator", X, [
    {"name": "f", "input": "x", "steps": [{"op": "impute", "value": float(imp.statistics_[0]), "strategy": "mean"},
                                          {"op": "standard", "mean": float(sc2.mean_[0]), "scale": float(sc2.scale_[0])}]},
    {"name": "f_missing", "input": "x", "steps": [{"op": "indicator"}]}],
    num_events([1.0, None, 75.25]),
    [r + m for r, m in zip(vec(sc2.transform(imp.transform(col([1.0, np.nan, 75.25])))),
                           vec(MissingIndicator(features="all").fit(col([np.nan, 1])).transform(col([1.0, np.nan, 75.25]))))])

C = [{"name": "c", "type": "category"}]
cats = ["grocery", "travel", "online", "fuel"]
fit_c = np.array(cats * 3, dtype=object).reshape(-1, 1)
oh = OneHotEncoder(categories=[cats], handle_unknown="ignore", sparse_output=False).fit(fit_c)
probe_c = ["travel", "fuel", "casino", "grocery"]
case("onehot_zeros", C, [{"name": "m", "input": "c", "steps": [{"op": "onehot", "categories": cats, "unknown": "zeros"}]}],
     [{"c": v} for v in probe_c], vec(oh.transform(np.array(probe_c, dtype=object).reshape(-1, 1))))
ohd = OneHotEncoder(categories=[cats], handle_unknown="ignore", drop=["travel"], sparse_output=False).fit(fit_c)
case("onehot_drop", C, [{"name": "m", "input": "c", "steps": [
    {"op": "onehot", "categories": cats, "unknown": "zeros", "drop": "travel"}]}],
    [{"c": v} for v in probe_c], vec(ohd.transform(np.array(probe_c, dtype=object).reshape(-1, 1))))
oe = OrdinalEncoder(categories=[cats], handle_unknown="use_encoded_value", unknown_value=-1).fit(fit_c)
case("ordinal", C, [{"name": "m", "input": "c", "steps": [
    {"op": "ordinal", "categories": cats, "unknown": "value", "unknown_value": -1}]}],
    [{"c": v} for v in probe_c], vec(oe.transform(np.array(probe_c, dtype=object).reshape(-1, 1))))
imp_c = SimpleImputer(strategy="most_frequent", missing_values=None).fit(np.array(["fuel", "fuel", None], dtype=object).reshape(-1, 1))
case("impute_category", C, [{"name": "m", "input": "c", "steps": [
    {"op": "impute", "value": "fuel", "strategy": "most_frequent"},
    {"op": "onehot", "categories": cats, "unknown": "zeros"}]}],
    [{"c": "online"}, {}, {"c": None}],
    vec(oh.transform(imp_c.transform(np.array(["online", None, None], dtype=object).reshape(-1, 1)))))

# datepart: pandas in a DST zone, around both transitions of 2024 and a leap day
T = [{"name": "ts", "type": "timestamp"}]
stamps = ["2024-03-10T06:59:59.999Z", "2024-03-10T07:00:00Z", "2024-11-03T05:30:00Z", "2024-11-03T06:30:00Z",
          "2024-02-29T23:59:00Z", "2023-12-31T23:00:00Z", "1969-12-31T23:59:59.500Z"]
ms = pd.to_datetime(stamps, utc=True, format="ISO8601").as_unit("ms").asi8
for tz in ("America/New_York", "Asia/Kolkata"):
    idx = pd.to_datetime(ms, unit="ms", utc=True).tz_convert(tz)
    feats, cols = [], []
    for part, attr in (("hour", "hour"), ("minute", "minute"), ("weekday", "day_of_week"), ("month", "month"),
                       ("dayofyear", "day_of_year")):
        feats.append({"name": part, "input": "ts", "steps": [{"op": "datepart", "part": part, "tz": tz}]})
        cols.append(np.asarray(getattr(idx, attr), dtype=np.float64))
    events = [{"ts": s} for s in stamps[:4]] + [{"ts": int(m)} for m in ms[4:]]
    case(f"datepart_{tz.split('/')[1].lower()}", T, feats, events, vec(np.stack(cols, axis=1)))

N2 = [{"name": "a", "type": "number"}, {"name": "b", "type": "number"}]
pairs = [(3.0, 4.0), (1.0, 0.0), (None, 2.0), (2.0, None), (-0.0, 0.0), (1e308, 1e-308)]
a = np.array([np.nan if p[0] is None else p[0] for p in pairs])
b = np.array([np.nan if p[1] is None else p[1] for p in pairs])
with np.errstate(all="ignore"):
    r = np.where(np.isnan(a) | np.isnan(b), np.nan, np.where(b == 0, -1.0, a / b))
    d, pr = a - b, a * b
want = [[x, y, z] for x, y, z in zip(r, d, pr)]
# a ratio of 1e308/1e-308 overflows to inf: the pipeline rejects it as not_finite
case("derive", N2, [
    {"name": "r", "derive": {"op": "ratio", "a": "a", "b": "b", "on_zero": -1}},
    {"name": "d", "derive": {"op": "difference", "a": "a", "b": "b"}},
    {"name": "p", "derive": {"op": "product", "a": "a", "b": "b"}}],
    [{"a": p[0], "b": p[1]} for p in pairs],
    [None if any(math.isinf(v) for v in row) else [None if math.isnan(v) else float(v) for v in row] for row in want])

out = pathlib.Path(__file__).with_name("golden.json")
out.write_text(json.dumps({"generated_by": "features/testdata/make_golden.py", "cases": cases}, indent=1) + "\n")
print(f"wrote {len(cases)} cases to {out}")
