"""Write the scikit-learn tree fixtures (gen-sk-*) in testdata/bundles.

    .venv/bin/python scoring/testdata/make_sklearn_fixtures.py

Small DecisionTree / RandomForest / ExtraTrees / GradientBoosting models, trained (seeded, single
thread) on synthetic data and written by the exporter (train/streamscore_export), with the library's
own predict_proba / predict in reference.jsonl. Each bundle's reference rows include rows at, just
below and just above split thresholds: the raw inputs are the model columns, so a row can put a value
exactly on a float64 threshold, on the float32 it rounds to, and one float32 (or one float64) step to
either side; scikit-learn casts to float32 and compares with the float64 threshold, and the Go kernel
must send every such row the same way. Plus missing values, values beyond float32's range, and the
missing-only splits (threshold +inf) that training with missing values produces.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "bundles"
sys.path.insert(0, str(ROOT / "train"))

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor  # noqa: E402

import make_examples  # noqa: E402
from streamscore_export import Schema, export_bundle, number, policy, reference_rows, write_jsonl  # noqa: E402

COLS = ["a", "b", "c", "d"]
f32 = np.float32


def data(n: int, seed: int, missing: float, b_missing: bool = True):
    """Four numeric inputs on different scales; b is missing more often, and its missingness matters."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(0, 1, n), rng.normal(10, 3, n), rng.uniform(0, 1e-3, n),
                         rng.integers(0, 5, n).astype(float)])
    X[:, 1][rng.random(n) < (2 * missing if b_missing else 0)] = np.nan
    for j in (0, 2):
        X[:, j][rng.random(n) < missing] = np.nan
    z = (np.nan_to_num(X[:, 0]) + 0.3 * (np.nan_to_num(X[:, 1], nan=10) - 10) + 800 * np.nan_to_num(X[:, 2])
         - 0.4 * X[:, 3] + 1.5 * np.isnan(X[:, 1]) + rng.normal(0, 0.5, n))
    return X, z


def events_of(X) -> list[dict]:
    return [{c: (None if math.isnan(v) else float(v)) for c, v in zip(COLS, row)} for row in X]


def near_thresholds(model_file: Path, inputs: list[str], base: dict, limit: int) -> tuple[list[dict], list[str]]:
    """Rows whose value sits on, and one step to either side of, the trees' split thresholds.

    inputs[j] is the input that model column j passes through unchanged (no scaling in these fixtures).
    """
    doc = json.loads(model_file.read_text())
    seen, evs, notes = set(), [], []
    for t in doc["trees"]:
        for f, thr, left in zip(t["feature"], t["threshold"], t["children_left"]):
            if left == -1 or isinstance(thr, str) or (f, thr) in seen:
                continue
            seen.add((f, thr))
            c = float(f32(thr))  # the float32 the threshold rounds to
            down = float(np.nextafter(f32(c), f32(-np.inf)))
            up = float(np.nextafter(f32(c), f32(np.inf)))
            cands = {thr: "on the float64 threshold", math.nextafter(thr, math.inf): "one float64 step above",
                     math.nextafter(thr, -math.inf): "one float64 step below", c: "on float32(threshold)",
                     down: "one float32 step below float32(threshold)", up: "one float32 step above float32(threshold)",
                     (c + up) / 2: "halfway to the next float32 (rounds to even)",
                     (c + down) / 2: "halfway to the previous float32 (rounds to even)"}
            for v, what in cands.items():
                evs.append(dict(base, **{inputs[f]: v}))
                notes.append(f"{inputs[f]} near threshold {thr!r}: {what}")
            if len(seen) >= limit:
                return evs, notes
    return evs, notes


def edge(base: dict) -> tuple[list[dict], list[str]]:
    evs, notes = [dict(base)], ["base row"]
    for c in COLS:
        evs += [{k: v for k, v in base.items() if k != c}, dict(base, **{c: None})]
        notes += [f"{c} absent", f"{c} null"]
    evs += [{}, dict(base, a=3.4028234663852886e38), dict(base, a=3.4028235e38), dict(base, a=3.5e38),
            dict(base, b=-1e39), dict(base, c=1e300), dict(base, d=1e-45), dict(base, d=-0.0), dict(base, c=5e-324)]
    notes += ["every input absent", "a = largest float32", "a rounds to the largest float32",
              "a beyond float32 (sklearn: infinity) -> not_finite", "b below -float32 max -> not_finite",
              "c = 1e300 -> not_finite", "d = smallest float32 denormal", "d = -0", "c = smallest float64 denormal"]
    return evs, notes


def build(name: str, est, out, *, seed: int, missing: float, impute: bool = False, classes: int = 2):
    X, z = data(3000, seed, missing, b_missing=not impute)
    if classes == 0:
        y = z
    elif classes == 2:
        y = (z > 0.3).astype(int)
    else:
        y = np.digitize(z, np.quantile(z, np.linspace(0, 1, classes + 1)[1:-1]))
    schema = Schema([number(c) for c in COLS])
    train = events_of(X)
    F = schema.frame(train)
    steps = []
    if impute:  # GradientBoosting refuses NaN: impute a and c, leave b and d missing -> missing_field
        steps = [("prep", ColumnTransformer([("imp", SimpleImputer(strategy="median"), ["a", "c"])],
                                            remainder="passthrough", sparse_threshold=0.0,
                                            verbose_feature_names_out=False))]
    pipe = Pipeline(steps + [("model", est)]).fit(F, y)
    d = OUT / name
    d.mkdir(parents=True, exist_ok=True)
    for stale in ("bundle.json", "model.json", "reference.jsonl"):
        (d / stale).unlink(missing_ok=True)
    manifest = export_bundle(pipe, d, name=name, schema=schema, output=out,
                             description=f"{type(est).__name__} fixture (make_sklearn_fixtures.py)")
    base = {c: v for c, v in train[1].items() if v is not None} | {"b": 11.0}
    evs, notes = edge(base)
    near, near_notes = near_thresholds(d / "model.json", [f["input"] for f in manifest["features"]], base, limit=40)
    test = events_of(data(300, seed + 1, missing)[0])
    evs, notes = evs + near + test, notes + near_notes + [None] * len(test)
    rows = reference_rows(pipe, schema, out, evs, notes)
    check = make_examples.self_check(SimpleNamespace(name=name), manifest, rows, d)
    write_jsonl(rows, d / "reference.jsonl")
    doc = json.loads((d / "model.json").read_text())
    inf = sum(v == "inf" for t in doc["trees"] for v in t["threshold"])
    print(json.dumps({"fixture": name, **check, "near_threshold_rows": len(near), "inf_thresholds": inf,
                      "model_bytes": (d / "model.json").stat().st_size}), flush=True)
    return inf


def main() -> int:
    b = policy.binary(["no", "yes"])
    m3 = policy.multiclass(["low", "mid", "high"])
    r = policy.regression([(1.0, "high")], "low")
    inf = build("gen-sk-tree-multiclass", DecisionTreeClassifier(max_depth=6, random_state=0), m3,
                seed=1, missing=0.1, classes=3)
    inf += build("gen-sk-tree-regressor", DecisionTreeRegressor(max_depth=5, min_samples_leaf=5, random_state=0), r,
                 seed=2, missing=0.1, classes=0)
    inf += build("gen-sk-rf-binary", RandomForestClassifier(n_estimators=12, max_depth=5, random_state=0, n_jobs=1), b,
                 seed=3, missing=0.15)
    build("gen-sk-rf-regressor", RandomForestRegressor(n_estimators=9, max_depth=4, random_state=0, n_jobs=1), r,
          seed=4, missing=0.0, classes=0)  # trained without missing values: NaN goes to the larger child
    build("gen-sk-et-multiclass", ExtraTreesClassifier(n_estimators=10, max_depth=5, random_state=0, n_jobs=1), m3,
          seed=5, missing=0.1, classes=3)
    build("gen-sk-et-regressor", ExtraTreesRegressor(n_estimators=10, max_depth=5, random_state=0, n_jobs=1), r,
          seed=6, missing=0.1, classes=0)
    build("gen-sk-gb-binary", GradientBoostingClassifier(n_estimators=25, max_depth=3, random_state=0), b,
          seed=7, missing=0.05, impute=True)
    build("gen-sk-gb-multiclass", GradientBoostingClassifier(n_estimators=12, max_depth=2, learning_rate=0.3,
                                                             random_state=0), m3,
          seed=8, missing=0.05, impute=True, classes=3)
    build("gen-sk-gb-exponential", GradientBoostingClassifier(loss="exponential", n_estimators=15, max_depth=2,
                                                              random_state=0), b,
          seed=9, missing=0.05, impute=True)
    build("gen-sk-gb-huber-early", GradientBoostingRegressor(loss="huber", n_estimators=200, max_depth=3,
                                                             subsample=0.8, n_iter_no_change=3,
                                                             validation_fraction=0.2, random_state=0), r,
          seed=10, missing=0.05, impute=True, classes=0)
    build("gen-sk-gb-zero-init", GradientBoostingRegressor(loss="quantile", alpha=0.8, init="zero", n_estimators=20,
                                                           max_depth=2, random_state=0), r,
          seed=11, missing=0.05, impute=True, classes=0)
    if inf == 0:
        raise AssertionError("no tree trained with missing values has a missing-only split (threshold +inf)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
