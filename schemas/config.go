package schemas

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Formats accepted by InputConfig.Format and OutputConfig.Format.
const (
	FormatJSON      = "json"      // UTF-8 JSON object per record
	FormatAvro      = "avro"      // raw Avro binary, one datum per record, schema known out of band
	FormatConfluent = "confluent" // magic byte 0, 4-byte big-endian schema id, Avro binary
)

// Defaults applied by InputConfig.WithDefaults (zero means "use the default").
const (
	DefaultMaxRecordBytes  = 1 << 20 // 1 MiB
	DefaultMaxDepth        = 64
	DefaultMaxFields       = 10000
	DefaultRegistryTimeout = 5 * time.Second
)

// InputConfig says how the input topic's record values are decoded.
type InputConfig struct {
	Format         string // json | avro | confluent; empty means json
	AvroSchema     string // format avro: writer schema, an embedded name (fraud_transaction) or a file path
	NumericStrings bool   // number inputs also accept strings holding a number ("12.5")
	MaxRecordBytes int    // larger values are too_large; 0 means DefaultMaxRecordBytes
	MaxDepth       int    // JSON nesting deeper than this is too_large; 0 means DefaultMaxDepth
	MaxFields      int    // JSON objects with more keys in all than this are too_large; 0 means DefaultMaxFields
	EventIDField   string // dotted path of the event id (string or integer); empty means none
}

// WithDefaults returns c with zero fields set to their defaults.
func (c InputConfig) WithDefaults() InputConfig {
	if c.Format == "" {
		c.Format = FormatJSON
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.MaxDepth == 0 {
		c.MaxDepth = DefaultMaxDepth
	}
	if c.MaxFields == 0 {
		c.MaxFields = DefaultMaxFields
	}
	return c
}

// Validate checks c (after defaults). Errors wrap the Err* values of this package.
func (c InputConfig) Validate() error {
	c = c.WithDefaults()
	switch c.Format {
	case FormatJSON, FormatConfluent:
	case FormatAvro:
		if c.AvroSchema == "" {
			return fmt.Errorf("input: %w", ErrNoAvroSchema)
		}
	default:
		return fmt.Errorf("input format %q: %w", c.Format, ErrUnknownFormat)
	}
	if c.MaxRecordBytes < 0 || c.MaxDepth < 0 || c.MaxFields < 0 {
		return fmt.Errorf("input max_record_bytes/max_depth/max_fields: %w", ErrNegativeLimit)
	}
	return nil
}

// OutputConfig says how predictions are encoded.
type OutputConfig struct {
	Format       string // json | avro | confluent; empty means json
	Subject      string // format confluent: registry subject; empty means Topic + "-value" (TopicNameStrategy)
	Topic        string // output topic, used to derive Subject
	EchoFeatures bool   // include the model's input columns in each prediction
}

// WithDefaults returns c with zero fields set to their defaults.
func (c OutputConfig) WithDefaults() OutputConfig {
	if c.Format == "" {
		c.Format = FormatJSON
	}
	if c.Subject == "" && c.Topic != "" {
		c.Subject = c.Topic + "-value"
	}
	return c
}

// Validate checks c (after defaults).
func (c OutputConfig) Validate() error {
	c = c.WithDefaults()
	switch c.Format {
	case FormatJSON, FormatAvro:
	case FormatConfluent:
		if c.Subject == "" {
			return fmt.Errorf("output: %w", ErrNoSubject)
		}
	default:
		return fmt.Errorf("output format %q: %w", c.Format, ErrUnknownFormat)
	}
	return nil
}

// RegistryConfig locates a Confluent-compatible schema registry.
type RegistryConfig struct {
	URL      string        // base URL; several may be given separated by commas; empty means no registry
	Username string        // HTTP basic auth user; empty means no auth
	Password Secret        // HTTP basic auth password
	Timeout  time.Duration // per request; 0 means DefaultRegistryTimeout
}

// Validate checks c.
func (c RegistryConfig) Validate() error {
	if c.Timeout < 0 {
		return fmt.Errorf("registry timeout: %w", ErrNegativeLimit)
	}
	for _, u := range c.urls() {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("registry url %q: want http:// or https://", u)
		}
	}
	return nil
}

func (c RegistryConfig) urls() []string {
	var out []string
	for _, u := range strings.Split(c.URL, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// Secret is a string that never prints: fmt (every verb), encoding/json and
// YAML (through MarshalText) and log/slog all show "[redacted]". Use Reveal
// to get the value.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string   { return redacted }
func (s Secret) GoString() string { return `"` + redacted + `"` }

// Format makes every fmt verb (%d and %x included) print "[redacted]".
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalText is used by encoding/json and YAML encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// UnmarshalText keeps decoding from text configuration working.
func (s *Secret) UnmarshalText(b []byte) error { *s = Secret(b); return nil }

// LogValue keeps log/slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }
