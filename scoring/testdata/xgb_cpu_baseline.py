"""XGBoost baseline in CPU time, for comparing with the Go benchmarks'
cpu-ns/row on a shared machine (wall-clock figures swing with other load).

    .venv/bin/python scoring/testdata/xgb_cpu_baseline.py examples/fraud

Same input as train/bench_xgboost.py: the `features` of the scored reference
rows, float64, Booster with nthread=1, inplace_predict. Prints CPU ns per row
(process time, min and median of the repeats) for the whole matrix in one
call, in blocks of 256 rows (the Go benchmark's batch), and one row per call.
"""
import json
import statistics
import sys
import time

import numpy as np
import xgboost as xgb

d = sys.argv[1] if len(sys.argv) > 1 else "examples/fraud"
feats = [[np.nan if v is None else v for v in json.loads(l)["features"]]
         for l in open(f"{d}/reference.jsonl") if '"features"' in l]
X = np.ascontiguousarray(np.array(feats, dtype=np.float64))
b = xgb.Booster(model_file=f"{d}/model.json")
b.set_param({"nthread": 1})
b.inplace_predict(X)


def measure(fn, rows, repeats):
    out = []
    for _ in range(repeats):
        t = time.process_time_ns()
        fn()
        out.append((time.process_time_ns() - t) / rows)
    return {"min": round(min(out)), "median": round(statistics.median(out))}


blocks = [X[i:i + 256] for i in range(0, len(X) - 255, 256)]
single = [X[i:i + 1] for i in range(200)]
res = {
    "bundle": d, "xgboost": xgb.__version__, "rows": len(X),
    "all_rows_cpu_ns_per_row": measure(lambda: b.inplace_predict(X), len(X), 20),
    "blocks_256_cpu_ns_per_row": measure(lambda: [b.inplace_predict(x) for x in blocks], 256 * len(blocks), 20),
    "single_row_cpu_ns_per_row": measure(lambda: [b.inplace_predict(x) for x in single], len(single), 5),
}
print(json.dumps(res))
