package httpapi

import (
	"fmt"
	"time"
)

// Config is the HTTP door's configuration. Keys are those of the `http`
// section (http.predict, http.max_body_bytes, ...); the help tags are the
// text --help and docs/configuration.md show.
type Config struct {
	// Predict serves the prediction API in `streamscore run` beside the
	// stream (`streamscore serve` always serves it).
	Predict bool `config:"predict" help:"serve /v1/predict, the Open Inference Protocol v2 and /openapi.json in run too (serve always does)"`
	// Listen is the predict listener; empty shares http.listen (/metrics,
	// /healthz, /readyz, and the admin routes without http.admin_listen).
	Listen string `config:"predict_listen" help:"address of the prediction API (empty: the http.listen listener)"`
	// MaxBodyBytes bounds a request body; past it the answer is 413.
	MaxBodyBytes int `config:"max_body_bytes" help:"largest request body; larger ones get 413"`
	// MaxEvents bounds the events of one request: a door holds a few
	// hundred bytes per event while it scores and answers, so a body of
	// tiny events ({} is 3 bytes) could otherwise cost a hundred times its
	// size.
	MaxEvents int `config:"max_events" help:"most events one request carries (a /v1/predict array, an infer request's rows); more get 413"`
	// RequestTimeout bounds one request: reading the body, scoring and, with
	// LogToTopic, waiting for the broker's acknowledgement.
	RequestTimeout time.Duration `config:"request_timeout" help:"per-request deadline: the body must arrive within it (else 408) and the prediction log acknowledge within it (else 503)"`
	// IdleTimeout closes keep-alive connections idle this long.
	IdleTimeout time.Duration `config:"idle_timeout" help:"keep-alive connections idle this long are closed"`
	// MaxConcurrent is how many prediction requests run at once; more get 429.
	MaxConcurrent int `config:"max_concurrent" help:"prediction requests served at once; more get 429 with Retry-After"`
	// LogToTopic also produces every HTTP prediction to the output topic
	// (rejected events to the DLQ topic).
	LogToTopic bool `config:"log_to_topic" help:"also produce every HTTP prediction to output.topic (rejects to dlq.topic), header streamscore-door: http"`
	// LogAck answers only after the broker acknowledged the log records; a
	// broker outage then answers 503 rather than losing records. Off: the
	// records are buffered and the answer does not wait.
	LogAck bool `config:"log_ack" help:"with log_to_topic: answer after the broker acknowledged (off: fire and forget, records can be lost)"`
	// ShutdownTimeout bounds the graceful drain of in-flight requests.
	ShutdownTimeout time.Duration `config:"shutdown_timeout" help:"graceful stop: in-flight requests finish within this (new ones get 503)"`
}

// Defaults is the configuration every key starts from.
func Defaults() Config {
	return Config{
		MaxBodyBytes:    4 << 20,
		MaxEvents:       10000,
		RequestTimeout:  5 * time.Second,
		IdleTimeout:     2 * time.Minute,
		MaxConcurrent:   256,
		LogAck:          true,
		ShutdownTimeout: 10 * time.Second,
	}
}

// Validate checks c. Errors name the key and show the bad value.
func (c Config) Validate() error {
	switch {
	case c.MaxBodyBytes <= 0:
		return fmt.Errorf("http.max_body_bytes %d: want a positive number of bytes", c.MaxBodyBytes)
	case c.MaxEvents <= 0:
		return fmt.Errorf("http.max_events %d: want at least 1", c.MaxEvents)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("http.request_timeout %s: want a positive duration", c.RequestTimeout)
	case c.IdleTimeout <= 0:
		return fmt.Errorf("http.idle_timeout %s: want a positive duration", c.IdleTimeout)
	case c.MaxConcurrent <= 0:
		return fmt.Errorf("http.max_concurrent %d: want at least 1", c.MaxConcurrent)
	case c.ShutdownTimeout <= 0:
		return fmt.Errorf("http.shutdown_timeout %s: want a positive duration", c.ShutdownTimeout)
	}
	return nil
}
