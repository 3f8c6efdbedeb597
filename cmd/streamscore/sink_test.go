package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/pgsink"
)

// TestSinkSettings: the sink.postgres.* keys come from pgsink.Config and
// load into it, the DSN never prints.
func TestSinkSettings(t *testing.T) {
	t.Setenv("STREAMSCORE_SINK_POSTGRES_DSN", "postgres://u:hunter2@db:5432/a")
	t.Setenv("STREAMSCORE_SINK_POSTGRES_BATCH_SIZE", "77")
	c, err := load(t, defaultConfig(), "--sink.postgres.table", "x.preds")
	if err != nil {
		t.Fatal(err)
	}
	got, def := c.Sink.Postgres, pgsink.DefaultConfig()
	for _, tc := range []struct{ name, got, want string }{
		{"dsn from env", got.DSN.Reveal(), "postgres://u:hunter2@db:5432/a"},
		{"batch size from env", strconv.Itoa(got.BatchSize), "77"},
		{"table from flag", got.Table, "x.preds"},
		{"group default", got.Group, def.Group},
		{"flush default", got.FlushEvery.String(), def.FlushEvery.String()},
		{"session timeout default", got.SessionTimeout.String(), def.SessionTimeout.String()},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	out, err := configYAML(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "hunter2") || !strings.Contains(string(out), "dsn: '[redacted]'") {
		t.Errorf("effective config shows the DSN or no redacted dsn:\n%s", out)
	}
}

// TestSinkStartErrors: wrong settings stop `sink postgres` with one line
// naming the key, before anything connects.
func TestSinkStartErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"embedded broker", []string{"--kafka.brokers", "embedded", "--sink.postgres.dsn", "postgres://h/db"}, "kafka.brokers is embedded"},
		{"no brokers", []string{"--sink.postgres.dsn", "postgres://h/db"}, "kafka.brokers is not set"},
		{"avro output", []string{"--kafka.brokers", "127.0.0.1:1", "--output.format", "avro", "--sink.postgres.dsn", "postgres://h/db"}, `output.format "avro"`},
		{"no dsn", []string{"--kafka.brokers", "127.0.0.1:1"}, "sink.postgres.dsn is empty"},
		{"bad table", []string{"--kafka.brokers", "127.0.0.1:1", "--sink.postgres.dsn", "postgres://h/db", "--sink.postgres.table", "a b"}, `sink.postgres.table "a b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, defaultConfig(), tc.args...) // a key's own check fails here
			if err == nil {
				err = runSink(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestSinkInsecureWarnings: `sink postgres` logs the INSECURE setting
// warnings of its Kafka section and of a DSN that does not verify the
// server at start, as run does for its own connections.
func TestSinkInsecureWarnings(t *testing.T) {
	c, err := load(t, defaultConfig(), "--kafka.brokers", "127.0.0.1:1", "--http.listen", "",
		"--kafka.sasl.mechanism", "PLAIN", "--kafka.sasl.username", "u", "--kafka.sasl.password", "kafka-pw-0c1d",
		"--sink.postgres.dsn", "postgres://sink:pg-pw-9e2f@db.example:5432/analytics")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the warnings come before anything connects
	_ = runSink(ctx, c, slog.New(slog.NewTextHandler(&logs, nil)))
	for _, want := range []string{"kafka.sasl.mechanism PLAIN without kafka.tls.enabled", "sink.postgres.dsn: the server db.example is not verified"} {
		if !strings.Contains(logs.String(), `msg="INSECURE setting" warning="`+want) {
			t.Errorf("no INSECURE setting warning %q in the logs:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), "pw-") {
		t.Errorf("the logs show a password:\n%s", logs.String())
	}
}
