// Package embedded runs an in-process Kafka-protocol broker (franz-go's
// kfake) so the demo and quick start need nothing installed. It keeps its
// state under a data directory, so a restarted demo finds its topics and
// offsets again. It is for trying things out: one process, no replication,
// no tuning. Production uses a real Kafka cluster.
package embedded

import (
	"fmt"
	"os"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Config says where the broker keeps its data and how it listens: the
// service's "kafka.embedded" section.
type Config struct {
	DataDir    string `config:"data_dir" help:"where the embedded broker keeps its data (empty: memory only)"`
	Port       int    `config:"port" help:"embedded broker port on 127.0.0.1 (0: any free port)"`
	Partitions int32  `config:"partitions" help:"partitions of topics the embedded broker creates"`
}

// DefaultConfig is the kafka.embedded section's defaults.
func DefaultConfig() Config {
	return Config{DataDir: ".streamscore/kafka", Partitions: 6}
}

// Validate checks the port and the partitions.
func (c Config) Validate() error {
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("kafka.embedded.port %d: want 0..65535", c.Port)
	}
	if c.Partitions < 1 {
		return fmt.Errorf("kafka.embedded.partitions %d: must be at least 1", c.Partitions)
	}
	return nil
}

// Broker is a running embedded broker. Close it once.
type Broker struct {
	c *kfake.Cluster
}

// Start starts the broker on 127.0.0.1.
func Start(cfg Config) (*Broker, error) {
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.AllowAutoTopicCreation(),
		kfake.Ports(cfg.Port),
	}
	if cfg.Partitions > 0 {
		opts = append(opts, kfake.DefaultNumPartitions(int(cfg.Partitions)))
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("embedded broker data dir: %w", err)
		}
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return &Broker{c: c}, nil
}

// Addr is the bootstrap address, "127.0.0.1:port".
func (b *Broker) Addr() string { return b.c.ListenAddrs()[0] }

// Close stops the broker and flushes its state to the data dir.
func (b *Broker) Close() { b.c.Close() }
