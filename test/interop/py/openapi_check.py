"""Validate streamscore's OpenAPI document with a real OpenAPI validator.

openapi-spec-validator checks GET /openapi.json of a running `streamscore
serve` and the committed docs/openapi-fraud.json (they must be equal); then a
prediction and an error answer of POST /v1/predict are validated against the
document's Prediction and Error schemas, and events (one with categories never
seen in training) against its Event schema (OpenAPI 3.1: JSON Schema 2020-12,
openapi-schema-validator).

    python openapi_check.py HOST:PORT docs/openapi-fraud.json EVENT_JSON

Prints one JSON summary line; exits non-zero on failure.
"""

import json
import sys
import urllib.error
import urllib.request

from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate


def post(url, body):
    req = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def main():
    addr, committed_path, event = sys.argv[1], sys.argv[2], sys.argv[3]
    with urllib.request.urlopen("http://%s/openapi.json" % addr, timeout=30) as r:
        served = json.loads(r.read())
    with open(committed_path) as f:
        committed = json.load(f)
    validate(served)
    validate(committed)
    if served != committed:
        print("FAIL: GET /openapi.json differs from %s" % committed_path, file=sys.stderr)
        sys.exit(1)
    schemas = served["components"]["schemas"]

    code, pred = post("http://%s/v1/predict" % addr, event)
    if code != 200:
        print("FAIL: POST /v1/predict: %d %r" % (code, pred), file=sys.stderr)
        sys.exit(1)
    OAS31Validator(schemas["Prediction"]).validate(pred)
    OAS31Validator(schemas["Event"]).validate(json.loads(event))

    # A category never seen in training, and an integer category: the door
    # scores both, so a client that checks the Event schema must be able to
    # send them (the training categories are examples, not an enum).
    unseen = dict(json.loads(event), country="ZZ-never-seen", merchant_category=5411)
    OAS31Validator(schemas["Event"]).validate(unseen)
    code, pred = post("http://%s/v1/predict" % addr, json.dumps(unseen))
    if code != 200:
        print("FAIL: an unseen category answered %d %r" % (code, pred), file=sys.stderr)
        sys.exit(1)

    code, err = post("http://%s/v1/predict" % addr, '{"amount": "lots", "timestamp": 1}')
    if code != 400:
        print("FAIL: a rejected event answered %d %r" % (code, err), file=sys.stderr)
        sys.exit(1)
    OAS31Validator(schemas["Error"]).validate(err)

    code, arr = post("http://%s/v1/predict" % addr, "[%s, 7]" % event)
    if code != 200 or len(arr) != 2:
        print("FAIL: an array answered %d %r" % (code, arr), file=sys.stderr)
        sys.exit(1)
    for elem in arr:
        OAS31Validator(schemas["Prediction"] if "error" not in elem else schemas["Error"]).validate(elem)

    print(json.dumps({"openapi": served["openapi"], "paths": len(served["paths"]), "validated": ["document", "Prediction", "Event", "Event with unseen categories", "Error", "array elements"]}))


if __name__ == "__main__":
    main()
