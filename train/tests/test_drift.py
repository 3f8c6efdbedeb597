"""The bundle's drift statistics (streamscore_export.drift): what they hold and that they bin as documented."""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression, LinearRegression

from streamscore_export import build_manifest, drift, policy

from test_exporter import EVENTS, SCHEMA, Y, rich_pipeline

warnings.filterwarnings("ignore")


def fitted():
    X = SCHEMA.frame(EVENTS)
    return rich_pipeline(LogisticRegression(max_iter=2000)).fit(X, Y), X


def test_written_only_with_the_training_frame():
    pipe, X = fitted()
    out = policy.binary(["no", "yes"])
    assert "drift" not in build_manifest(pipe, name="t", schema=SCHEMA, output=out)
    m = build_manifest(pipe, name="t", schema=SCHEMA, output=out, train_frame=X)
    d = m["drift"]
    assert d["rows"] == len(X)
    # every declared input but the timestamp, in input order
    assert [h["input"] for h in d["inputs"]] == ["a", "b", "color", "size", "flag"]
    assert [i["name"] for i in m["inputs"]] == ["a", "b", "color", "size", "flag", "ts"]


def test_histograms_count_the_training_rows():
    pipe, X = fitted()
    d = build_manifest(pipe, name="t", schema=SCHEMA, output=policy.binary(["no", "yes"]), train_frame=X)["drift"]
    n = len(X)
    for h in d["inputs"]:
        total = sum(h["expected"]) + h["missing"]
        assert math.isclose(total, 1.0, abs_tol=1e-12), h["input"]
        col = X[h["input"]]
        vals = [None if (not isinstance(v, str) and (v is None or np.isnan(v))) else v for v in col]
        counts = drift.input_counts(h, vals)
        np.testing.assert_allclose(counts / n, h["expected"] + [h["missing"]], rtol=0, atol=1e-15)
        if "edges" in h:
            e = h["edges"]
            assert len(e) <= 9 and all(a < b for a, b in zip(e, e[1:]))
    a = next(h for h in d["inputs"] if h["input"] == "a")
    assert math.isclose(a["missing"], float(X["a"].isna().mean()))  # ~10 % absent in make_events
    color = next(h for h in d["inputs"] if h["input"] == "color")
    assert color["categories"] == ["red", "green", "blue", "teal"]  # by frequency
    assert color["expected"][-1] == 0.0  # every category has its own bin: "other" is empty
    flag = next(h for h in d["inputs"] if h["input"] == "flag")
    assert flag["edges"] == [0.0, 1.0] and flag["expected"][0] == 0.0  # a bool: false, then true
    # the score: deciles of predict_proba[:, 1] on the training rows
    s = pipe.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(d["score"]["edges"], np.unique(np.quantile(s, drift.QUANTILES)))
    assert math.isclose(sum(d["score"]["expected"]), 1.0)


def test_top_k_and_other():
    values = [f"c{i % 30}" for i in range(300)] + ["c0"] * 10 + [None] * 10
    h = drift.categorical(values, len(values))
    assert len(h["categories"]) == drift.TOP_K and h["categories"][0] == "c0"
    assert h["expected"][-1] == 100 / 320  # c20..c29, 10 each, share the other bin
    assert h["missing"] == 10 / 320


def test_regression_score_and_psi():
    X = SCHEMA.frame(EVENTS)
    pipe = rich_pipeline(LinearRegression()).fit(X, Y.astype(float))
    d = build_manifest(pipe, name="t", schema=SCHEMA, output=policy.regression(), train_frame=X)["drift"]
    assert len(d["score"]["expected"]) == len(d["score"]["edges"]) + 1
    assert drift.psi([0.5, 0.5], [50, 50]) == 0.0
    assert math.isnan(drift.psi([0.5, 0.5], [0, 0]))
    assert math.isclose(drift.psi([1.0, 0.0], [1, 1]),
                        (0.5 - 1) * math.log(0.5) + (0.5 - drift.EPSILON) * math.log(0.5 / drift.EPSILON))
