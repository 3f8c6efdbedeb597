#!/usr/bin/env python3
"""Baseline for the Go XGBoost scorer: XGBoost's own single-thread inplace_predict.

    python train/bench_xgboost.py [--bundle examples/fraud] [--repeats 30]

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

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=str(REPO / "examples" / "fraud"))
    ap.add_argument("--repeats", type=int, default=30, help="timed repeats for batch (single-row: a third)")
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
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
