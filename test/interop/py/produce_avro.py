"""Produce events in the Confluent Avro wire format with confluent-kafka.

Used by the Go tests in test/interop (see avro_test.go); not a tool for users.

    produce_avro.py --bootstrap HOST:PORT --registry URL --topic T --subject S \
        --schema 1=PATH.avsc [--schema 2=PATH.avsc] --events FILE

FILE holds JSON lines, one step each:

    {"key": "k", "schema": 1, "event": {...}}   serialise event with schema 1, produce it
    {"pause": "label"}                          flush (every earlier record acknowledged),
                                                print {"paused": label, "produced": n} on
                                                stdout and wait for one line on stdin

A schema is registered under the subject the first time an event uses it, so a
schema that first appears after a pause is registered mid-stream. The registry
is spoken to by confluent-kafka's own client (SchemaRegistryClient: POST
/subjects/S/versions to register, POST /subjects/S to look the schema up) and
the values are made by its AvroSerializer (byte 0, the 4-byte big-endian
schema id, the Avro body), with auto-registration off: it must find the id
registered before. Each value's framing is checked against that id. Stdout gets one JSON line
per pause and per registration, and a final {"done": true, ...} line; the exit
status is 0 only if every record was acknowledged by the broker.
"""

import json
import sys

import confluent_kafka
import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

import confluent_wire


def emit(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


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
        fastavro.parse_schema(raw)  # a bad schema fails here, before anything is produced
        schemas[int(n)] = {"text": text, "fields": raw["fields"], "id": None, "serializer": None}

    registry = SchemaRegistryClient({"url": args.registry})
    ctx = SerializationContext(args.topic, MessageField.VALUE)

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
                # The text without surrounding whitespace, as AvroSerializer sends it in its
                # look-up: Apicurio Registry (deploy/registry) finds a schema under a subject
                # by its exact text, Confluent's registry by the parsed schema.
                sch["id"] = registry.register_schema(args.subject, Schema(sch["text"].strip(), "AVRO"))
                sch["serializer"] = AvroSerializer(registry, sch["text"], conf={
                    "auto.register.schemas": False,
                    "subject.name.strategy": lambda _ctx, _name: args.subject,
                })
                emit({"registered": step["schema"], "id": sch["id"], "subject": args.subject})
            value = sch["serializer"](to_datum(sch["fields"], step["event"]), ctx)
            sid, _ = confluent_wire.split(value)
            if sid != sch["id"]:
                raise SystemExit("produce_avro: AvroSerializer framed a value with schema id %d, registered %d" % (sid, sch["id"]))
            while True:
                try:
                    p.produce(args.topic, key=step["key"].encode(), value=value, on_delivery=on_delivery)
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
