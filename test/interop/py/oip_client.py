"""Talk to `streamscore serve` with a real Open Inference Protocol v2 client.

tritonclient's HTTP client (the one KServe and Triton users have) checks
health, reads the server and model metadata, builds one input tensor per
model input from that metadata (datatypes as the server announces them), and
runs inference on the fraud reference events, by default with binary tensors
both ways and once with JSON tensors, comparing the probabilities and labels
with XGBoost's own (examples/fraud/reference.jsonl). It also checks that the
server's errors reach the client as InferenceServerException.

    python oip_client.py HOST:PORT REFERENCE.jsonl

Prints one JSON summary line; exits non-zero on the first failure.
"""

import datetime
import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

PROB_TOL = 1e-6  # as the Go parity tests: XGBoost computes in float32
MODEL = "fraud"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def epoch_ms(rfc3339):
    t = datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    return int(round(t.timestamp() * 1000))


def column(meta_input, rows):
    """The numpy column of one input, in the datatype the server announces."""
    name, dt = meta_input["name"], meta_input["datatype"]
    vals = [r[name] for r in rows]
    if dt == "FP64":
        return np.array(vals, dtype=np.float64)
    if dt == "BOOL":
        return np.array(vals, dtype=np.bool_)
    if dt == "INT64":  # timestamps: epoch milliseconds
        return np.array([epoch_ms(v) if isinstance(v, str) else int(v) for v in vals], dtype=np.int64)
    if dt == "BYTES":
        return np.array([v.encode() for v in vals], dtype=np.object_)
    fail("unexpected datatype %s for input %s" % (dt, name))


def infer(client, meta, rows, binary, outputs=None):
    inputs = []
    for mi in meta["inputs"]:
        col = column(mi, rows)
        inp = httpclient.InferInput(mi["name"], [len(rows)], mi["datatype"])
        inp.set_data_from_numpy(col, binary_data=binary)
        inputs.append(inp)
    req_outputs = None
    if outputs is not None:
        req_outputs = [httpclient.InferRequestedOutput(o, binary_data=binary) for o in outputs]
    return client.infer(MODEL, inputs, outputs=req_outputs, request_id="interop-%d" % len(rows))


def main():
    url, ref_path = sys.argv[1], sys.argv[2]
    client = httpclient.InferenceServerClient(url=url)
    check(client.is_server_live(), "server not live")
    check(client.is_server_ready(), "server not ready")
    check(client.is_model_ready(MODEL), "model not ready")
    check(not client.is_model_ready("no-such-model"), "an unknown model is ready")
    server = client.get_server_metadata()
    check(server["name"] == "streamscore", "server metadata %r" % server)
    meta = client.get_model_metadata(MODEL)
    check(meta["name"] == MODEL and meta["versions"] == ["1.0.0"], "model metadata %r" % meta)
    outs = {o["name"]: o for o in meta["outputs"]}
    check(set(outs) == {"score", "probabilities", "label"}, "outputs %r" % meta["outputs"])
    check(outs["probabilities"]["shape"] == [-1, 2], "probabilities shape %r" % outs["probabilities"])

    # The reference rows XGBoost scored, with every input present (binary
    # tensors carry no missing values).
    names = [mi["name"] for mi in meta["inputs"]]
    rows, want, labels = [], [], []
    with open(ref_path) as f:
        for line in f:
            ref = json.loads(line)
            ev = ref["event"]
            if "scores" not in ref or any(ev.get(n) is None for n in names) or not isinstance(ev["timestamp"], str):
                continue
            rows.append(ev)
            want.append(ref["scores"])
            labels.append(ref["label"])
    check(len(rows) >= 1000, "only %d usable reference rows" % len(rows))
    want = np.array(want)

    worst = 0.0
    calls = 0
    batch = 500
    for start in range(0, len(rows), batch):
        part = rows[start:start + batch]
        res = infer(client, meta, part, binary=True)
        calls += 1
        probs = res.as_numpy("probabilities")
        score = res.as_numpy("score")
        label = res.as_numpy("label")
        check(probs.shape == (len(part), 2) and probs.dtype == np.float64, "probabilities %s %s" % (probs.shape, probs.dtype))
        check(score.shape == (len(part),), "score shape %s" % (score.shape,))
        diff = np.abs(probs - want[start:start + len(part)])
        worst = max(worst, float(diff.max()))
        bad = np.argwhere(diff > PROB_TOL)
        check(len(bad) == 0, "row %d: probabilities %s, XGBoost %s" % (
            start + bad[0][0] if len(bad) else 0, probs[bad[0][0]] if len(bad) else "", want[start + bad[0][0]] if len(bad) else ""))
        check(np.array_equal(score, probs[:, 1]), "score is not the High Risk probability")
        got_labels = [x.decode() for x in label]
        check(got_labels == labels[start:start + len(part)], "labels differ in rows %d.." % start)
        check(res.get_response()["id"] == "interop-%d" % len(part), "id not echoed: %r" % res.get_response().get("id"))

    # JSON tensors, chosen outputs.
    res = infer(client, meta, rows[:50], binary=False, outputs=["label", "probabilities"])
    calls += 1
    names_out = [o["name"] for o in res.get_response()["outputs"]]
    check(names_out == ["label", "probabilities"], "outputs %r" % names_out)
    check(np.allclose(res.as_numpy("probabilities"), want[:50], atol=PROB_TOL, rtol=0), "JSON tensors: probabilities differ")
    # JSON BYTES come back as str, binary ones as bytes.
    check([x.decode() if isinstance(x, bytes) else x for x in res.as_numpy("label")] == labels[:50], "JSON tensors: labels differ")

    # Errors reach the client.
    errors = 0
    for what, call in [
        ("unknown model", lambda: client.infer("no-such-model", [])),
        ("rejected row", lambda: client.infer(MODEL, [bad_amount()])),
    ]:
        try:
            call()
            fail(what + ": no error")
        except InferenceServerException as e:
            errors += 1
            msg = e.message()
            if what == "rejected row":
                check("wrong_type" in msg or "missing_field" in msg, "rejected row: %s" % msg)

    print(json.dumps({"rows": len(rows), "infer_calls": calls, "max_abs_diff": worst, "errors_checked": errors,
                      "server": server}))


def bad_amount():
    inp = httpclient.InferInput("amount", [1], "BYTES")
    inp.set_data_from_numpy(np.array([b"lots"], dtype=np.object_))
    return inp


if __name__ == "__main__":
    main()
