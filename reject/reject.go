// Package reject is the one vocabulary of why a record (or an HTTP event, or
// a row of a file) was not scored. Every stage and every door uses it: the
// decoders, the feature pipeline, the scorer, the encoders, the processor's
// DLQ headers and metric labels, `streamscore score` and the HTTP API. The
// set is small and stable: reasons are metric label values and DLQ header
// values that downstream tooling branches on. docs/formats.md lists them (a
// test keeps the table and Reasons in step).
package reject

import (
	"errors"
	"strings"
)

// Reason says why a record was not scored.
type Reason string

// The reasons. Every one is a property of the record (poison): the same
// bytes give the same answer on a retry.
const (
	MissingField    Reason = "missing_field"     // a required input is absent or null
	WrongType       Reason = "wrong_type"        // a value cannot fill its input's declared type
	NotFinite       Reason = "not_finite"        // a number is NaN or ±Inf (or out of float64 range), or the pipeline made one
	UnknownSchemaID Reason = "unknown_schema_id" // Confluent framing names a schema id the registry does not have (or not an Avro one)
	Malformed       Reason = "malformed"         // not valid JSON / CSV / Avro / Confluent framing
	TooLarge        Reason = "too_large"         // over a size, depth or field-count limit
	OutOfRange      Reason = "out_of_range"      // outside the training range under out_of_range: reject
	UnknownCategory Reason = "unknown_category"  // a category not seen in training under unknown: reject
	EncodeFailed    Reason = "encode_failed"     // the prediction could not be encoded
	Internal        Reason = "internal_error"    // the service panicked on this record (a bug)
	// PostgresRefused is the sink's: a valid prediction record the table
	// refused (a constraint, an index limit, a value its column cannot hold).
	PostgresRefused Reason = "postgres_refused"
)

// Stage is where in the path a record failed. It labels DLQ records and metrics.
type Stage string

// The stages of the record path, in order.
const (
	StageDecode   Stage = "decode"   // bytes -> row (schemas)
	StageFeatures Stage = "features" // row -> features -> model -> policy (features, scoring)
	StageEncode   Stage = "encode"   // prediction -> bytes (schemas)
	// StageSink is past the prediction topic: a prediction record -> a
	// table row (pgsink). No door answers with it.
	StageSink Stage = "sink"
)

// Info describes one reason for docs and tooling.
type Info struct {
	Reason Reason
	Stages []Stage // where it can happen
	Doc    string  // one line, as docs/formats.md shows it
}

// Reasons lists every reason with the stages that give it, in a stable order.
func Reasons() []Info {
	return []Info{
		{MissingField, []Stage{StageDecode, StageFeatures}, "a `required` input is absent or null (or not in the writer schema)"},
		{WrongType, []Stage{StageDecode}, "a value cannot fill its input's type"},
		{NotFinite, []Stage{StageDecode, StageFeatures}, "a number is NaN, ±Inf or out of float64 range, or the pipeline or model made one"},
		{UnknownSchemaID, []Stage{StageDecode}, "Confluent framing names a schema id the registry does not have, or one that is not a usable Avro schema"},
		{Malformed, []Stage{StageDecode}, "not a JSON object / not a CSV row / not Avro of its writer schema / bad Confluent framing; an empty or null (tombstone) value"},
		{TooLarge, []Stage{StageDecode}, "over a size, nesting or key-count limit"},
		{OutOfRange, []Stage{StageFeatures}, "outside the training range under `out_of_range: reject`"},
		{UnknownCategory, []Stage{StageFeatures}, "a category never seen in training under `unknown: reject`"},
		{EncodeFailed, []Stage{StageEncode}, "the prediction could not be encoded (for example a non-finite score)"},
		{Internal, []Stage{StageDecode, StageFeatures, StageEncode}, "the service panicked on this record (a bug); the panic text is in the error"},
		{PostgresRefused, []Stage{StageSink}, "a valid prediction record the sink's table refused (a constraint, an index limit, a value its column cannot hold)"},
	}
}

// OnRecordPath reports whether the reason can happen on the path from an
// event to its prediction (decode, features, encode): the reasons a door
// can answer with, unlike the sink's.
func (i Info) OnRecordPath() bool {
	for _, s := range i.Stages {
		if s == StageDecode || s == StageFeatures || s == StageEncode {
			return true
		}
	}
	return false
}

// Known reports whether r is one of the reasons above.
func Known(r Reason) bool {
	for _, i := range Reasons() {
		if i.Reason == r {
			return true
		}
	}
	return false
}

// Error is a poison record: the reason, the field at fault (dotted path;
// empty when the fault is not in one field) and the detail.
type Error struct {
	Reason Reason
	Field  string
	Err    error
}

// Error reads like "wrong_type: field amount: string is not a number".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Reason))
	if e.Field != "" {
		b.WriteString(": field ")
		b.WriteString(e.Field)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Of reports whether err is (or wraps) an *Error, and its reason. Any other
// error is not the record's fault (transient: a registry unreachable).
func Of(err error) (Reason, bool) {
	if err == nil {
		return "", false // no allocation on the hot path
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason, true
	}
	return "", false
}
