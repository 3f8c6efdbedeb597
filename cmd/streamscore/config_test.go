package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md from the settings table")

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	addConfigFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "streamscore.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "input:\n  topic: from-file\n  group: g-file\nprocessor:\n  commit_interval: 3s\n")
	t.Setenv("STREAMSCORE_INPUT_GROUP", "g-env")
	t.Setenv("STREAMSCORE_OUTPUT_TOPIC", "out-env")
	c, err := loadConfig(flags(t, "--config", file, "--output.topic", "out-flag"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"file over default", c.Input.Topic, "from-file"},
		{"env over file", c.Input.Group, "g-env"},
		{"flag over env", c.Output.Topic, "out-flag"},
		{"default", c.DLQ.Topic, "predictions-dlq"},
		{"duration from file", c.Processor.CommitInterval.String(), (3 * time.Second).String()},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"unknown key", "kafka:\n  brokerz: x\n", `unknown key "kafka.brokerz"`},
		{"unknown section", "modle:\n  bundle: x\n", `unknown key "modle.bundle"`},
		{"bad duration", "processor:\n  commit_interval: soon\n", "commit_interval"},
		{"not yaml", "input: [unclosed\n", "config file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(flags(t, "--config", writeFile(t, tc.body)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
	_, err := loadConfig(flags(t, "--config", filepath.Join(t.TempDir(), "missing.yaml")))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: got %v, want an error naming the file", err)
	}
}

func TestConfigRedactsSecrets(t *testing.T) {
	t.Setenv("STREAMSCORE_KAFKA_SASL_PASSWORD", "hunter2")
	t.Setenv("STREAMSCORE_REGISTRY_PASSWORD", "s3cret")
	t.Setenv("STREAMSCORE_REGISTRY_URL", "https://alice:pw-in-url@registry.example:8081")
	out, err := effectiveYAML(flags(t))
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if strings.Contains(s, "hunter2") || strings.Contains(s, "s3cret") || strings.Contains(s, "pw-in-url") {
		t.Fatalf("secret printed:\n%s", s)
	}
	for _, want := range []string{"password: '[redacted]'", "commit_interval: 250ms", "brokers: embedded"} {
		if !strings.Contains(s, want) {
			t.Errorf("effective config lacks %q:\n%s", want, s)
		}
	}
}

// TestConfigurationDoc keeps docs/configuration.md equal to the settings
// table; run `go test ./cmd/streamscore -run ConfigurationDoc -update` after
// changing a key.
func TestConfigurationDoc(t *testing.T) {
	var b strings.Builder
	b.WriteString(configDocHeader)
	section := ""
	for _, s := range settings {
		if sec := strings.SplitN(s.key, ".", 2)[0]; sec != section {
			section = sec
			fmt.Fprintf(&b, "\n## %s\n\n| key | default | env | meaning |\n|---|---|---|---|\n", section)
		}
		def := fmt.Sprint(s.def)
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | `%s` | %s |\n", s.key, def, envName(s.key), strings.ReplaceAll(s.help, "|", `\|`))
	}
	path := filepath.Join("..", "..", "docs", "configuration.md")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != b.String() {
		t.Fatalf("docs/configuration.md is out of date: run go test ./cmd/streamscore -run ConfigurationDoc -update")
	}
}

const configDocHeader = `# Configuration

Every key has a default. Sources, later wins: defaults, the YAML file named by
` + "`--config`" + `, environment variables ` + "`STREAMSCORE_<SECTION>_<KEY>`" + `, flags
(` + "`--input.topic`" + ` etc., same names as the file). Unknown keys in the file are an
error that names the key. ` + "`streamscore config`" + ` prints the effective configuration
with secrets redacted. Durations are Go durations (` + "`500ms`, `10s`" + `); sizes are bytes.

This page is generated from the settings table in cmd/streamscore/config.go
(a test fails when they differ).
`
