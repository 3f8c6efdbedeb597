package schemas

import "errors"

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
	ErrNoTimeInput     = errors.New("names no timestamp input of the bundle")
	ErrNotAvro         = errors.New("schema is not Avro")
	ErrSchemaNotFound  = errors.New("schema not found in registry")
	ErrRegistryRequest = errors.New("schema registry request failed")
)
