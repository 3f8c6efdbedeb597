// Package features turns a bundle's declared inputs and feature spec into the
// exact numeric vector the model was trained on.
//
// Training used a scikit-learn pipeline (imputers, scalers, encoders,
// KBinsDiscretizer) plus a few pandas-style derived columns; this package
// reproduces those transforms number for number, so serving and training agree.
//
// Lifecycle:
//  1. NewLayout assigns every declared input a fixed slot in a Row.
//  2. Compile checks the feature spec and compiles it into a Pipeline: a flat
//     program over row slots, one small record per feature (source slot,
//     category encoding, a short list of numeric steps, output column).
//     Category hash tables, bucket edges and time-zone transition tables are
//     built here, once. Each step op is one type (op_*.go) registered by name
//     in spec.go: its fields are its JSON keys, its compile method emits its
//     part of the program.
//  3. Decoders fill a Row (package schemas: JSON, Avro, Confluent and CSV,
//     the same for every door).
//  4. Pipeline.Transform writes the model columns into a caller-owned slice.
//     It does not allocate, takes no locks and never panics on record content;
//     records that must go to the DLQ come back as a Reject with a reason.
//
// Concurrency: a Layout and a Pipeline are immutable after construction and
// safe for concurrent use. A Row and a Counts belong to one goroutine. Counts
// (out-of-range values and unknown categories per feature) are plain integers
// that the owning worker increments and reads; the processor turns them into
// metrics. This package emits no metrics itself and imports no Kafka,
// Prometheus or configuration packages.
package features
