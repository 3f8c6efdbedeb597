"""What produce_avro.py and consume_avro.py share: the arguments naming the
broker, the schema registry (the URL of its Confluent-compatible API) and the
topic, and a check of the Confluent wire format of a record value (byte 0, the
4-byte big-endian schema id, then the Avro body): confluent-kafka's serializers
write and read it, these scripts check what they wrote and read.

Used by the Go tests in test/interop (see avro_test.go); not a tool for users.
"""

import argparse
import struct

HEADER = struct.Struct(">bI")


def arg_parser():
    """An ArgumentParser with --bootstrap, --registry and --topic (all required)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--topic", required=True)
    return ap


def split(value):
    """The schema id and the Avro body of a record value; ValueError when the
    value is not in the wire format."""
    if len(value) < HEADER.size or value[0] != 0:
        raise ValueError("not Confluent framing: %r" % value[:8])
    return HEADER.unpack(value[:HEADER.size])[1], value[HEADER.size:]
