"""Read a topic of Confluent-Avro records with confluent-kafka and fastavro.

Used by the Go tests in test/interop (see avro_test.go); not a tool for users.

    consume_avro.py --bootstrap HOST:PORT --registry URL --topic T [--timeout SECONDS]

Assigns every partition of T from the beginning (isolation.level
read_committed) and reads until the end of each partition. Every record is
decoded by confluent-kafka's AvroDeserializer, which fetches the writer schema
by id with its SchemaRegistryClient (GET /schemas/ids/{id}). The framing
(magic byte 0, 4-byte schema id) is checked here too, and the body is decoded
a second time with fastavro and the writer schema the client returns, to check
that it is consumed exactly (the deserializer ignores trailing bytes) and
decodes to the same record. Prints one JSON line per record:

    {"partition", "offset", "timestamp", "key", "schema_id", "value_hex", "record"}

timestamp-millis values are printed as epoch milliseconds. Exits non-zero on
any error or if the end of some partition is not reached within the timeout.
"""

import datetime
import io
import json
import sys
import time

import confluent_kafka
import fastavro
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

import confluent_wire

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def plain(v):
    if isinstance(v, datetime.datetime):
        return (v - EPOCH) // datetime.timedelta(milliseconds=1)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def main():
    ap = confluent_wire.arg_parser()
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()

    registry = SchemaRegistryClient({"url": args.registry})
    deserializer = AvroDeserializer(registry)
    ctx = SerializationContext(args.topic, MessageField.VALUE)
    schemas = {}

    def writer_schema(sid):
        if sid not in schemas:
            schemas[sid] = fastavro.parse_schema(json.loads(registry.get_schema(sid).schema_str))
        return schemas[sid]

    c = confluent_kafka.Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": "interop-consume-avro",  # required by the client; no offsets are committed
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
    })
    try:
        md = c.list_topics(args.topic, timeout=10)
        tm = md.topics.get(args.topic)
        if tm is None or tm.error is not None or not tm.partitions:
            raise SystemExit("consume_avro: topic %s: %s" % (args.topic, tm.error if tm else "not found"))
        parts = sorted(tm.partitions)
        c.assign([confluent_kafka.TopicPartition(args.topic, p, confluent_kafka.OFFSET_BEGINNING) for p in parts])
        at_end = set()
        n = 0
        deadline = time.monotonic() + args.timeout
        while len(at_end) < len(parts):
            if time.monotonic() > deadline:
                raise SystemExit("consume_avro: end of partitions %s not reached within %ss (%d records read)"
                                 % (sorted(set(parts) - at_end), args.timeout, n))
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition())
                    continue
                raise SystemExit("consume_avro: %s" % msg.error())
            at_end.discard(msg.partition())
            value = msg.value() or b""
            try:
                sid, avro = confluent_wire.split(value)
            except ValueError as e:
                raise SystemExit("consume_avro: partition %d offset %d: %s" % (msg.partition(), msg.offset(), e))
            rec = deserializer(value, ctx)
            body = io.BytesIO(avro)
            again = fastavro.schemaless_reader(body, writer_schema(sid), None)
            if body.tell() != len(avro):
                raise SystemExit("consume_avro: partition %d offset %d: %d trailing bytes after the Avro body"
                                 % (msg.partition(), msg.offset(), len(avro) - body.tell()))
            if plain(again) != plain(rec):
                raise SystemExit("consume_avro: partition %d offset %d: AvroDeserializer read %r, fastavro %r"
                                 % (msg.partition(), msg.offset(), plain(rec), plain(again)))
            key = msg.key()
            print(json.dumps({
                "partition": msg.partition(),
                "offset": msg.offset(),
                "timestamp": msg.timestamp()[1],
                "key": None if key is None else key.decode("utf-8"),
                "schema_id": sid,
                "value_hex": value.hex(),
                "record": plain(rec),
            }, sort_keys=True))
            n += 1
        print("consume_avro: %d records from %d partitions, schema ids %s" % (n, len(parts), sorted(schemas)),
              file=sys.stderr)
    finally:
        c.close()


if __name__ == "__main__":
    main()
