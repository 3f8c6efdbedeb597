"""Produce events in the Confluent Avro wire format with confluent-kafka.

Used by the Go tests in test/interop (see avro_test.go); not a tool for users.

    produce_avro.py --bootstrap HOST:PORT --registry URL --topic T --subject S \
        --schema 1=PATH.avsc [--schema 2=PATH.avsc] --events FILE

FILE holds JSON lines, one step each:

    {"key": "k", "schema": 1, "event": {...}}   serialise event with schema 1, produce it
    {"pause": "label"}                          flush (every earlier record acknowledged),
                                                print {"paused": label, "produced": n} on
                                                stdout and wait for one line on stdin

A schema is registered under the subject (POST /subjects/S/versions, plain
urllib) the first time an event uses it, so a schema that first appears after
a pause is registered mid-stream. The record value is byte 0, the 4-byte
big-endian schema id and the fastavro binary body. Stdout gets one JSON line
per pause and per registration, and a final {"done": true, ...} line; the exit
status is 0 only if every record was acknowledged by the broker.
"""

import io
import json
import sys
import urllib.parse
import urllib.request

import confluent_kafka
import fastavro

import confluent_wire


def emit(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


def register(registry, subject, schema_text):
    body = json.dumps({"schema": schema_text}).encode()
    req = urllib.request.Request(
        registry.rstrip("/") + "/subjects/" + urllib.parse.quote(subject, safe="") + "/versions",
        data=body,
        method="POST",
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(json.load(resp)["id"])


def non_null(t):
    """The non-null branch of a ["null", T] union, or t itself."""
    if isinstance(t, list):
        rest = [b for b in t if b != "null"]
        return rest[0] if len(rest) == 1 else t
    return t


def to_datum(fields, event):
    """The record fastavro writes: exactly the schema's fields, in order.

    A field the event lacks takes the schema default (it must have one); an int
    for a double field becomes a float (JSON has one number type)."""
    out = {}
    for f in fields:
        name = f["name"]
        if name in event:
            v = event[name]
        elif "default" in f:
            v = f["default"]
        else:
            raise ValueError("event lacks field %r, which has no default" % name)
        if non_null(f["type"]) in ("double", "float") and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        out[name] = v
    return out


def main():
    ap = confluent_wire.arg_parser()
    ap.add_argument("--subject", required=True)
    ap.add_argument("--schema", action="append", default=[], help="N=PATH.avsc")
    ap.add_argument("--events", required=True)
    args = ap.parse_args()

    schemas = {}
    for s in args.schema:
        n, path = s.split("=", 1)
        with open(path) as f:
            text = f.read()
        raw = json.loads(text)
        schemas[int(n)] = {"text": text, "fields": raw["fields"], "parsed": fastavro.parse_schema(raw), "id": None}

    failures = []
    acked = [0]

    def on_delivery(err, msg):
        if err is not None:
            failures.append("%s: %s" % (msg.key(), err))
        else:
            acked[0] += 1

    p = confluent_kafka.Producer({
        "bootstrap.servers": args.bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": 60000,
    })

    def flush():
        left = p.flush(60)
        if left:
            raise SystemExit("produce_avro: %d records still unacknowledged after 60s" % left)
        if failures:
            raise SystemExit("produce_avro: %d deliveries failed, first: %s" % (len(failures), failures[0]))

    produced = 0
    with open(args.events) as f:
        for line in f:
            step = json.loads(line)
            if "pause" in step:
                flush()
                emit({"paused": step["pause"], "produced": produced, "acked": acked[0]})
                if not sys.stdin.readline():
                    raise SystemExit("produce_avro: stdin closed during pause %r" % step["pause"])
                continue
            sch = schemas[step["schema"]]
            if sch["id"] is None:
                sch["id"] = register(args.registry, args.subject, sch["text"])
                emit({"registered": step["schema"], "id": sch["id"], "subject": args.subject})
            buf = io.BytesIO()
            buf.write(confluent_wire.header(sch["id"]))
            fastavro.schemaless_writer(buf, sch["parsed"], to_datum(sch["fields"], step["event"]))
            while True:
                try:
                    p.produce(args.topic, key=step["key"].encode(), value=buf.getvalue(), on_delivery=on_delivery)
                    break
                except BufferError:
                    p.poll(0.1)
            produced += 1
            p.poll(0)
    flush()
    emit({
        "done": True,
        "produced": produced,
        "acked": acked[0],
        "ids": {str(n): s["id"] for n, s in schemas.items()},
        "confluent_kafka": confluent_kafka.__version__,
        "librdkafka": confluent_kafka.libversion()[0],
        "fastavro": fastavro.__version__,
    })


if __name__ == "__main__":
    main()
