#!/usr/bin/env python3
"""RandomForest speed: scikit-learn's own predict_proba (n_jobs=1) against the Go kernel, same rows.

    .venv/bin/python train/bench_sklearn_trees.py [--out .cache/bench/fraud-rf100] [--repeats 15] [--go]

Trains the fraud example's pipeline (train/make_examples.py, fraud_rf) with a
RandomForestClassifier of 100 trees and unlimited depth (n_jobs=1, random_state=0: the issue's
benchmark model; too big to keep in examples/), exports it as a bundle into --out with the fraud
reference events as reference.jsonl, and times, on the feature matrix of every scored reference row
(the pipeline's own transform, float64):

  sklearn_batch        forest.predict_proba(X) on the whole matrix in one call
  sklearn_blocks_256   the same in calls of 256 rows (the size of a stream micro-batch)
  fraud_rf_sklearn_batch  examples/fraud-rf's forest (50 trees, depth 10) on the whole matrix

as wall and process CPU ns per row (min and median over repeats; CPU time is steadier on a shared
machine). Before timing it checks that predict_proba equals the reference scores.

With --go it then runs the Go benchmarks on the same bundle (scoring/sklearn_bench_test.go:
BenchmarkRF100Batched, the model alone on the same matrix in blocks of 64, and BenchmarkRF100ScoreBatch,
features + model + policy from the decoded events, and the FraudRF* benchmarks of examples/fraud-rf,
which use its first 256 scored reference rows), with STREAMSCORE_TEST_RF_BUNDLE=--out, and prints the
ratios of Go's CPU ns/row to sklearn's. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402

import fraud_data  # noqa: E402
from bench_xgboost import summary  # noqa: E402
from benchtime import per_row  # noqa: E402
import make_examples  # noqa: E402
from streamscore_export import export_bundle, reference_rows, write_jsonl  # noqa: E402


def build(out: Path):
    ex = make_examples.fraud_rf()
    _, y = fraud_data.generate(20000, seed=1)
    model = clone(ex.model).set_params(model=RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1))
    t0 = time.process_time()
    model.fit(ex.train_frame, y)
    fit_s = time.process_time() - t0
    out.mkdir(parents=True, exist_ok=True)
    export_bundle(model, out, name="fraud-rf100", schema=ex.schema, output=ex.output,
                  description="fraud pipeline, RandomForestClassifier(n_estimators=100), unlimited depth (benchmark)")
    rows = reference_rows(model, ex.schema, ex.output, ex.events, ex.notes)
    write_jsonl(rows, out / "reference.jsonl")
    X = np.ascontiguousarray(np.array([[np.nan if v is None else v for v in r["features"]] for r in rows
                                       if "features" in r], dtype=np.float64))
    S = np.array([r["scores"] for r in rows if "scores" in r])
    return model[-1], ex.model[-1], X, S, fit_s


def go_bench(out: Path, rows: int, count: int) -> dict:
    env = dict(os.environ, STREAMSCORE_TEST_RF_BUNDLE=str(out.resolve()))
    cmd = ["go", "test", "./scoring/", "-run", "^$", "-bench", "^Benchmark(RF100|FraudRF)", "-benchmem",
           "-benchtime", f"{2 * rows}x", "-count", str(count)]
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=True)
    got: dict[str, list[float]] = {}
    allocs: dict[str, int] = {}
    for line in res.stdout.splitlines():
        m = re.match(r"Benchmark(\S+?)-\d+\s+\d+\s+.*?([\d.]+) cpu-ns/row.*?(\d+) allocs/op", line)
        if m:
            got.setdefault(m.group(1), []).append(float(m.group(2)))
            allocs[m.group(1)] = max(allocs.get(m.group(1), 0), int(m.group(3)))
    return {name: {"cpu_min": round(min(v), 1), "cpu_median": round(statistics.median(v), 1), "runs": len(v),
                   "allocs_per_op": allocs[name]} for name, v in got.items()} | {"command": " ".join(cmd)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / ".cache" / "bench" / "fraud-rf100"))
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--go", action="store_true", help="also run the Go benchmarks on the bundle")
    args = ap.parse_args(argv)
    out = Path(args.out)
    forest, small, X, S, fit_s = build(out)
    forest.set_params(n_jobs=1)
    if not np.array_equal(forest.predict_proba(X), S):
        sys.exit("predict_proba on the feature matrix differs from reference.jsonl")
    per_row(lambda: forest.predict_proba(X), len(X), 2)  # warm up
    batch = summary(per_row(lambda: forest.predict_proba(X), len(X), args.repeats))
    blocks = [X[i:i + 256] for i in range(0, len(X), 256)]
    blocks256 = summary(per_row(lambda: [forest.predict_proba(b) for b in blocks], len(X), args.repeats))
    small.set_params(n_jobs=1)
    small_batch = summary(per_row(lambda: small.predict_proba(X), len(X), args.repeats))
    trees = forest.estimators_
    result = {
        "bundle": os.path.relpath(out, REPO) if out.resolve().is_relative_to(REPO) else str(out),
        "sklearn": sklearn.__version__, "n_jobs": 1,
        "trees": len(trees), "nodes": int(sum(t.tree_.node_count for t in trees)),
        "max_depth": int(max(t.tree_.max_depth for t in trees)),
        "mean_leaf_depth": round(float(np.mean([_mean_leaf_depth(t.tree_) for t in trees])), 1),
        "model_file_bytes": (out / "model.json").stat().st_size, "fit_cpu_s": round(fit_s, 1),
        "rows": int(X.shape[0]), "features": int(X.shape[1]), "predictions_match_reference": True,
        "sklearn_batch_ns_per_row": batch, "sklearn_blocks_256_ns_per_row": blocks256,
        "fraud_rf_sklearn_batch_ns_per_row": small_batch,  # examples/fraud-rf: 50 trees, depth 10
    }
    if args.go:
        g = go_bench(out, rows=len(X), count=6)
        result["go"] = g
        for name in ("RF100Batched", "RF100ScoreBatch"):
            if name in g:
                result[f"ratio_{name}_to_sklearn_batch_cpu"] = round(g[name]["cpu_median"] / batch["cpu_median"], 3)
                result[f"ratio_{name}_to_sklearn_blocks_256_cpu"] = round(
                    g[name]["cpu_median"] / blocks256["cpu_median"], 3)
        if "FraudRFBatched" in g:
            result["ratio_FraudRFBatched_to_sklearn_batch_cpu"] = round(
                g["FraudRFBatched"]["cpu_median"] / small_batch["cpu_median"], 3)
    result |= {"load_average_1m": round(os.getloadavg()[0], 2), "python": platform.python_version(),
               "machine": platform.machine(), "cpus": os.cpu_count()}
    print(json.dumps(result))
    return 0


def _mean_leaf_depth(tr) -> float:
    depth = np.zeros(tr.node_count, dtype=np.int64)
    for i in range(tr.node_count):  # parents come before children in sklearn's arrays
        for c in (tr.children_left[i], tr.children_right[i]):
            if c != -1:
                depth[c] = depth[i] + 1
    leaves = tr.children_left == -1
    return float(np.average(depth[leaves], weights=tr.n_node_samples[leaves]))


if __name__ == "__main__":
    sys.exit(main())
