#!/usr/bin/env python3
"""Golden PSI values for drift/golden_test.go, computed with numpy.

    python train/drift_golden.py     # writes drift/testdata/psi_golden.json (train/parity.sh runs it)

Two kinds of cases:

* ``formula``: hand-made expected fractions and live counts (empty bins on either side, no data)
  through streamscore_export.drift.psi.
* ``windows``: windows of the fraud example's reference events (examples/fraud/reference.jsonl, the
  rows the bundle scores), selected and changed as each case says (``rows``: line numbers; ``change``:
  applied to every ``every``-th selected event). Each input's bin counts come from the decoded values
  binned as the bundle says, the score's from the bundle evaluated in numpy + XGBoost
  (streamscore_export.evaluate, which equals the service bit for bit on this bundle), and the PSI from
  drift.psi. The Go test sends the same events through the service's code path (decode, count, window)
  and must find the same counts and PSI.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from streamscore_export import drift, evaluate  # noqa: E402
from streamscore_export.jsonfmt import pretty  # noqa: E402

REPO = HERE.parent
BUNDLE = REPO / "examples" / "fraud"
OUT = REPO / "drift" / "testdata" / "psi_golden.json"
OPTIONAL = ["avg_amount_30d", "merchant_category", "country", "card_present", "distance_from_home_km",
            "txn_count_24h"]

FORMULA = [
    ("same distribution", [0.25, 0.25, 0.5], [25, 25, 50]),
    ("shifted", [0.5, 0.3, 0.2], [20, 30, 50]),
    ("empty expected bin filled", [0.6, 0.4, 0.0], [50, 30, 20]),
    ("live bin empty", [0.5, 0.5], [100, 0]),
    ("one row", [0.1] * 10, [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
    ("no data", [0.5, 0.5], [0, 0]),
]


def apply(event: dict, change: dict) -> dict:
    e = copy.deepcopy(event)
    for k, f in change.get("scale", {}).items():
        if isinstance(e.get(k), (int, float)) and not isinstance(e.get(k), bool):
            e[k] = e[k] * f
    for k, v in change.get("set", {}).items():
        e[k] = v
    for k in change.get("drop", []):
        e.pop(k, None)
    return e


def window(name: str, manifest: dict, events: list[dict], rows: list[int], change: dict | None, every: int) -> dict:
    chosen = [events[i] for i in rows]
    if change:
        chosen = [apply(e, change) if k % every == 0 else e for k, e in enumerate(chosen)]
    schema = evaluate.schema_of(manifest)
    decoded = [schema.decode(e) for e in chosen]  # the reference rows decode (none is rejected)
    col = {inp.name: j for j, inp in enumerate(schema.inputs)}
    stats = manifest["drift"]
    inputs = {}
    for h in stats["inputs"]:
        vals = [d[col[h["input"]]] for d in decoded]
        counts = drift.input_counts(h, vals)
        inputs[h["input"]] = {"counts": counts.tolist(), "psi": drift.psi(h["expected"] + [h["missing"]], counts)}
    score = {"counts": [0] * len(stats["score"]["expected"]), "psi": None}
    if chosen:
        X, rejects = evaluate.features(manifest, chosen)
        if any(rejects):
            raise AssertionError(f"{name}: the bundle rejects {sum(map(bool, rejects))} events")
        s = evaluate.predict(manifest, X, BUNDLE)[:, 1]  # binary: the score is the positive class
        counts = drift.bin_counts(stats["score"]["edges"], s)
        score = {"counts": counts.tolist(), "psi": drift.psi(stats["score"]["expected"], counts)}
    out = {"name": name, "rows": rows, "inputs": inputs, "score": score}
    if change:
        out["change"], out["every"] = change, every
    return out


def nan_to_none(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def main() -> int:
    manifest = json.loads((BUNDLE / "bundle.json").read_text())
    lines = [json.loads(x) for x in (BUNDLE / "reference.jsonl").read_text().splitlines()]
    scored = [i for i, r in enumerate(lines) if "reject" not in r]
    events = [r["event"] for r in lines]
    amount = next(h for h in manifest["drift"]["inputs"] if h["input"] == "amount")
    high = [i for i in scored if events[i]["amount"] >= amount["edges"][6]]
    cases = [
        window("reference events", manifest, events, scored, None, 1),
        window("amount in the top training deciles only", manifest, events, high, None, 1),
        window("amount x5", manifest, events, scored, {"scale": {"amount": 5}}, 1),
        window("unseen merchant category in every other event", manifest, events, scored,
               {"set": {"merchant_category": "jewelry"}}, 2),
        window("optional inputs absent in every third event", manifest, events, scored, {"drop": OPTIONAL}, 3),
        window("empty", manifest, events, [], None, 1),
    ]
    for c in cases:
        c["inputs"] = {k: {**v, "psi": nan_to_none(v["psi"])} for k, v in c["inputs"].items()}
    formula = [{"name": n, "expected": e, "counts": c, "psi": nan_to_none(drift.psi(e, c))} for n, e, c in FORMULA]
    golden = {
        "about": "written by train/drift_golden.py (numpy); checked by drift/golden_test.go",
        "epsilon": drift.EPSILON,
        "bundle": "examples/fraud",
        "drift": manifest["drift"],  # the statistics the windows were counted against (stale golden check)
        "formula": formula,
        "windows": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(pretty(golden))
    for c in cases:
        psi = {k: round(v["psi"], 4) for k, v in c["inputs"].items() if v["psi"] is not None}
        print(json.dumps({"window": c["name"], "events": len(c["rows"]), "feature_psi": psi,
                          "score_psi": None if c["score"]["psi"] is None else round(c["score"]["psi"], 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
