#!/usr/bin/env python3
"""Baseline for the Go XGBoost scorer: XGBoost's own single-thread inplace_predict.

    python train/bench_xgboost.py [--bundle examples/fraud] [--repeats 30] [--go [--rounds 7]]

Loads <bundle>/model.json into an xgboost.Booster with nthread=1 and times
``inplace_predict`` (probabilities, all trees) on the bundle's reference rows'
feature matrix: the ``features`` of every scored row in reference.jsonl, which
make_examples.py wrote from the sklearn pipeline's own ``transform`` (float64,
NaN for missing; XGBoost casts to float32 as the Go side does). Before timing it
checks that the predictions equal the reference scores, so the matrix and the
model are the ones the parity test uses.

Figures, as ns per row over repeats (min and median of wall time, and of this
process's CPU time, which is steadier on a shared machine):
  batch                all rows (float64, as the pipeline outputs them) in one call
  batch_float32_input  the same matrix cast to float32 first (XGBoost's own type)
  single_row           one call per row (a (1, n_features) array), all rows in turn

With --go (the fraud bundle) it also runs the Go benchmark of the same model on
the same rows (BenchmarkFraudXGBoostBatched in scoring/bench_test.go: the
Predictor in blocks of 64 rows, float64 in, every kernel this CPU has), compiled
once, in --rounds rounds alternating with XGBoost's batch figure, so both see the
same machine; it reports the medians over the rounds, wall and CPU, the ratios
Go / XGBoost, and the load average before and after.

Prints one JSON object.
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
import tempfile
from pathlib import Path

import numpy as np
import xgboost as xgb

from benchtime import per_row

REPO = Path(__file__).resolve().parents[1]


def load(bundle: Path) -> tuple[xgb.Booster, np.ndarray, np.ndarray, dict]:
    manifest = json.loads((bundle / "bundle.json").read_text())
    if manifest["model"]["kind"] != "xgboost":
        sys.exit(f"{bundle}: not an XGBoost bundle")
    bst = xgb.Booster(model_file=str(bundle / manifest["model"]["file"]))
    bst.set_param({"nthread": 1})
    feats, scores = [], []
    for line in (bundle / "reference.jsonl").read_text().splitlines():
        r = json.loads(line)
        if "features" in r:
            feats.append([np.nan if v is None else v for v in r["features"]])
            scores.append(r["scores"])
    X = np.ascontiguousarray(np.array(feats, dtype=np.float64))
    return bst, X, np.array(scores), manifest


def time_batch(bst, X, repeats: int):
    return per_row(lambda: bst.inplace_predict(X), len(X), repeats)


def time_single(bst, X, repeats: int):
    rows = [X[i:i + 1] for i in range(len(X))]

    def run():
        for r in rows:
            bst.inplace_predict(r)

    return per_row(run, len(X), repeats)


def summary(t: tuple[list[float], list[float]]) -> dict:
    wall, cpu = t
    return {"min": round(min(wall), 1), "median": round(statistics.median(wall), 1),
            "cpu_min": round(min(cpu), 1), "cpu_median": round(statistics.median(cpu), 1), "repeats": len(wall)}


def go_rounds(bst, X, repeats: int, rounds: int) -> dict:
    """XGBoost's batch figure and the Go benchmark, alternated for rounds."""
    with tempfile.TemporaryDirectory() as tmp:
        binary = os.path.join(tmp, "scoring.test")
        subprocess.run(["go", "test", "-c", "-o", binary, "./scoring/"], cwd=REPO, check=True)
        cmd = [binary, "-test.run", "^$", "-test.bench", "^BenchmarkFraudXGBoostBatched$", "-test.benchmem",
               "-test.benchtime", f"{10 * len(X)}x"]
        xgb_wall, xgb_cpu, go = [], [], {}
        load = [round(os.getloadavg()[0], 2)]
        for _ in range(rounds):
            wall, cpu = time_batch(bst, X, repeats)
            xgb_wall.append(statistics.median(wall))
            xgb_cpu.append(statistics.median(cpu))
            res = subprocess.run(cmd, cwd=REPO / "scoring", capture_output=True, text=True, check=True)
            for line in res.stdout.splitlines():
                m = re.match(r"BenchmarkFraudXGBoostBatched/kernel=(\S+?)-\d+\s.*?([\d.]+) cpu-ns/row\s+([\d.]+) ns/row"
                             r".*?(\d+) allocs/op", line)
                if m:
                    k = go.setdefault(m.group(1), {"wall": [], "cpu": [], "allocs": 0})
                    k["cpu"].append(float(m.group(2)))
                    k["wall"].append(float(m.group(3)))
                    k["allocs"] = max(k["allocs"], int(m.group(4)))
        load.append(round(os.getloadavg()[0], 2))
    xw, xc = statistics.median(xgb_wall), statistics.median(xgb_cpu)
    out = {"rounds": rounds, "command": " ".join(["go test -c -o scoring.test ./scoring/ && cd scoring && ../scoring.test",
                                                   *cmd[1:]]),
           "load_average_1m_before_after": load,
           "xgboost_batch_ns_per_row": {"wall_median": round(xw, 1), "cpu_median": round(xc, 1)}}
    for name, k in go.items():
        w, c = statistics.median(k["wall"]), statistics.median(k["cpu"])
        out[f"go_{name}_ns_per_row"] = {"wall_median": round(w, 1), "cpu_median": round(c, 1),
                                        "wall_min": round(min(k["wall"]), 1), "cpu_min": round(min(k["cpu"]), 1),
                                        "allocs_per_op": k["allocs"]}
        out[f"ratio_{name}_to_xgboost"] = {"wall": round(w / xw, 3), "cpu": round(c / xc, 3)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=str(REPO / "examples" / "fraud"))
    ap.add_argument("--repeats", type=int, default=30, help="timed repeats for batch (single-row: a third)")
    ap.add_argument("--go", action="store_true", help="also run the Go benchmark, alternating with XGBoost")
    ap.add_argument("--rounds", type=int, default=7, help="rounds of XGBoost batch + Go benchmark with --go")
    args = ap.parse_args(argv)
    bundle = Path(args.bundle)
    bst, X, ref, manifest = load(bundle)

    pred = np.asarray(bst.inplace_predict(X), dtype=np.float64)
    want = ref[:, 1] if manifest["output"]["task"] == "binary" else ref.reshape(len(ref), -1).squeeze()
    if not np.array_equal(pred.reshape(want.shape), want):
        sys.exit(f"predictions differ from reference.jsonl scores by {np.max(np.abs(pred.reshape(want.shape) - want))}")

    time_batch(bst, X, 3)  # warm up
    time_single(bst, X[:200], 1)
    batch = time_batch(bst, X, args.repeats)
    single = time_single(bst, X, max(3, args.repeats // 3))
    X32 = X.astype(np.float32)
    batch32 = time_batch(bst, X32, args.repeats)

    cfg = json.loads(bst.save_config())
    result = {
        "bundle": os.path.relpath(bundle, REPO) if bundle.resolve().is_relative_to(REPO) else str(bundle),
        "xgboost": xgb.__version__,
        "objective": cfg["learner"]["objective"]["name"],
        "trees": bst.num_boosted_rounds() * max(1, int(cfg["learner"]["learner_model_param"]["num_class"] or 0)),
        "nthread": 1,
        "rows": int(X.shape[0]),
        "features": int(X.shape[1]),
        "predictions_match_reference": True,
        "batch_ns_per_row": summary(batch),
        "batch_float32_input_ns_per_row": summary(batch32),
        "single_row_ns_per_row": summary(single),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    if args.go:
        if result["bundle"] != "examples/fraud":
            sys.exit("--go: the Go benchmark scores examples/fraud")
        result["go"] = go_rounds(bst, X, args.repeats, args.rounds)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
