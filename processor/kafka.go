package processor

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// saslMechanisms are the kafka.sasl.mechanism values, upper case, and how
// each authenticates. SASLConfig.Validate accepts exactly these.
var saslMechanisms = map[string]func(user, pass string) sasl.Mechanism{
	"PLAIN":         func(u, p string) sasl.Mechanism { return plain.Auth{User: u, Pass: p}.AsMechanism() },
	"SCRAM-SHA-256": func(u, p string) sasl.Mechanism { return scram.Auth{User: u, Pass: p}.AsSha256Mechanism() },
	"SCRAM-SHA-512": func(u, p string) sasl.Mechanism { return scram.Auth{User: u, Pass: p}.AsSha512Mechanism() },
}

// ClientOpts are the connection options every client of the service uses
// (processor, demo generator, bench), so all of them reach the cluster the
// same way.
func ClientOpts(k KafkaConfig) ([]kgo.Opt, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	opts := []kgo.Opt{kgo.SeedBrokers(k.SeedBrokers()...), kgo.ClientID(k.ClientID)}
	if k.TLS.Enabled {
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	if s := k.SASL; s.Mechanism != "" {
		opts = append(opts, kgo.SASL(saslMechanisms[strings.ToUpper(s.Mechanism)](s.Username, s.Password.Reveal())))
	}
	return opts, nil
}

// compressionCodec is CompressionCodec under the name the engine uses.
var compressionCodec = CompressionCodec

// CompressionCodec is the producer codec named by processor.compression.
func CompressionCodec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("processor.compression %q: want none, gzip, snappy, lz4 or zstd", name)
}
