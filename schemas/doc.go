// Package schemas turns record bytes into the row slots of a bundle's
// declared inputs, and predictions into record bytes.
//
// Input formats (InputConfig.Format):
//
//   - json: one JSON object per record, read by a hand-written scanner that
//     validates the whole text, skips undeclared fields and writes declared
//     ones straight into a features.Row, without allocating.
//   - avro: raw Avro binary written with a writer schema named in the
//     configuration (an embedded .avsc or a file).
//   - confluent: the Confluent wire format (magic byte 0, 4-byte big-endian
//     schema id, Avro binary); writer schemas come from a schema registry by
//     id and are cached.
//
// CSV files (the batch door) are not a record format of the stream:
// CSVReader splits a file into raw records after its header, and
// CSVDecoder, built from that header, decodes each with the JSON decoder's
// type rules and reasons.
//
// Avro writer schemas are compiled against the declared inputs into a plan
// that matches fields by name, so producers may add fields or drop optional
// ones. Output formats (OutputConfig.Format) are json, avro and confluent,
// all carrying the record described by the embedded avro/prediction.avsc.
// docs/formats.md is the user-facing description of the type rules, DLQ
// reasons and schema evolution.
//
// Lifecycle: at start, build one Registry (NewRegistry; nil when no URL is
// configured), one Encoder (NewEncoder; for confluent it registers the
// prediction schema), and one Decoder per worker goroutine (NewDecoder).
// Embedded schemas and their goavro codecs are built once per process, on
// first use.
//
// Concurrency: a Decoder owns scratch memory and serves one goroutine. The
// Registry and the Encoders are safe for concurrent use.
//
// Errors: Decode returns *reject.Error (with a Reason) for poison records and
// other errors for transient failures (the registry could not be reached).
// The package emits no metrics and starts no goroutines; it must not know
// about models or Kafka clients (only franz-go's pkg/sr registry client).
package schemas
