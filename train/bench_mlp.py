#!/usr/bin/env python3
"""Baseline for the Go mlp scorer: Keras's and numpy's own predict, one core, batches of 256.

    python train/bench_mlp.py [--dir .cache/bench-mlp] [--repeats 20] [--go]

Builds two benchmark bundles in --dir (not in examples/: they are bigger than an example
should be), with 32 number inputs and no feature steps, so that the model columns are the
inputs and every side starts from the same float64 matrix:

  keras32  Keras Sequential 32-256-128-64-1 (relu, relu, relu, sigmoid), float32, random
           initial weights (speed does not depend on training), exported from a .keras file
  sk64     scikit-learn MLPClassifier (256, 128, 64), relu, float64, one epoch on random data
  keras32small, sk64small  the same with one hidden layer of 100 units (sklearn's default
           hidden_layer_sizes) on the first 30 inputs: a small tabular network

and the risk-mlp example (1-16-8-1). It times, per row over batches of 256 rows (the size
of a stream micro-batch), single-threaded (XLA, OpenBLAS and OpenMP limited to one thread):

  keras_predict   model.predict(x, batch_size=256, verbose=0): Keras's own predict
  keras_call      model(x, training=False): the eager call, Keras's fastest path
  numpy           the same network as numpy float32 (keras32) or float64 (sk64) matmuls
  sklearn_proba   MLPClassifier.predict_proba (sk64)

each as wall and process-CPU ns per row (min and median over repeats), and which BLAS kernel numpy
ran (OPENBLAS_CORETYPE, when set, picks it: `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE` lets
OpenBLAS choose for this CPU). With --go it then
runs the Go benchmarks (BenchmarkMLP*, scoring/mlp_bench_test.go) on the same bundles and
rows and prints the ratios Go / library in CPU time. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(v, "1")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from streamscore_export import Schema, export_bundle, keras_pipeline, number, policy, reference_rows  # noqa: E402
from streamscore_export import mlp_model, write_jsonl  # noqa: E402

from benchtime import per_row  # noqa: E402

BATCH = 256
N_IN = 32
HIDDEN = (256, 128, 64)
OUT = policy.binary(["no", "yes"])


def _timed(fn, n_rows: int, repeats: int) -> dict:
    fn()  # warm up (compiles XLA code for this shape)
    wall, cpu = per_row(fn, n_rows, repeats)
    return {"wall_min": round(min(wall)), "wall_median": round(statistics.median(wall)),
            "cpu_min": round(min(cpu)), "cpu_median": round(statistics.median(cpu))}


def _batches(X: np.ndarray, fn):
    def run():
        for i in range(0, len(X), BATCH):
            fn(X[i:i + BATCH])
    return run


def _numpy_forward(doc: dict):
    dt = np.float32 if doc["dtype"] == "float32" else np.float64
    layers = [(np.asarray(L["weights"], dtype=dt), np.asarray(L["bias"], dtype=dt), L["activation"])
              for L in doc["layers"]]

    def fwd(x):
        a = x.astype(dt)
        for w, b, act in layers:
            a = a @ w
            a += b
            if act == "relu":
                np.maximum(a, 0, out=a)
            elif act == "logistic":
                a = 1.0 / (1.0 + np.exp(-a))
            elif act == "tanh":
                np.tanh(a, out=a)
        return a
    return fwd


def build(out: Path, suffix: str, n_in: int, hidden: tuple) -> dict:
    k = mlp_model.keras()
    k.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    schema = Schema([number(f"x{i}") for i in range(n_in)])
    X = rng.normal(size=(4 * BATCH, n_in))
    events = [dict(zip(schema.names, map(float, row))) for row in X]
    net = k.Sequential([k.Input((n_in,))] + [k.layers.Dense(u, activation="relu") for u in hidden]
                       + [k.layers.Dense(1, activation="sigmoid")], name="bench_keras32" + suffix)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench_keras32{suffix}.keras"
    net.save(path)
    sk = MLPClassifier(hidden_layer_sizes=hidden, max_iter=1, random_state=0).fit(X, (X[:, 0] > 0).astype(int))
    models = {"keras32" + suffix: keras_pipeline(str(path)), "sk64" + suffix: Pipeline([("model", sk)])}
    for name, m in models.items():
        d = out / name
        export_bundle(m, d, name=f"bench-{name}", schema=schema, output=OUT)
        write_jsonl(reference_rows(m, schema, OUT, events[:BATCH]), d / "reference.jsonl")
    return {"X": X, "keras": models["keras32" + suffix][-1]._model(), "sk": sk}


def measure(out: Path, repeats: int) -> dict:
    res: dict = {}
    for suffix, n_in, hidden in (("", N_IN, HIDDEN), ("small", 30, (100,))):
        b = build(out, suffix, n_in, hidden)
        X = b["X"]
        keras_net = b["keras"]
        x32 = X.astype(np.float32)
        doc32 = mlp_model.read(out / ("keras32" + suffix), {"file": "model.json"})
        doc64 = mlp_model.read(out / ("sk64" + suffix), {"file": "model.json"})
        res["keras32" + suffix] = {
            "keras_predict": _timed(_batches(x32, lambda x: keras_net.predict(x, batch_size=BATCH, verbose=0)),
                                    len(X), repeats),
            "keras_call": _timed(_batches(x32, lambda x: np.asarray(keras_net(x, training=False))), len(X), repeats),
            "numpy": _timed(_batches(X, _numpy_forward(doc32)), len(X), repeats),
        }
        res["sk64" + suffix] = {
            "sklearn_proba": _timed(_batches(X, b["sk"].predict_proba), len(X), repeats),
            "numpy": _timed(_batches(X, _numpy_forward(doc64)), len(X), repeats),
        }
    risk = keras_pipeline_from_example()
    if risk is not None:
        net, xr = risk
        res["risk-mlp"] = {
            "keras_predict": _timed(_batches(xr, lambda x: net.predict(x, batch_size=BATCH, verbose=0)), len(xr),
                                    repeats),
            "keras_call": _timed(_batches(xr, lambda x: np.asarray(net(x, training=False))), len(xr), repeats),
        }
    return res


def keras_pipeline_from_example():
    """risk-mlp's network rebuilt from its bundle's weights (same shapes, same float32 work)."""
    d = REPO / "examples" / "risk-mlp"
    if not (d / "model.json").exists():
        return None
    k = mlp_model.keras()
    doc = mlp_model.read(d, {"file": "model.json"})
    acts = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "identity": None}
    net = k.Sequential([k.Input((doc["inputs"],))] + [k.layers.Dense(len(L["bias"]), activation=acts[L["activation"]])
                                                      for L in doc["layers"]])
    for layer, L in zip(net.layers, doc["layers"]):
        layer.set_weights([np.asarray(L["weights"], dtype=np.float32), np.asarray(L["bias"], dtype=np.float32)])
    xr = np.random.default_rng(1).uniform(-50, 150, (4 * BATCH, 1)).astype(np.float32)
    return net, xr


def go_bench(out: Path) -> dict:
    env = dict(os.environ, STREAMSCORE_TEST_MLP_BENCH_DIR=str(out.resolve()), GOMAXPROCS="1")
    cmd = ["go", "test", "./scoring/", "-run", "^$", "-bench", "MLP", "-benchtime", "0.5s", "-count", "3",
           "-benchmem"]
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=True)
    figs: dict = {}
    for line in p.stdout.splitlines():
        if not line.startswith("BenchmarkMLP"):
            continue
        parts = line.split()
        name = parts[0].split("-")[0]
        vals = {parts[i + 1]: float(parts[i]) for i in range(2, len(parts) - 1, 2)}
        figs.setdefault(name, []).append(vals)
    return {n: {"cpu_ns_row_median": statistics.median(v["cpu-ns/row"] for v in vs),
                "ns_row_median": statistics.median(v["ns/row"] for v in vs),
                "allocs_op": max(v.get("allocs/op", 0) for v in vs)} for n, vs in figs.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=str(REPO / ".cache" / "bench-mlp"))
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--go", action="store_true", help="also run the Go benchmarks and print the ratios")
    args = ap.parse_args()
    out = Path(args.dir)
    import threadpoolctl

    blas = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
            for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    res = {"python": platform.python_version(), "load_average": os.getloadavg(), "batch": BATCH, "blas": blas,
           "library_ns_per_row": measure(out, args.repeats)}
    if args.go:
        g = go_bench(out)
        res["go"] = g
        lib = res["library_ns_per_row"]
        pairs = {"BenchmarkMLPBenchKeras32Model": ("keras32", ("keras_predict", "keras_call", "numpy")),
                 "BenchmarkMLPBenchSK64Model": ("sk64", ("sklearn_proba", "numpy")),
                 "BenchmarkMLPBenchKeras32SmallModel": ("keras32small", ("keras_predict", "keras_call", "numpy")),
                 "BenchmarkMLPBenchSK64SmallModel": ("sk64small", ("sklearn_proba", "numpy")),
                 "BenchmarkMLPRiskModel": ("risk-mlp", ("keras_predict", "keras_call"))}
        res["ratio_go_over_library_cpu"] = {
            f"{bench} / {m}.{k}": round(g[bench]["cpu_ns_row_median"] / lib[m][k]["cpu_median"], 3)
            for bench, (m, ks) in pairs.items() if bench in g and m in lib for k in ks}
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
