package processor

import (
	"errors"
	"fmt"
	"github.com/streamscore/streamscore/drift"
	"github.com/streamscore/streamscore/secret"
	"maps"
	"slices"
	"strings"
	"time"
)

// Delivery modes.
const (
	AtLeastOnce = "at-least-once"
	ExactlyOnce = "exactly-once"
)

// KafkaConfig says how to reach the cluster: the "kafka" section of the
// service configuration. Field tags name the keys (`config`) and say what
// they do (`help`); the service builds its flags, environment variables
// and docs from them.
type KafkaConfig struct {
	Brokers  string     `config:"brokers" help:"seed brokers host:port,host:port (required; the string embedded starts the in-process broker, for trying things out only)"`
	ClientID string     `config:"client_id" help:"client id sent to the brokers"`
	TLS      TLSConfig  `config:"tls"`
	SASL     SASLConfig `config:"sasl"`
}

// TLSConfig turns on TLS to the brokers.
type TLSConfig struct {
	Enabled bool `config:"enabled" help:"connect with TLS, verifying the brokers against the system roots"`
}

// SASLConfig enables SASL authentication when Mechanism is set.
type SASLConfig struct {
	Mechanism string       `config:"mechanism" help:"SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: none)"`
	Username  string       `config:"username" help:"SASL user"`
	Password  secret.Value `config:"password" help:"SASL password"`
}

// DefaultKafkaConfig is the kafka section's defaults. Brokers has none: a
// service that does not say where its cluster is must not start.
func DefaultKafkaConfig() KafkaConfig {
	return KafkaConfig{ClientID: "streamscore"}
}

// ErrNoBrokers is returned by KafkaConfig.Validate when kafka.brokers is empty.
var ErrNoBrokers = errors.New("kafka.brokers is not set")

// Validate checks the kafka section (kafka.sasl validates itself).
func (k KafkaConfig) Validate() error {
	if len(k.SeedBrokers()) == 0 {
		return ErrNoBrokers
	}
	return k.SASL.Validate()
}

// Validate checks that the mechanism is one ClientOpts knows and has a user.
func (s SASLConfig) Validate() error {
	if s.Mechanism == "" {
		return nil
	}
	if _, ok := saslMechanisms[strings.ToUpper(s.Mechanism)]; !ok {
		return fmt.Errorf("kafka.sasl.mechanism %q: want %s", s.Mechanism, strings.Join(slices.Sorted(maps.Keys(saslMechanisms)), ", "))
	}
	if s.Username == "" {
		return fmt.Errorf("kafka.sasl.username is empty: kafka.sasl.mechanism %s needs a user", s.Mechanism)
	}
	return nil
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

// Config is the processor's own configuration: the "processor" section
// (topics and group come from the service's input, output and dlq sections)
// with delivery and the bounds that keep memory and the replay window small.
type Config struct {
	// The topics and the group are set by the caller from the input,
	// output and dlq sections; they are not keys of this section.
	InputTopic  string `config:"-"`
	OutputTopic string `config:"-"`
	DLQTopic    string `config:"-"`
	Group       string `config:"-"`
	// Drift is the monitor section, set by the caller (zero: monitoring off).
	Drift drift.Config `config:"-"`

	Delivery string `config:"delivery" help:"at-least-once or exactly-once (transactions; readers use read_committed)"`
	// InstanceID is the static group member id (KIP-345): a restarted
	// instance takes its partitions back without a group-wide rebalance.
	InstanceID     string        `config:"instance_id" help:"static group member id (KIP-345): a restarted instance gets its partitions back without a rebalance; unique per instance"`
	SessionTimeout time.Duration `config:"session_timeout" help:"group session timeout: how fast a dead instance's partitions move"`
	// CommitInterval bounds the replay window after a crash (at-least-once).
	CommitInterval  time.Duration `config:"commit_interval" help:"how often acknowledged offsets are committed (bounds the replay window, so the duplicates after a crash)"`
	ShutdownTimeout time.Duration `config:"shutdown_timeout" help:"graceful stop: finish in-flight work and commit within this"`
	// TransactionTimeout must stay below SessionTimeout's rebalance window.
	TransactionTimeout time.Duration `config:"transaction_timeout" help:"exactly-once transaction timeout (at most session_timeout)"`

	// BatchMaxRecords caps a micro-batch. A batch is whatever one fetch
	// returned for a partition, so there is no added wait for it to fill.
	BatchMaxRecords int `config:"batch_max_records" help:"largest micro-batch through decode, features and scoring"`
	// MaxInflightRecords and MaxInflightBytes cap records between fetch and
	// broker acknowledgement; past them consumption waits (backpressure).
	MaxInflightRecords int `config:"max_inflight_records" help:"records produced but not yet acknowledged; past it consumption waits"`
	MaxInflightBytes   int `config:"max_inflight_bytes" help:"bytes produced but not yet acknowledged; past it consumption waits"`
	// MaxRecordBytes is the largest record the producer may write (the DLQ
	// keeps original bytes, so this must cover the largest input).
	MaxRecordBytes int    `config:"max_record_bytes" help:"largest record written; must cover the largest input since the DLQ keeps it whole"`
	Compression    string `config:"compression" help:"output compression: none, gzip, snappy, lz4, zstd"`
	// Linger is how long the producer waits to fill a batch: throughput
	// against latency.
	Linger time.Duration `config:"linger" help:"producer linger: latency against batching"`

	CreateTopics    bool          `config:"create_topics" help:"create missing topics at start instead of failing (always on with the embedded broker)"`
	TopicPartitions int32         `config:"topic_partitions" help:"partitions of topics created by processor.create_topics"`
	LagRefresh      time.Duration `config:"lag_refresh" help:"how often consumer lag is measured and the drift PSI gauges recomputed"`
}

// DefaultConfig is the processor section's defaults (the topics and group
// are the caller's).
func DefaultConfig() Config {
	return Config{
		Delivery:           AtLeastOnce,
		SessionTimeout:     10 * time.Second,
		CommitInterval:     250 * time.Millisecond,
		ShutdownTimeout:    30 * time.Second,
		TransactionTimeout: 10 * time.Second,
		BatchMaxRecords:    500,
		MaxInflightRecords: 20000,
		MaxInflightBytes:   64 << 20,
		MaxRecordBytes:     4 << 20,
		Compression:        "lz4",
		Linger:             2 * time.Millisecond,
		TopicPartitions:    6,
		LagRefresh:         5 * time.Second,
	}
}

// Named configuration errors, so callers and tests can tell them apart.
var (
	ErrNoInputTopic  = errors.New("input.topic is empty")
	ErrNoOutputTopic = errors.New("output.topic is empty")
	ErrNoDLQTopic    = errors.New("dlq.topic is empty")
	ErrNoGroup       = errors.New("input.group is empty")
)

// Validate checks the configuration and names the first wrong key with its value.
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
		return fmt.Errorf("processor.max_inflight_records %d: must be at least processor.batch_max_records (%d)", c.MaxInflightRecords, c.BatchMaxRecords)
	}
	if c.MaxRecordBytes < 1024 {
		return fmt.Errorf("processor.max_record_bytes %d: must be at least 1024", c.MaxRecordBytes)
	}
	if c.MaxInflightBytes < c.MaxRecordBytes {
		return fmt.Errorf("processor.max_inflight_bytes %d: must be at least processor.max_record_bytes (%d)", c.MaxInflightBytes, c.MaxRecordBytes)
	}
	if c.Linger < 0 {
		return fmt.Errorf("processor.linger %q: must not be negative", c.Linger)
	}
	if _, err := CompressionCodec(c.Compression); err != nil {
		return err
	}
	if c.TopicPartitions < 1 {
		return fmt.Errorf("processor.topic_partitions %d: must be at least 1", c.TopicPartitions)
	}
	for _, d := range []struct {
		key string
		d   time.Duration
	}{
		{"processor.session_timeout", c.SessionTimeout}, {"processor.commit_interval", c.CommitInterval},
		{"processor.shutdown_timeout", c.ShutdownTimeout}, {"processor.transaction_timeout", c.TransactionTimeout},
		{"processor.lag_refresh", c.LagRefresh},
	} {
		if d.d <= 0 {
			return fmt.Errorf("%s %q: must be positive", d.key, d.d)
		}
	}
	if c.Delivery == ExactlyOnce && c.TransactionTimeout > c.SessionTimeout {
		// A transaction outliving the member's session could commit offsets
		// for partitions the group already gave to someone else.
		return fmt.Errorf("processor.transaction_timeout %q: must not exceed processor.session_timeout %q", c.TransactionTimeout, c.SessionTimeout)
	}
	return nil
}
