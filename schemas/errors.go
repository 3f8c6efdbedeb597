package schemas

import (
	"errors"
	"strings"
)

// Reason classifies why a record could not be decoded. The processor copies
// it into the DLQ record's reason header and uses it as a metric label, so the
// set is small and stable.
type Reason string

// The reasons a decoder reports. Every one of them is a property of the
// record (poison): retrying the same bytes gives the same answer.
const (
	ReasonMissingField    Reason = "missing_field"     // a required input is absent or null
	ReasonWrongType       Reason = "wrong_type"        // a value cannot fill the declared input type
	ReasonNotFinite       Reason = "not_finite"        // a number is NaN or ±Inf (or overflows float64)
	ReasonUnknownSchemaID Reason = "unknown_schema_id" // Confluent framing names a schema id the registry does not have (or not an Avro one)
	ReasonMalformed       Reason = "malformed"         // not valid JSON / Avro / Confluent framing
	ReasonTooLarge        Reason = "too_large"         // over MaxRecordBytes, MaxDepth or MaxFields
)

// DecodeError is the error a Decoder returns for a record that can never be
// decoded (poison). Any other error from Decode is transient (for example the
// schema registry could not be reached) and the same record may succeed later.
type DecodeError struct {
	Reason Reason
	Field  string // dotted path of the field at fault; empty when the fault is not in one field
	Err    error
}

// Error reads like "wrong_type: field amount: string is not a number".
func (e *DecodeError) Error() string {
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

func (e *DecodeError) Unwrap() error { return e.Err }

// IsPoison reports whether err is (or wraps) a *DecodeError, and its reason.
func IsPoison(err error) (Reason, bool) {
	if err == nil {
		return "", false // no allocation on the hot path
	}
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Reason, true
	}
	return "", false
}

func decErr(r Reason, field string, msg string) *DecodeError {
	return &DecodeError{Reason: r, Field: field, Err: errors.New(msg)}
}

// Errors returned by Encoder.Append. They are properties of the prediction,
// not of the output: the processor treats them as poison for that record.
var (
	// ErrNonFinite: the score or a probability is NaN or ±Inf.
	ErrNonFinite = errors.New("non-finite value")
	// ErrShape: Classes and Probs (or FeatureNames and Features) differ in length.
	ErrShape = errors.New("mismatched lengths")
)

// Configuration and setup errors, returned (wrapped) by Validate, NewDecoder,
// NewEncoder and NewRegistry.
var (
	ErrUnknownFormat   = errors.New("unknown format (want json, avro or confluent)")
	ErrNoAvroSchema    = errors.New("format avro needs an Avro writer schema (avro_schema)")
	ErrNoRegistry      = errors.New("format confluent needs a schema registry (registry url)")
	ErrNegativeLimit   = errors.New("limit must not be negative")
	ErrNoSubject       = errors.New("format confluent needs a subject or a topic to derive it from")
	ErrUnknownSchema   = errors.New("unknown embedded schema")
	ErrIncompatible    = errors.New("writer schema cannot feed the declared inputs")
	ErrNotAvro         = errors.New("schema is not Avro")
	ErrSchemaNotFound  = errors.New("schema not found in registry")
	ErrRegistryRequest = errors.New("schema registry request failed")
)
