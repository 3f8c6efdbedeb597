#!/usr/bin/env python3
"""LightGBM speed, one run: the Go scorer against LightGBM's own C++ predict (num_threads=1),
lleaves and treelite, on the same rows of the same 500-tree, 63-leaf binary model.

    .venv/bin/python train/bench_lightgbm.py [--rows 20000] [--repeats 7] [--dir .cache/bench-lightgbm]

1. trains (seeded, one thread) a binary LGBMClassifier with 500 trees of 63 leaves on 40,000 synthetic
   rows of 20 features (5 % missing), exports it as a bundle into --dir, and writes the feature matrix
   of --rows other rows (features.f64) and LightGBM's probabilities for them (want.f64);
2. times LightGBM's ``Booster.predict(X, num_threads=1)`` on the whole matrix (process CPU time and
   wall time per row, min and median of --repeats);
3. the same for lleaves (compiled with LLVM, ``n_jobs=1``) and treelite (``treelite.gtil.predict``,
   ``nthread=1``) when they are installed (``pip install lleaves==1.3.0 llvmlite==0.43.0 treelite==4.8.1``:
   lleaves 1.3 needs llvmlite's legacy pass manager, gone in 0.44; none of them is in requirements.txt: they
   are benchmark baselines only); each prediction is checked against LightGBM's;
4. runs ``go test ./scoring -bench BenchmarkLightGBM500`` on the same matrix (it reports how many
   probabilities differ from LightGBM's, and cpu-ns/row) and prints one JSON object with every figure,
   the ratio Go/LightGBM in CPU time, the load average and the commit.
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from streamscore_export import Schema, export_bundle, number, policy  # noqa: E402

from benchtime import per_row  # noqa: E402

N_FEATURES = 20


def make_data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES))
    z = X[:, 0] * X[:, 1] + np.sin(3 * X[:, 2]) + 0.5 * X[:, 3] ** 2 - X[:, 4] + 0.3 * X[:, 5:10].sum(axis=1)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    X[rng.random(X.shape) < 0.05] = np.nan
    return np.round(X, 4), y


def timed(fn, rows: int, repeats: int) -> dict:
    fn()  # warm up
    wall, cpu = per_row(fn, rows, repeats)
    return {"cpu_ns_per_row_min": round(min(cpu), 1), "cpu_ns_per_row_median": round(statistics.median(cpu), 1),
            "wall_ns_per_row_min": round(min(wall), 1), "wall_ns_per_row_median": round(statistics.median(wall), 1),
            "repeats": repeats}


def go_bench(d: Path, count: int) -> dict:
    env = dict(os.environ, STREAMSCORE_DEV_LIGHTGBM_BENCH=str(d.resolve()), GOMAXPROCS="1")
    out = subprocess.run(["go", "test", "./scoring/", "-run", "^$", "-bench", "^BenchmarkLightGBM500$",
                          "-benchtime", "2s", "-count", str(count), "-benchmem"],
                         cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout
    cpu, wall, mism, allocs = [], [], set(), set()
    for line in out.splitlines():
        if line.startswith("BenchmarkLightGBM500"):
            m = dict((k, float(v)) for v, k in re.findall(r"([\d.]+) ([a-z/-]+)", line))
            cpu.append(m["cpu-ns/row"])
            wall.append(m["ns/row"])
            mism.add(int(m["rows"]) - int(m.get("identical", 0)))
            allocs.add(int(m["allocs/op"]))
    return {"cpu_ns_per_row_min": min(cpu), "cpu_ns_per_row_median": statistics.median(cpu),
            "wall_ns_per_row_min": min(wall), "wall_ns_per_row_median": statistics.median(wall),
            "repeats": len(cpu), "probabilities_differing_from_lightgbm": sorted(mism), "allocs_per_op": sorted(allocs),
            "raw": out}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--dir", default=str(REPO / ".cache" / "bench-lightgbm"))
    ap.add_argument("--reuse", action="store_true", help="keep the model already trained into --dir")
    args = ap.parse_args(argv)
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)

    if not (args.reuse and (d / "model.txt").exists()):
        Xtr, ytr = make_data(40000, seed=1)
        names = [f"f{i}" for i in range(N_FEATURES)]
        schema = Schema([number(n) for n in names])
        frame = pd.DataFrame(Xtr, columns=names)  # what Schema.frame gives for number inputs (NaN = missing)
        model = lgb.LGBMClassifier(n_estimators=500, num_leaves=63, learning_rate=0.05, min_child_samples=20,
                                   n_jobs=1, random_state=0, verbose=-1).fit(frame, ytr)
        export_bundle(model, d, name="bench-lightgbm", schema=schema, output=policy.binary(["no", "yes"]))
    booster = lgb.Booster(model_file=str(d / "model.txt"))
    X, _ = make_data(args.rows, seed=2)
    X = np.ascontiguousarray(X)
    want = booster.predict(X, num_threads=1)
    X.astype("<f8").tofile(d / "features.f64")
    want.astype("<f8").tofile(d / "want.f64")
    trees = booster.num_trees()
    leaves = max(t["num_leaves"] for t in booster.dump_model()["tree_info"])

    res = {"model": {"trees": trees, "max_leaves": leaves, "features": N_FEATURES, "objective": "binary"},
           "rows": args.rows, "lightgbm": lgb.__version__}
    res["lightgbm_predict"] = timed(lambda: booster.predict(X, num_threads=1), args.rows, args.repeats)
    try:
        import lleaves

        ll = lleaves.Model(model_file=str(d / "model.txt"))
        ll.compile(cache=str(d / "lleaves.o"))
        p = ll.predict(X, n_jobs=1)
        res["lleaves"] = {"version": getattr(lleaves, "__version__", "?"), "max_abs_diff": float(np.max(np.abs(p - want))),
                          **timed(lambda: ll.predict(X, n_jobs=1), args.rows, args.repeats)}
    except (ImportError, AttributeError) as e:  # AttributeError: lleaves 1.3 needs llvmlite < 0.44
        res["lleaves"] = f"not available ({e})"
    try:
        import treelite

        tm = treelite.frontend.load_lightgbm_model(str(d / "model.txt"))
        p = np.asarray(treelite.gtil.predict(tm, X, nthread=1)).reshape(-1)
        res["treelite_gtil"] = {"version": treelite.__version__, "max_abs_diff": float(np.max(np.abs(p - want))),
                                **timed(lambda: treelite.gtil.predict(tm, X, nthread=1), args.rows, args.repeats)}
    except ImportError as e:
        res["treelite_gtil"] = f"not installed ({e})"
    go = go_bench(d, count=max(3, args.repeats // 2))
    raw = go.pop("raw")
    res["go"] = go
    res["go_over_lightgbm_cpu_median"] = round(go["cpu_ns_per_row_median"] /
                                               res["lightgbm_predict"]["cpu_ns_per_row_median"], 3)
    res["go_over_lightgbm_cpu_min"] = round(go["cpu_ns_per_row_min"] / res["lightgbm_predict"]["cpu_ns_per_row_min"], 3)
    res["load_average_1m"] = round(os.getloadavg()[0], 2)
    res["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                   text=True).stdout.strip()
    res["machine"] = f"{platform.machine()}, {os.cpu_count()} cpus, {platform.processor() or ''}".strip(", ")
    print(raw, file=sys.stderr)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
