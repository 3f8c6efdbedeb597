package processor

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Delivery modes.
const (
	AtLeastOnce = "at-least-once"
	ExactlyOnce = "exactly-once"
)

// Secret is a string that never prints: logs and `streamscore config` show
// "[redacted]" for a non-empty value.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// MarshalText keeps secrets out of YAML/JSON dumps of the configuration.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// KafkaConfig says how to reach the cluster.
type KafkaConfig struct {
	// Brokers is a comma separated seed list, or "embedded" (or empty) for
	// the in-process broker meant for trying things out.
	Brokers  string         `mapstructure:"brokers"`
	ClientID string         `mapstructure:"client_id"`
	TLS      bool           `mapstructure:"tls"`
	SASL     SASLConfig     `mapstructure:"sasl"`
	Embedded EmbeddedConfig `mapstructure:"embedded"`
}

// SASLConfig enables SASL authentication when Mechanism is set.
type SASLConfig struct {
	Mechanism string `mapstructure:"mechanism"` // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	Username  string `mapstructure:"username"`
	Password  Secret `mapstructure:"password"`
}

// EmbeddedConfig configures the in-process broker.
type EmbeddedConfig struct {
	DataDir    string `mapstructure:"data_dir"`
	Partitions int32  `mapstructure:"partitions"`
	Port       int    `mapstructure:"port"`
}

// IsEmbedded reports whether the in-process broker is asked for.
func (k KafkaConfig) IsEmbedded() bool {
	b := strings.TrimSpace(k.Brokers)
	return b == "" || b == "embedded"
}

// SeedBrokers splits the broker list.
func (k KafkaConfig) SeedBrokers() []string {
	var out []string
	for _, b := range strings.Split(k.Brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Config is the processor's own configuration: topics, group, delivery and
// the bounds that keep memory and the replay window small.
type Config struct {
	InputTopic  string
	OutputTopic string
	DLQTopic    string
	Group       string

	Delivery string // at-least-once | exactly-once
	// InstanceID is the static group member id (KIP-345): a restarted
	// instance takes its partitions back without a group-wide rebalance.
	InstanceID     string
	SessionTimeout time.Duration
	// CommitInterval bounds the replay window after a crash (at-least-once).
	CommitInterval  time.Duration
	ShutdownTimeout time.Duration
	// TransactionTimeout must stay below SessionTimeout's rebalance window.
	TransactionTimeout time.Duration

	// BatchMaxRecords caps a micro-batch. A batch is whatever one fetch
	// returned for a partition, so there is no added wait for it to fill.
	BatchMaxRecords int
	// MaxInflightRecords and MaxInflightBytes cap records between fetch and
	// broker acknowledgement; past them consumption waits (backpressure).
	MaxInflightRecords int
	MaxInflightBytes   int
	// MaxRecordBytes is the largest record the producer may write (the DLQ
	// keeps original bytes, so this must cover the largest input).
	MaxRecordBytes int
	Compression    string // none, gzip, snappy, lz4, zstd
	// Linger is how long the producer waits to fill a batch: throughput
	// against latency.
	Linger time.Duration

	CreateTopics    bool
	TopicPartitions int32
	LagRefresh      time.Duration
}

// Named configuration errors, so callers and tests can tell them apart.
var (
	ErrNoInputTopic  = errors.New("input.topic is empty")
	ErrNoOutputTopic = errors.New("output.topic is empty")
	ErrNoDLQTopic    = errors.New("dlq.topic is empty")
	ErrNoGroup       = errors.New("input.group is empty")
)

// Validate checks the configuration and names the first wrong key.
func (c *Config) Validate() error {
	switch {
	case c.InputTopic == "":
		return ErrNoInputTopic
	case c.OutputTopic == "":
		return ErrNoOutputTopic
	case c.DLQTopic == "":
		return ErrNoDLQTopic
	case c.Group == "":
		return ErrNoGroup
	}
	if c.InputTopic == c.OutputTopic || c.InputTopic == c.DLQTopic || c.OutputTopic == c.DLQTopic {
		return fmt.Errorf("input.topic %q, output.topic %q and dlq.topic %q must differ", c.InputTopic, c.OutputTopic, c.DLQTopic)
	}
	if c.Delivery != AtLeastOnce && c.Delivery != ExactlyOnce {
		return fmt.Errorf("processor.delivery %q: want %s or %s", c.Delivery, AtLeastOnce, ExactlyOnce)
	}
	if c.BatchMaxRecords < 1 {
		return fmt.Errorf("processor.batch_max_records %d: must be at least 1", c.BatchMaxRecords)
	}
	if c.MaxInflightRecords < c.BatchMaxRecords {
		return fmt.Errorf("processor.max_inflight_records %d: must be at least batch_max_records (%d)", c.MaxInflightRecords, c.BatchMaxRecords)
	}
	if c.MaxRecordBytes < 1024 {
		return fmt.Errorf("processor.max_record_bytes %d: must be at least 1024", c.MaxRecordBytes)
	}
	if c.MaxInflightBytes < c.MaxRecordBytes {
		return fmt.Errorf("processor.max_inflight_bytes %d: must be at least max_record_bytes (%d)", c.MaxInflightBytes, c.MaxRecordBytes)
	}
	if c.Linger < 0 {
		return fmt.Errorf("processor.linger %s: must not be negative", c.Linger)
	}
	if _, err := compressionCodec(c.Compression); err != nil {
		return err
	}
	for name, d := range map[string]time.Duration{
		"processor.session_timeout": c.SessionTimeout, "processor.commit_interval": c.CommitInterval,
		"processor.shutdown_timeout":    c.ShutdownTimeout,
		"processor.transaction_timeout": c.TransactionTimeout, "processor.lag_refresh": c.LagRefresh,
	} {
		if d <= 0 {
			return fmt.Errorf("%s %s: must be positive", name, d)
		}
	}
	if c.Delivery == ExactlyOnce && c.TransactionTimeout > c.SessionTimeout {
		// A transaction outliving the member's session could commit offsets
		// for partitions the group already gave to someone else.
		return fmt.Errorf("processor.transaction_timeout %s: must not exceed processor.session_timeout %s", c.TransactionTimeout, c.SessionTimeout)
	}
	return nil
}
