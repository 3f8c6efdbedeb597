package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.yaml.in/yaml/v3"

	"github.com/streamscore/streamscore/internal/golden"
	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/internal/tlsfiles/tlstest"
	"github.com/streamscore/streamscore/scoring"
)

// TestMain drops configuration variables of the developer's shell, so the
// tests see only what they set themselves (tooling variables stay).
func TestMain(m *testing.M) {
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, envPrefix) && !isToolingEnv(name) {
			os.Unsetenv(name)
		}
	}
	os.Exit(m.Run())
}

// load parses args as a command with defaults would and loads the tree.
func load(t *testing.T, defaults Config, args ...string) (*Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	flags := addConfigFlags(fs, defaults)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return flags.load()
}

// loadCase is one case of the config tests: it sets env for the test, writes
// file (when set) as the config file and loads args with the defaults.
func loadCase(t *testing.T, file string, env map[string]string, args ...string) (*Config, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	if file != "" {
		args = append([]string{"--config", proctest.TempFile(t, "streamscore.yaml", file)}, args...)
	}
	return load(t, defaultConfig(), args...)
}

// required are the keys run needs and has no default for.
var required = []string{"--kafka.brokers", "127.0.0.1:9092", "--model.bundle", "/bundles/fraud"}

func TestConfigPrecedence(t *testing.T) {
	file := proctest.TempFile(t, "streamscore.yaml", "kafka:\n  brokers: from-file:9092\ninput:\n  topic: from-file\n  group: g-file\nprocessor:\n  commit_interval: 3s\n")
	t.Setenv("STREAMSCORE_INPUT_GROUP", "g-env")
	t.Setenv("STREAMSCORE_OUTPUT_TOPIC", "out-env")
	c, err := load(t, defaultConfig(), "--config", file, "--output.topic", "out-flag", "--model.bundle", "b")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"file over default", c.Input.Topic, "from-file"},
		{"env over file", c.Input.Group, "g-env"},
		{"flag over env", c.Output.Topic, "out-flag"},
		{"default", c.DLQ.Topic, "predictions-dlq"},
		{"duration from file", c.Processor.CommitInterval.String(), (3 * time.Second).String()},
		{"processor topics resolved from the sections", c.Processor.InputTopic + "," + c.Processor.OutputTopic + "," + c.Processor.DLQTopic + "," + c.Processor.Group,
			"from-file,out-flag,predictions-dlq,g-env"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

// TestConfigGood loads valid configurations from every source and checks
// the values reach the package configs.
func TestConfigGood(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  map[string]string
		args []string
		got  func(*Config) string
		want string
	}{
		{name: "defaults plus the required keys", args: required, got: func(c *Config) string {
			return fmt.Sprint(c.Processor.Delivery, " ", c.Processor.CommitInterval, " ", c.Input.MaxDepth, " ", c.Input.EventIDField, " ",
				c.Output.Format, " ", c.Registry.Timeout, " ", c.Processor.CreateTopics)
		}, want: "at-least-once 250ms 64 transaction_id json 5s false"},
		{name: "commit stall pause off", args: append([]string{"--processor.commit_stall_timeout", "0s"}, required...), got: func(c *Config) string {
			return fmt.Sprint(c.Processor.CommitStallTimeout)
		}, want: "0s"},
		{name: "every type from the file", file: `
kafka:
  brokers: [a:9092, b:9092]
  tls:
    enabled: true
  sasl:
    mechanism: scram-sha-512
    username: svc
    password: pw
input:
  max_depth: 1e2
  numeric_strings: true
processor:
  topic_partitions: 12
  linger: 0s
model:
  bundle: x
`, got: func(c *Config) string {
			return fmt.Sprint(c.Kafka.SeedBrokers(), c.Kafka.TLS.Enabled, " ", c.Kafka.SASL.Mechanism, " ", c.Input.MaxDepth, " ", c.Input.NumericStrings, " ",
				c.Processor.TopicPartitions, " ", c.Processor.Linger)
		}, want: "[a:9092 b:9092] true scram-sha-512 100 true 12 0s"},
		{name: "every type from the environment", args: required, env: map[string]string{
			"STREAMSCORE_KAFKA_TLS_ENABLED": "true", "STREAMSCORE_INPUT_MAX_FIELDS": "7", "STREAMSCORE_PROCESSOR_LAG_REFRESH": "1m",
			"STREAMSCORE_PROCESSOR_TOPIC_PARTITIONS": "3", "STREAMSCORE_HTTP_LISTEN": "",
		}, got: func(c *Config) string {
			return fmt.Sprint(c.Kafka.TLS.Enabled, " ", c.Input.MaxFields, " ", c.Processor.LagRefresh, " ", c.Processor.TopicPartitions, " ", c.HTTP.Listen == "")
		}, want: "true 7 1m0s 3 true"},
		{name: "flags over the environment", args: append([]string{"--kafka.tls.enabled=false", "--processor.topic_partitions", "2"}, required...),
			env: map[string]string{"STREAMSCORE_KAFKA_TLS_ENABLED": "true", "STREAMSCORE_PROCESSOR_TOPIC_PARTITIONS": "3"},
			got: func(c *Config) string { return fmt.Sprint(c.Kafka.TLS.Enabled, " ", c.Processor.TopicPartitions) }, want: "false 2"},
		{name: "embedded broker turns on topic creation", args: []string{"--kafka.brokers", "embedded", "--model.bundle", "embedded"},
			got: func(c *Config) string { return fmt.Sprint(c.Kafka.isEmbedded(), " ", c.Processor.CreateTopics) }, want: "true true"},
		{name: "empty sections (their keys commented out)", file: "kafka:\n  brokers: a:9092\n  tls:\n  # enabled: true\nregistry:\n",
			args: []string{"--model.bundle", "x"}, got: func(c *Config) string { return fmt.Sprint(c.Kafka.Brokers, " ", c.Kafka.TLS.Enabled) }, want: "a:9092 false"},
		{name: "tooling variables are not configuration", args: required, env: map[string]string{
			"STREAMSCORE_TEST_BROKERS": "x", "STREAMSCORE_TEST_BIN": "/bin/true", "STREAMSCORE_DEV_KAFKA_CACHE": "/tmp/k",
		}, got: func(c *Config) string { return c.Kafka.Brokers }, want: "127.0.0.1:9092"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadCase(t, tc.file, tc.env, tc.args...)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if got := tc.got(c); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if err := c.checkRunnable(); err != nil {
				t.Errorf("checkRunnable: %v", err)
			}
		})
	}
}

// TestConfigBad checks that every kind of bad configuration is one line
// naming the key (or variable) and showing the bad value.
func TestConfigBad(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  map[string]string
		args []string
		want []string
	}{
		{name: "unknown key", file: "kafka:\n  brokerz: x\n", want: []string{`unknown key "kafka.brokerz"`}},
		{name: "unknown section", file: "modle:\n  bundle: x\n", want: []string{`unknown key "modle.bundle"`}},
		{name: "two unknown keys", file: "http:\n  canary: x\n  canary_percent: 5\n", want: []string{`unknown key "http.canary", "http.canary_percent" (see`}},
		{name: "a section given a value", file: "kafka:\n  tls: true\n", want: []string{`"kafka.tls" is a section`}},
		{name: "not yaml", file: "input: [unclosed\n", want: []string{"config file", "yaml: line 1"}},
		{name: "duplicate key", file: "kafka:\n  brokers: a:1\n  brokers: b:1\n", want: []string{"config file", `"brokers" already defined`}},
		{name: "bad duration in the file", file: "processor:\n  commit_interval: soon\n", want: []string{`processor.commit_interval "soon"`, "want a duration"}},
		{name: "bad duration in the environment", env: map[string]string{"STREAMSCORE_PROCESSOR_LAG_REFRESH": "5"},
			want: []string{`processor.lag_refresh "5"`, "STREAMSCORE_PROCESSOR_LAG_REFRESH", "want a duration"}},
		{name: "bad integer", env: map[string]string{"STREAMSCORE_INPUT_MAX_DEPTH": "deep"}, want: []string{`input.max_depth "deep"`, "want an integer"}},
		{name: "integer out of range", file: "processor:\n  topic_partitions: 3000000000\n", want: []string{`processor.topic_partitions "3000000000"`, "out of range"}},
		{name: "fraction for an integer", file: "input:\n  max_fields: 1.5\n", want: []string{`input.max_fields "1.5"`, "want an integer"}},
		{name: "bad bool", env: map[string]string{"STREAMSCORE_HTTP_PPROF": "sure"}, want: []string{`http.pprof "sure"`, "want true or false"}},
		{name: "negative duration", args: []string{"--processor.commit_interval", "-5s"}, want: []string{`processor.commit_interval "-5s": must be positive`}},
		{name: "negative commit stall timeout", args: []string{"--processor.commit_stall_timeout", "-1s"},
			want: []string{`processor.commit_stall_timeout "-1s": must not be negative (0: never pause)`}},
		{name: "unknown SASL mechanism", file: "kafka:\n  sasl:\n    mechanism: GSSAPI\n    username: u\n",
			want: []string{`kafka.sasl.mechanism "GSSAPI"`, "PLAIN", "OAUTHBEARER"}},
		{name: "SASL without a user", args: []string{"--kafka.sasl.mechanism", "PLAIN"}, want: []string{"kafka.sasl.username is empty"}},
		{name: "bad delivery", env: map[string]string{"STREAMSCORE_PROCESSOR_DELIVERY": "twice"}, want: []string{`processor.delivery "twice"`}},
		{name: "brokers separated by a space", args: []string{"--kafka.brokers", "a:9092 b:9092"}, want: []string{`kafka.brokers "a:9092 b:9092": "a:9092 b:9092" is not host:port`}},
		{name: "broker without a port", args: []string{"--kafka.brokers", "a:9092,b"}, want: []string{`kafka.brokers "a:9092,b": "b" is not host:port`}},
		{name: "broker port out of range", args: []string{"--kafka.brokers", "a:99999"}, want: []string{`kafka.brokers "a:99999": "a:99999": port "99999"`}},
		{name: "bad input format", args: []string{"--input.format", "xml"}, want: []string{`input.format "xml"`}},
		{name: "same topics", args: []string{"--output.topic", "transactions"}, want: []string{`input.topic "transactions", output.topic "transactions"`}},
		{name: "bad listen address", args: []string{"--http.listen", "9464"}, want: []string{`http.listen "9464"`}},
		{name: "bad admin listen address", args: []string{"--http.admin_listen", "9465", "--http.admin_token_file", "/t"}, want: []string{`http.admin_listen "9465"`}},
		{name: "pprof without a token", args: []string{"--http.pprof"}, want: []string{"http.pprof is on but http.admin_token_file is empty"}},
		{name: "admin listener without a token", args: []string{"--http.admin_listen", "127.0.0.1:9465"}, want: []string{`http.admin_listen "127.0.0.1:9465" is set but http.admin_token_file is empty`}},
		{name: "mutual TLS on http.listen", args: []string{"--http.admin_client_ca_file", "/ca", "--http.admin_token_file", "/t"}, want: []string{"http.admin_client_ca_file needs http.admin_listen"}},
		{name: "mutual TLS without TLS", args: []string{"--http.admin_client_ca_file", "/ca", "--http.admin_token_file", "/t", "--http.admin_listen", "127.0.0.1:0"},
			want: []string{"http.admin_client_ca_file needs http.tls.cert_file"}},
		{name: "certificate without its key", args: []string{"--http.tls.cert_file", "/c"}, want: []string{`http.tls.cert_file "/c" is set without http.tls.key_file`}},
		{name: "renamed key in the file", file: "model:\n  reload_token_file: /t\n", want: []string{`key "model.reload_token_file" was renamed: use http.admin_token_file`}},
		{name: "renamed key in the environment", env: map[string]string{"STREAMSCORE_MODEL_RELOAD_TOKEN_FILE": "/t"},
			want: []string{"renamed: use STREAMSCORE_HTTP_ADMIN_TOKEN_FILE"}},
		{name: "bad log level", args: []string{"--log.level", "loud"}, want: []string{`log.level "loud"`}},
		{name: "bad registry url", args: []string{"--registry.url", "sr:8081"}, want: []string{`registry.url "sr:8081"`}},
		{name: "confluent without a registry", args: []string{"--output.format", "confluent"}, want: []string{`output.format "confluent": needs registry.url`}},
		{name: "bad embedded port", args: []string{"--kafka.embedded.port", "70000"}, want: []string{"kafka.embedded.port 70000"}},
		{name: "misspelled environment variable", env: map[string]string{"STREAMSCORE_INPUT_TOPC": "x"},
			want: []string{"STREAMSCORE_INPUT_TOPC", "did you mean STREAMSCORE_INPUT_TOPIC?", "STREAMSCORE_TEST_"}},
		{name: "tooling variable under its old name", env: map[string]string{"STREAMSCORE_" + "KAFKA_CACHE": "/x"},
			want: []string{"unknown environment variable STREAMSCORE_" + "KAFKA_CACHE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadCase(t, tc.file, tc.env, append(append([]string{}, required...), tc.args...)...)
			if err == nil {
				t.Fatalf("got no error, want one containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q: want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
			if strings.Contains(err.Error(), "While parsing") {
				t.Errorf("error %q: want the YAML error without viper's capitalised prefix", err)
			}
		})
	}
	_, err := load(t, defaultConfig(), "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: got %v, want an error naming the file", err)
	}
}

// TestConfigReadsHTTPFiles: config reads the admin token file, the HTTP
// certificate and the admin client CAs as run does, so it refuses what run
// would (it accepted a missing or empty token file and a missing
// certificate, which run then refused).
func TestConfigReadsHTTPFiles(t *testing.T) {
	dir := t.TempDir()
	blank := filepath.Join(dir, "blank-token")
	if err := os.WriteFile(blank, []byte(" \n\t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := tlstest.NewCA(t, "test")
	srv := ca.Server(t, "srv")
	old := ca.ServerValid(t, "old", tlstest.Validity{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	tlsArgs := func(p tlstest.Pair) []string {
		return []string{"--http.tls.cert_file", p.CertFile, "--http.tls.key_file", p.KeyFile}
	}
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "token file missing", args: []string{"--http.admin_token_file", missing}, want: "http.admin_token_file: open " + missing + ": no such file or directory"},
		{name: "token file blank", args: []string{"--http.admin_token_file", blank}, want: "http.admin_token_file: " + blank + " holds no token (it is empty or white space only)"},
		{name: "certificate missing", args: []string{"--http.tls.cert_file", missing, "--http.tls.key_file", srv.KeyFile}, want: `http.tls.cert_file "` + missing + `"`},
		{name: "certificate expired", args: tlsArgs(old), want: `http.tls.cert_file "` + old.CertFile + `": the certificate CN=old expired at`},
		{name: "admin client CAs missing", args: append(tlsArgs(srv), "--http.admin_listen", "127.0.0.1:0", "--http.admin_token_file", token, "--http.admin_client_ca_file", missing),
			want: `http.admin_client_ca_file "` + missing + `": open: no such file or directory`},
	} {
		_, err := loadCase(t, "", nil, append(append([]string{}, required...), tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := loadCase(t, "", nil, append(append([]string{}, required...), append(tlsArgs(srv), "--http.admin_listen", "127.0.0.1:0",
		"--http.admin_token_file", token, "--http.admin_client_ca_file", ca.File)...)...); err != nil {
		t.Errorf("good files: %v", err)
	}
}

// TestRunNeedsBrokersAndBundle: run (and config) have no default broker or
// bundle; each missing one is one line saying what to do.
func TestRunNeedsBrokersAndBundle(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"run without brokers", []string{"run"}, []string{"kafka.brokers is not set", "streamscore demo"}},
		{"run without a bundle", []string{"run", "--kafka.brokers", "127.0.0.1:1"}, []string{"model.bundle is not set"}},
		{"config without a bundle", []string{"config", "--kafka.brokers", "127.0.0.1:1"}, []string{"model.bundle is not set"}},
		{"config rejects what run rejects", append([]string{"config", "--kafka.sasl.mechanism", "GSSAPI", "--kafka.sasl.username", "u"}, required...),
			[]string{`kafka.sasl.mechanism "GSSAPI"`}},
		{"produce without brokers", []string{"produce"}, []string{"kafka.brokers is not set"}},
		{"produce with the embedded broker", []string{"produce", "--kafka.brokers", "embedded"}, []string{"produce needs kafka.brokers"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRootCmd()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(tc.args)
			err := root.Execute()
			if err == nil {
				t.Fatalf("no error; output:\n%s", out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q: want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}

// TestTrialDefaults: demo and bench start from the embedded broker and the
// built-in bundle; explicit values still win.
func TestTrialDefaults(t *testing.T) {
	c, err := load(t, trialConfig())
	if err != nil {
		t.Fatal(err)
	}
	if !c.Kafka.isEmbedded() || c.Model.Bundle != embeddedName || c.Log.Level != "warn" {
		t.Errorf("trial defaults: brokers %q, bundle %q, log.level %q; want embedded, embedded, warn", c.Kafka.Brokers, c.Model.Bundle, c.Log.Level)
	}
	t.Setenv("STREAMSCORE_LOG_LEVEL", "debug")
	c, err = load(t, trialConfig(), "--kafka.brokers", "k:9092", "--model.bundle", "/b")
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.Brokers != "k:9092" || c.Model.Bundle != "/b" || c.Log.Level != "debug" {
		t.Errorf("overridden: brokers %q, bundle %q, log.level %q; want k:9092, /b, debug", c.Kafka.Brokers, c.Model.Bundle, c.Log.Level)
	}
}

// TestEmbeddedBundle checks the bundle the binary carries loads and is
// the one in examples/fraud.
func TestEmbeddedBundle(t *testing.T) {
	got, err := loadBundle(embeddedName)
	if err != nil {
		t.Fatal(err)
	}
	want, err := scoring.Load(filepath.Join("..", "..", "examples", "fraud"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != want.Name || got.Version != want.Version {
		t.Errorf("embedded bundle %s@%s, want examples/fraud's %s@%s", got.Name, got.Version, want.Name, want.Version)
	}
	missing := filepath.Join(t.TempDir(), "none")
	if _, err := loadBundle(missing); err == nil || !strings.Contains(err.Error(), "bundle "+missing+":") {
		t.Errorf("missing bundle: got %v, want an error naming bundle %s", err, missing)
	}
}

// TestTreeIsWellFormed walks the tree: every key has help (walkConfig panics
// otherwise), keys and variable names are unique and never look like
// tooling variables, and the defaults are valid once the required keys are set.
func TestTreeIsWellFormed(t *testing.T) {
	c := defaultConfig()
	leaves, sections := walkConfig(&c)
	keys, envs := map[string]bool{}, map[string]bool{}
	for _, l := range leaves {
		if keys[l.key] || envs[envName(l.key)] {
			t.Errorf("key %s (env %s) declared twice", l.key, envName(l.key))
		}
		keys[l.key], envs[envName(l.key)] = true, true
		if isToolingEnv(envName(l.key)) {
			t.Errorf("key %s: its variable %s is in the tooling namespace", l.key, envName(l.key))
		}
	}
	if len(leaves) < 40 || len(sections) < 10 {
		t.Errorf("%d keys in %d sections: the tree lost keys", len(leaves), len(sections))
	}
	for _, defaults := range []Config{defaultConfig(), trialConfig()} {
		d := defaults
		d.Kafka.Brokers, d.Model.Bundle = "k:9092", "b"
		d.resolve()
		if err := d.validate(func(string) bool { return true }); err != nil {
			t.Errorf("defaults are invalid: %v", err)
		}
	}
}

// TestSecretsNeverPrint sets every secret from the file, the environment
// and a flag, and looks for them in everything that prints: the output of
// `streamscore config`, errors about other keys, fmt and slog of the loaded
// config, and the logs of a running service (which authenticates with them).
func TestSecretsNeverPrint(t *testing.T) {
	const fileSecret, envSecret, flagSecret, urlSecret = "file-secret-9f1c", "env-secret-27aa", "flag-secret-c3d0", "url-secret-5b21"
	secrets := []string{fileSecret, envSecret, flagSecret, urlSecret}
	file := proctest.TempFile(t, "streamscore.yaml", "kafka:\n  sasl:\n    mechanism: PLAIN\n    username: svc\n    password: "+fileSecret+"\n")
	t.Setenv("STREAMSCORE_REGISTRY_USERNAME", "alice")
	t.Setenv("STREAMSCORE_REGISTRY_PASSWORD", envSecret)
	t.Setenv("STREAMSCORE_REGISTRY_URL", "https://alice:"+urlSecret+"@registry.example:8081")
	args := append([]string{"--config", file, "--kafka.sasl.password", flagSecret}, required...)
	check := func(what, s string) {
		t.Helper()
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Errorf("%s shows secret %q:\n%s", what, sec, s)
			}
		}
	}

	c, err := load(t, defaultConfig(), args...)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Kafka.SASL.Password) != flagSecret || string(c.Registry.Password) != envSecret {
		t.Fatalf("secrets not loaded: the test would prove nothing")
	}
	out, err := configYAML(c)
	if err != nil {
		t.Fatal(err)
	}
	check("streamscore config", string(out))
	var shown struct {
		Kafka struct {
			SASL struct{ Password string } `yaml:"sasl"`
		}
		Registry struct{ URL, Password string }
	}
	if err := yaml.Unmarshal(out, &shown); err != nil {
		t.Fatalf("config output is not YAML: %v\n%s", err, out)
	}
	if shown.Kafka.SASL.Password != "[redacted]" || shown.Registry.Password != "[redacted]" || !strings.Contains(shown.Registry.URL, "alice:xxxxx@") {
		t.Errorf("config output: passwords %q and %q, url %q; want [redacted] and the URL's password hidden", shown.Kafka.SASL.Password, shown.Registry.Password, shown.Registry.URL)
	}
	var printed bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		fmt.Fprintf(&printed, verb+"\n", c)
		fmt.Fprintf(&printed, verb+"\n", *c)
	}
	slog.New(slog.NewTextHandler(&printed, nil)).Info("cfg", "cfg", c, "kafka", c.Kafka, "registry", c.Registry)
	check("fmt and slog of the config", printed.String())
	// encoding/json (and slog's JSON handler, which uses it) hides the
	// secret.Value values; a password inside a URL string it cannot know.
	printed.Reset()
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	printed.Write(j)
	slog.New(slog.NewJSONHandler(&printed, nil)).Info("cfg", "cfg", c, "kafka", c.Kafka)
	secrets = secrets[:3]
	check("json of the config", printed.String())
	secrets = append(secrets, urlSecret)

	_, err = load(t, defaultConfig(), append(args, "--processor.delivery", "twice")...)
	if err == nil {
		t.Fatal("bad delivery accepted")
	}
	check("a validation error", err.Error())

	// A service authenticating with the secret logs at debug level.
	cluster := kafkatest.FakeCluster(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "svc", flagSecret), kfake.SeedTopics(1, "in", "out", "dlq"))
	logs := &proctest.LogBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRootCmd()
	root.SetOut(logs)
	root.SetErr(logs)
	root.SetArgs(append([]string{"run", "--config", file, "--kafka.sasl.password", flagSecret}, "--kafka.brokers", cluster.ListenAddrs()[0], "--model.bundle", embeddedName,
		"--input.topic", "in", "--output.topic", "out", "--dlq.topic", "dlq", "--http.listen", "",
		"--log.level", "debug", "--log.format", "json", "--processor.shutdown_timeout", "5s"))
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	proctest.Eventually(t, 30*time.Second, "run authenticated and running", func() error {
		select {
		case err := <-done:
			t.Fatalf("run stopped before it was running: %v\n%s", err, logs.String())
		default:
		}
		if !strings.Contains(logs.String(), `"msg":"streamscore running"`) {
			return errors.New("no start line yet")
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	check("the service's logs", logs.String())
}

// TestConfigurationDoc keeps docs/configuration.md equal to what the tree
// generates; `go generate ./cmd/streamscore` (or this test with -update)
// rewrites it.
func TestConfigurationDoc(t *testing.T) {
	golden.Check(t, filepath.Join("..", "..", "docs", "configuration.md"), []byte(configDoc()))
}

// configDoc renders docs/configuration.md from the tree: every key of
// run's defaults, then what demo and bench start from instead.
func configDoc() string {
	var b strings.Builder
	def := defaultConfig()
	leaves, _ := walkConfig(&def)
	var secrets []string
	for _, l := range leaves {
		if l.v.Type() == secretType {
			secrets = append(secrets, "`"+l.key+"`")
		}
	}
	b.WriteString(strings.Replace(configDocIntro, "SECRETS", strings.Join(secrets, ", "), 1))
	section := ""
	for _, l := range leaves {
		if sec, _, _ := strings.Cut(l.key, "."); sec != section {
			section = sec
			fmt.Fprintf(&b, "\n## %s\n\n| key | default | env | meaning |\n|---|---|---|---|\n", section)
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | `%s` | %s |\n", l.key, docValue(l), envName(l.key), strings.ReplaceAll(l.help, "|", `\|`))
	}
	b.WriteString("\n## Defaults of demo and bench\n\n`streamscore demo` and `streamscore bench` start from these instead (flags, variables and the file still win):\n\n| key | run, config, produce | demo, bench |\n|---|---|---|\n")
	trial := trialConfig()
	trialLeaves, _ := walkConfig(&trial)
	for i, l := range leaves {
		if a, b2 := docValue(l), docValue(trialLeaves[i]); a != b2 {
			fmt.Fprintf(&b, "| `%s` | `%s` | `%s` |\n", l.key, a, b2)
		}
	}
	return b.String()
}

func docValue(l leaf) string {
	if s := fmt.Sprint(l.show()); s != "" {
		return s
	}
	return `""`
}

const configDocIntro = "# Configuration\n\n" +
	"<!-- Generated from the configuration tree (cmd/streamscore/config.go and the packages' Config structs) by\n" +
	"`go generate ./cmd/streamscore`; a test fails when this file and the tree differ. -->\n\n" +
	"Sources, later wins: the command's defaults, the YAML file named by `--config`, environment variables,\n" +
	"flags. Every key below is all three: in the file as nested sections (`processor:` then\n" +
	"`commit_interval: 1s`), as the variable `STREAMSCORE_<SECTION>_<KEY>` (`STREAMSCORE_PROCESSOR_COMMIT_INTERVAL=1s`)\n" +
	"and as the flag `--processor.commit_interval 1s`. Durations are Go durations (`500ms`, `10s`, `1m30s`);\n" +
	"sizes are bytes; lists are comma separated (a YAML list works too).\n\n" +
	"- `run` needs `kafka.brokers` and `model.bundle`; it has no default for either and stops with one line\n" +
	"  saying which is missing. `kafka.brokers: embedded` starts an in-process stand-in broker and\n" +
	"  `model.bundle: embedded` uses the demo's fraud bundle built into the binary: both only for trying things\n" +
	"  out (`/readyz` then says it is not a production broker). `streamscore demo` and `streamscore bench` use\n" +
	"  both by default (table at the end).\n" +
	"- A key the tree does not know, in the file, is an error naming it, and so is a `STREAMSCORE_*` variable\n" +
	"  that names no key (`STREAMSCORE_INPUT_TOPC`). Variables of the project's own scripts and tests start\n" +
	"  with `STREAMSCORE_TEST_` or `STREAMSCORE_DEV_` (`STREAMSCORE_TEST_BROKERS`, `STREAMSCORE_DEV_KAFKA_PORT`)\n" +
	"  and are never configuration: no key lives under a `test` or `dev` section.\n" +
	"- A value the service cannot use is an error naming the key, the value and where it came from\n" +
	"  (`processor.commit_interval \"soon\" (from STREAMSCORE_PROCESSOR_COMMIT_INTERVAL): want a duration ...`).\n" +
	"  `streamscore config` loads and checks the configuration exactly as `run` does and prints the effective\n" +
	"  values (`sink.*` it prints but leaves to `streamscore sink postgres` to check). The secrets (type\n" +
	"  `secret.Value`:\n" +
	"  SECRETS)\n" +
	"  print as `[redacted]` there (empty when unset) and never appear in logs or errors; a password written\n" +
	"  into a URL prints as `xxxxx`.\n\n" +
	"## Adding a key\n\n" +
	"Each section is the `Config` struct of the package that uses it (`processor.Config` is `processor`,\n" +
	"`processor.KafkaConfig` is `kafka`, `schemas.InputConfig` is part of `input`, ...); cmd/streamscore's\n" +
	"`Config` only nests them. A key is one field of the owning struct:\n\n" +
	"```go\n" +
	"MaxBodyBytes int `config:\"max_body_bytes\" help:\"largest request body accepted\"`\n" +
	"```\n\n" +
	"then its default in the package's `DefaultConfig()` (or the section's default in cmd/streamscore's\n" +
	"`defaultConfig()`), its check in the struct's `Validate()` (the error names the key and shows the value),\n" +
	"and `go generate ./cmd/streamscore` for this page. The flag, the variable, the file key, the redaction\n" +
	"(type `secret.Value`) and the docs follow from the field. A struct-typed field is a\n" +
	"subsection (`kafka.tls.enabled`); a new section is one field in cmd/streamscore's `Config` plus its\n" +
	"defaults in `defaultConfig()`; every section's `Validate()` runs at load, in this page's order.\n"
