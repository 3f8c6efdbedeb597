"""Write the scoring test fixtures in testdata/bundles.

    python scoring/testdata/make_fixtures.py      # numpy; xgboost for the cross-checks and gen-* bundles

hand-*: models written by hand in XGBoost's save_model JSON format (and a
linear model); the expected outputs are computed here from the trees by a
ten-line reference (float32, as XGBoost) and cross-checked against XGBoost
itself when it is installed.
gen-*: small models trained by XGBoost for objectives and options the
examples do not cover (multi:softmax, binary:logitraw, reg:logistic, early
stopping with best_iteration, missing values), with XGBoost's own predictions.
"""
import ctypes
import json
import math
import pathlib

import numpy as np

OUT = pathlib.Path(__file__).parent / "bundles"
f32 = np.float32

# XGBoost's transforms call the C library's expf in float32; glibc's is not
# correctly rounded everywhere (scoring/expf.go), and numpy's float32 exp is a
# different function again, so the reference uses the one XGBoost calls.
_libm = ctypes.CDLL("libm.so.6")
_libm.expf.restype, _libm.expf.argtypes = ctypes.c_float, [ctypes.c_float]


def expf(v):
    return f32(_libm.expf(float(f32(v))))


def tree(nodes):
    """nodes: list of (left, right, feature, cond_or_leaf, default_left)."""
    n = len(nodes)
    return {
        "base_weights": [0.0] * n, "categories": [], "categories_nodes": [], "categories_segments": [],
        "categories_sizes": [], "default_left": [int(d) for *_, d in nodes], "id": 0,
        "left_children": [l for l, *_ in nodes], "loss_changes": [0.0] * n, "parents": [2147483647] + [0] * (n - 1),
        "right_children": [r for _, r, *_ in nodes], "split_conditions": [float(f32(c)) for _, _, _, c, _ in nodes],
        "split_indices": [f for _, _, f, _, _ in nodes], "split_type": [0] * n, "sum_hessian": [1.0] * n,
        "tree_param": {"num_deleted": "0", "num_feature": "0", "num_nodes": str(n), "size_leaf_vector": "1"},
    }


def model(trees, groups, objective, base_score, num_class, num_feature, extra_obj=None):
    for i, t in enumerate(trees):
        t["id"] = i
        t["tree_param"]["num_feature"] = str(num_feature)
    obj = {"name": objective}
    obj.update(extra_obj or {"reg_loss_param": {"scale_pos_weight": "1"}})
    return {"learner": {
        "attributes": {}, "feature_names": [], "feature_types": [],
        "gradient_booster": {"model": {
            "gbtree_model_param": {"num_parallel_tree": "1", "num_trees": str(len(trees))},
            "iteration_indptr": list(range(0, len(trees) + 1, max(1, num_class))),
            "tree_info": groups, "trees": trees, "cats": {"enc": [], "feature_segments": [], "sorted_idx": []}},
            "name": "gbtree"},
        "learner_model_param": {"base_score": base_score, "boost_from_average": "1", "num_class": str(num_class),
                                "num_feature": str(num_feature), "num_target": "1"},
        "objective": obj}, "version": [3, 2, 0]}


def walk(t, x):
    i = 0
    while t["left_children"][i] != -1:
        v = x[t["split_indices"][i]]
        if math.isnan(v):
            i = t["left_children"][i] if t["default_left"][i] else t["right_children"][i]
        elif f32(v) < f32(t["split_conditions"][i]):
            i = t["left_children"][i]
        else:
            i = t["right_children"][i]
    return f32(t["split_conditions"][i])


def margins(m, x, base):
    g = m["learner"]["gradient_booster"]["model"]
    out = [f32(b) for b in base]
    for t, grp in zip(g["trees"], g["tree_info"]):
        out[grp] = f32(out[grp] + walk(t, x))
    return out


def sigmoid(v):
    return float(f32(1) / (expf(min(-v, f32(88.7))) + f32(1)))


def softmax(v):
    v = np.asarray(v, dtype=np.float32)
    e = np.asarray([expf(x - v.max()) for x in v], dtype=np.float32)
    return [float(x) for x in (e / np.float32(e.astype(np.float64).sum()))]


def write(name, manifest, mdl, rows, xgb_check=None):
    d = OUT / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "bundle.json").write_text(json.dumps(manifest, indent=1) + "\n")
    if mdl is not None:
        (d / "model.json").write_text(json.dumps(mdl) + "\n")
    with open(d / "reference.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    if xgb_check is not None:
        xgb_check(d)
    print(f"{name}: {len(rows)} rows")


def nan(v):
    return float("nan") if v is None else float(v)


try:
    import xgboost as xgb
except ImportError:  # the hand-made fixtures do not need it
    xgb = None


def check_with_xgboost(d, X, want, output_margin=False):
    if xgb is None:
        return
    b = xgb.Booster(model_file=str(d / "model.json"))
    got = b.inplace_predict(np.asarray(X, dtype=np.float64))
    got = np.asarray(got, dtype=np.float64).reshape(len(X), -1)
    w = np.asarray(want, dtype=np.float64).reshape(len(X), -1)
    assert np.allclose(got, w, atol=1e-7, rtol=0), (d.name, got, w)


# --- hand-xgb-binary: two trees, float32 threshold edge, default directions ----------------------
t0 = tree([(1, 2, 0, 0.1, True), (-1, -1, 0, 0.5, False), (3, 4, 1, 2.0, False),
           (-1, -1, 0, -0.25, False), (-1, -1, 0, 1.0, False)])
t1 = tree([(1, 2, 1, 0.0, False), (-1, -1, 0, -1.5, False), (-1, -1, 0, 0.25, False)])
m = model([t0, t1], [0, 0], "binary:logistic", "[5E-1]", 0, 2)
events = [({"x": 0.05, "y": 1}, "x below the split"),
          ({"x": 0.1, "y": 3}, "x == float32(0.1) goes right: compared in float32"),
          ({}, "both missing: default left, then default right"),
          ({"x": 5, "y": -1}, "both left in the second subtree"),
          ({"x": 5, "y": None}, "y null: default right"),
          ({"x": 1e300, "y": 2.0}, "huge x (float32 +inf) goes right; y == split goes right")]
rows, X = [], []
for ev, note in events:
    x = [nan(ev.get("x")), nan(ev.get("y"))]
    p = sigmoid(margins(m, x, [0.0])[0])
    q = float(f32(1) - f32(p))
    rows.append({"event": ev, "scores": [q, p], "label": "High" if p > 0.7 else "Low", "note": note})
    X.append(x)
write("hand-xgb-binary", {
    "format_version": 1, "name": "hand-xgb-binary", "version": "1", "description": "hand-written XGBoost trees",
    "inputs": [{"name": "x", "type": "number"}, {"name": "y", "type": "number"}],
    "features": [{"name": "x", "input": "x"}, {"name": "y", "input": "y"}],
    "model": {"kind": "xgboost", "file": "model.json"},
    "output": {"task": "binary", "classes": ["Low", "High"], "thresholds": [{"above": 0.7, "label": "High"}],
               "default_label": "Low"}}, m, rows,
    lambda d: check_with_xgboost(d, X, [r["scores"][1] for r in rows]))

# --- hand-xgb-multi-old: XGBoost 2.x style: scalar base_score, boolean default_left, no indptr ---------
stumps = []
for it in range(2):
    for k in range(3):
        f = [0, 1, 2][k]
        stumps.append(tree([(1, 2, f, 0.5, k == 1), (-1, -1, 0, 0.3 * (k + 1) - it * 0.1, False),
                            (-1, -1, 0, -0.2 * (k + 1) + it * 0.05, False)]))
m = model(stumps, [0, 1, 2, 0, 1, 2], "multi:softprob", "5E-1", 3, 3,
          {"softmax_multiclass_param": {"num_class": "3"}})
del m["learner"]["gradient_booster"]["model"]["iteration_indptr"]
for t in m["learner"]["gradient_booster"]["model"]["trees"]:
    t["default_left"] = [bool(v) for v in t["default_left"]]
    t["tree_param"]["size_leaf_vector"] = "0"
m["version"] = [2, 1, 4]
cats = ["a", "b"]
events = [({"x": 0.2, "c": "a"}, "x left, a"), ({"x": 0.9, "c": "b"}, "x right, b"),
          ({"c": "z"}, "x missing, unknown category: zeros"), ({"x": 0.5}, "x on the split, c missing")]
rows, X = [], []
for ev, note in events:
    c = ev.get("c")
    x = [nan(ev.get("x")), 1.0 if c == "a" else 0.0, 1.0 if c == "b" else 0.0]
    probs = softmax(margins(m, x, [0.5, 0.5, 0.5]))
    rows.append({"event": ev, "scores": probs, "label": ["red", "green", "blue"][int(np.argmax(probs))], "note": note,
                 "features": [None if math.isnan(v) else v for v in x]})
    X.append(x)
write("hand-xgb-multi-old", {
    "format_version": 1, "name": "hand-xgb-multi-old", "version": "1",
    "inputs": [{"name": "x", "type": "number"}, {"name": "c", "type": "category"}],
    "features": [{"name": "x", "input": "x"},
                 {"name": "c", "input": "c", "steps": [{"op": "onehot", "categories": cats, "unknown": "zeros"}]}],
    "model": {"kind": "xgboost", "file": "model.json"},
    "output": {"task": "multiclass", "classes": ["red", "green", "blue"]}}, m, rows,
    lambda d: check_with_xgboost(d, X, [r["scores"] for r in rows]))

# --- hand-linear: regression with thresholds, a required input, and NaN refused -------------------
coef, icpt = [2.0, -0.5, 0.25], 10.0
events = [({"a": 1, "b": 2, "c": "u"}, None, "plain"), ({"a": 50, "b": 0, "c": "v"}, None, "above threshold"),
          ({"b": 2, "c": "u"}, "missing_field", "a required"), ({"a": 1, "c": "u"}, "missing_field", "b NaN: linear models refuse NaN"),
          ({"a": 1, "b": 2, "c": "w"}, "unknown_category", "c unknown, reject"),
          ({"a": 1, "b": 1e308, "c": "u"}, "not_finite", "b*b overflows")]
rows = []
for ev, rej, note in events:
    if rej:
        rows.append({"event": ev, "reject": rej, "note": note})
        continue
    x = [ev["a"], ev["b"], 1.0 if ev["c"] == "v" else 0.0]
    y = sum(c * v for c, v in zip(coef, x)) + icpt
    rows.append({"event": ev, "scores": [y], "label": "High" if y > 50 else "Low", "note": note})
write("hand-linear", {
    "format_version": 1, "name": "hand-linear", "version": "1",
    "inputs": [{"name": "a", "type": "number", "required": True}, {"name": "b", "type": "number"},
               {"name": "c", "type": "category"}],
    "features": [{"name": "a", "input": "a"}, {"name": "bb", "derive": {"op": "product", "a": "b", "b": "b"}},
                 {"name": "c", "input": "c", "steps": [{"op": "onehot", "categories": ["u", "v"], "drop": "u", "unknown": "reject"}]}],
    "model": {"kind": "linear", "link": "identity", "coef": [[2.0, -0.5, 0.25]], "intercept": [10.0]},
    "output": {"task": "regression", "thresholds": [{"above": 50, "label": "High"}], "default_label": "Low"}},
    None, [dict(r, event=r["event"]) for r in rows])
# the b feature is b*b: fix the expected values accordingly
rows = []
for ev, rej, note in events:
    if rej:
        rows.append({"event": ev, "reject": rej, "note": note})
        continue
    x = [ev["a"], ev["b"] * ev["b"], 1.0 if ev["c"] == "v" else 0.0]
    y = sum(c * v for c, v in zip(coef, x)) + icpt
    rows.append({"event": ev, "scores": [y], "label": "High" if y > 50 else "Low", "note": note})
with open(OUT / "hand-linear" / "reference.jsonl", "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")

# --- gen-*: trained by XGBoost ---------------------------------------------------------------
if xgb is not None:
    rng = np.random.default_rng(3)
    n = 400
    Xtr = rng.normal(size=(n, 3))
    Xtr[rng.random((n, 3)) < 0.1] = np.nan
    inputs = [{"name": f"x{i}", "type": "number"} for i in range(3)]
    feats = [{"name": f"x{i}", "input": f"x{i}"} for i in range(3)]
    probe = np.vstack([rng.normal(size=(60, 3)), [[np.nan, np.nan, np.nan], [0, np.nan, 1], [1e6, -1e6, 0]]])
    probe[rng.random(probe.shape) < 0.15] = np.nan

    def events_of(P):
        return [{f"x{i}": (None if np.isnan(v) else float(v)) for i, v in enumerate(row)} for row in P]

    def gen(name, params, y, task, classes, rounds=8, early=False, how="proba", note=""):
        dtr = xgb.DMatrix(Xtr, y)
        kw = {}
        if early:
            kw = {"evals": [(xgb.DMatrix(Xtr[:100], y[:100]), "v")], "early_stopping_rounds": 3, "verbose_eval": False}
            rounds = 60
        b = xgb.train(dict(params, max_depth=3, seed=1, nthread=1), dtr, rounds, **kw)
        d = OUT / name
        d.mkdir(parents=True, exist_ok=True)
        b.save_model(str(d / "model.json"))
        if early:
            assert "best_iteration" in json.loads((d / "model.json").read_text())["learner"]["attributes"]
            it = (0, b.best_iteration + 1)
        else:
            it = (0, 0)
        if how == "softmax":
            pm = b.inplace_predict(probe, iteration_range=it, predict_type="margin")
            out = np.asarray([softmax(r) for r in pm])
        elif how == "sigmoid-margin":
            out = np.asarray(b.inplace_predict(probe, iteration_range=it, predict_type="margin"), dtype=np.float32)
        else:
            out = np.asarray(b.inplace_predict(probe, iteration_range=it))
        rows = []
        for ev, o in zip(events_of(probe), out):
            if task == "binary":
                p = np.float32(o)
                rows.append({"event": ev, "scores": [float(np.float32(1) - p), float(p)], "note": note})
            elif task == "multiclass":
                rows.append({"event": ev, "scores": [float(v) for v in o], "note": note})
            else:
                rows.append({"event": ev, "scores": [float(o)], "note": note})
        man = {"format_version": 1, "name": name, "version": "1", "description": note, "inputs": inputs,
               "features": feats, "model": {"kind": "xgboost", "file": "model.json"}, "output": {"task": task}}
        if classes:
            man["output"]["classes"] = classes
        (d / "bundle.json").write_text(json.dumps(man, indent=1) + "\n")
        with open(d / "reference.jsonl", "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        print(f"{name}: {len(rows)} rows")

    ybin = (np.nan_to_num(Xtr[:, 0]) + np.nan_to_num(Xtr[:, 1]) > 0).astype(float)
    y3 = np.digitize(np.nan_to_num(Xtr[:, 0]) - np.nan_to_num(Xtr[:, 2]), [-0.5, 0.5]).astype(float)
    gen("gen-xgb-softmax", {"objective": "multi:softmax", "num_class": 3}, y3, "multiclass", ["lo", "mid", "hi"],
        how="softmax", note="multi:softmax: probabilities are the softmax of the margins")
    gen("gen-xgb-logitraw", {"objective": "binary:logitraw"}, ybin, "regression", None,
        note="binary:logitraw as regression: the raw margin")
    gen("gen-xgb-reglogistic", {"objective": "reg:logistic"}, ybin, "binary", ["no", "yes"],
        note="reg:logistic as a binary task")
    gen("gen-xgb-early", {"objective": "binary:logistic", "eta": 0.5}, ybin, "binary", ["no", "yes"], early=True,
        note="early stopping: trees up to best_iteration")
    gen("gen-xgb-poisson-vecbase", {"objective": "count:poisson", "base_score": 2.5},
        np.floor(np.abs(np.nan_to_num(Xtr[:, 0])) * 3), "regression", None, note="count:poisson, user base_score")
