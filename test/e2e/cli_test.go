package e2e

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// checkOneLineError checks a failed start: non-zero exit, exactly one line
// on stderr that starts with "streamscore: " and contains every want, and no
// panic or stack trace.
func checkOneLineError(t *testing.T, stderr string, code int, want ...string) {
	t.Helper()
	if code == 0 {
		t.Errorf("exit code 0, want non-zero")
	}
	if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
		t.Errorf("stderr has a panic or stack trace:\n%s", stderr)
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("stderr has %d lines, want one:\n%s", len(lines), stderr)
	}
	line := lines[0]
	if !strings.HasPrefix(line, "streamscore: ") {
		t.Errorf("error line %q: want it to start with \"streamscore: \"", line)
	}
	for _, w := range want {
		if !strings.Contains(line, w) {
			t.Errorf("error line %q: want it to name %q", line, w)
		}
	}
	t.Logf("exit %d: %s", code, line)
}

// TestCLIErrors checks that bad configuration or an unusable environment
// stops `streamscore run` with a non-zero exit and one clear line.
func TestCLIErrors(t *testing.T) {
	bundle := filepath.Join(repoRoot, "examples", "fraud")
	dir := t.TempDir()
	writeFile := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unknownKey := writeFile("unknown.yaml", "kafka:\n  brokerz: 127.0.0.1:9092\nprocessor:\n  delivery: at-least-once\n")
	badDuration := writeFile("duration.yaml", "processor:\n  lag_refresh: soon\n")
	brokenYAML := writeFile("broken.yaml", "processor: [1, 2\n")
	// A real broker address is never needed: every case fails before or at
	// the first connection. 127.0.0.1:1 refuses connections.
	base := []string{"--model.bundle", bundle, "--http.listen", "127.0.0.1:0", "--log.format", "json"}
	cases := []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{name: "unknown config key", args: []string{"--config", unknownKey}, want: []string{`unknown key "kafka.brokerz"`, unknownKey}},
		{name: "config file missing", args: []string{"--config", filepath.Join(dir, "nope.yaml")}, want: []string{"nope.yaml", "no such file"}},
		{name: "config file not YAML", args: []string{"--config", brokenYAML}, want: []string{brokenYAML}},
		{name: "bad duration", args: []string{"--config", badDuration}, want: []string{"processor.lag_refresh"}},
		{name: "unknown flag", args: []string{"--kafka.brokerz", "x"}, want: []string{"unknown flag", "--kafka.brokerz"}},
		{name: "unreachable broker", args: []string{"--kafka.brokers", "127.0.0.1:1"}, want: []string{"127.0.0.1:1", "unreachable"}},
		{name: "missing bundle", args: []string{"--kafka.brokers", "127.0.0.1:1", "--model.bundle", filepath.Join(dir, "no-such-bundle")},
			want: []string{"model bundle", "no-such-bundle"}},
		{name: "bad delivery mode", args: []string{"--kafka.brokers", "127.0.0.1:1", "--processor.delivery", "exactly-twice"},
			want: []string{`processor.delivery "exactly-twice"`, "at-least-once", "exactly-once"}},
		{name: "bad delivery mode from the environment", args: []string{"--kafka.brokers", "127.0.0.1:1"},
			env: []string{"STREAMSCORE_PROCESSOR_DELIVERY=twice"}, want: []string{`processor.delivery "twice"`}},
		// The whole configuration is checked before the embedded broker
		// starts: no log record precedes the error.
		{name: "bad delivery mode with the embedded broker", args: []string{"--kafka.brokers", "embedded",
			"--kafka.embedded.data_dir", "", "--processor.delivery", "exactly-twice"},
			want: []string{`processor.delivery "exactly-twice"`}},
		{name: "bad log level", args: []string{"--kafka.brokers", "127.0.0.1:1", "--log.level", "loud"}, want: []string{`log.level "loud"`}},
		// Safe defaults: no broker and no bundle unless configured.
		{name: "no brokers", want: []string{"kafka.brokers is not set", "streamscore demo"}},
		{name: "no bundle", args: []string{"--kafka.brokers", "127.0.0.1:1", "--model.bundle", ""}, want: []string{"model.bundle is not set"}},
		{name: "misspelled environment variable", args: []string{"--kafka.brokers", "127.0.0.1:1"},
			env: []string{"STREAMSCORE_INPUT_TOPC=x"}, want: []string{"STREAMSCORE_INPUT_TOPC", "STREAMSCORE_INPUT_TOPIC"}},
		{name: "bad duration shows the value", args: []string{"--kafka.brokers", "127.0.0.1:1"},
			env: []string{"STREAMSCORE_PROCESSOR_COMMIT_INTERVAL=-5s"}, want: []string{`processor.commit_interval "-5s"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"run"}, base...)
			args = append(args, c.args...)
			start := time.Now()
			_, stderr, code := runCLI(t, 45*time.Second, c.env, args...)
			t.Logf("took %.2fs", time.Since(start).Seconds())
			checkOneLineError(t, stderr, code, c.want...)
		})
	}
}

// TestCLISilentBroker points the service at a TCP listener that accepts
// connections and never answers (a hung or black-holed broker, the slow
// kind of unreachable): the service must give up with one clear line rather
// than hang. It reports how long that took.
func TestCLISilentBroker(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	addr := ln.Addr().String()
	start := time.Now()
	_, stderr, code := runCLI(t, 60*time.Second, nil, "run", "--model.bundle", filepath.Join(repoRoot, "examples", "fraud"),
		"--http.listen", "127.0.0.1:0", "--log.format", "json", "--kafka.brokers", addr)
	t.Logf("silent broker: gave up after %.1fs", time.Since(start).Seconds())
	checkOneLineError(t, stderr, code, addr, "unreachable")
}

// TestConfigRedactsSecrets checks that `streamscore config` prints the
// effective configuration (file < environment < flags) with every secret
// redacted, wherever it came from, and unset secrets as empty.
func TestConfigRedactsSecrets(t *testing.T) {
	const fileSecret, envSecret, flagSecret = "file-secret-9f1c", "env-secret-27aa", "flag-secret-c3d0"
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	body := "kafka:\n  brokers: 127.0.0.1:9092\n  sasl:\n    mechanism: PLAIN\n    username: bob\n    password: " + fileSecret +
		"\nregistry:\n  url: http://127.0.0.1:8081\n  username: alice\n  password: " + fileSecret + "\ninput:\n  topic: from-file\n"
	if err := os.WriteFile(cfgPath, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, 30*time.Second, []string{"STREAMSCORE_REGISTRY_PASSWORD=" + envSecret},
		"config", "--config", cfgPath, "--kafka.sasl.password", flagSecret, "--output.topic", "from-flag", "--model.bundle", "/bundles/fraud")
	if code != 0 {
		t.Fatalf("streamscore config exited %d: %s", code, stderr)
	}
	for _, s := range []string{fileSecret, envSecret, flagSecret} {
		if strings.Contains(stdout+stderr, s) {
			t.Errorf("secret %q printed:\n%s", s, stdout)
		}
	}
	var got struct {
		Kafka struct {
			Brokers string
			SASL    struct{ Mechanism, Username, Password string } `yaml:"sasl"`
		}
		Registry struct{ URL, Username, Password string }
		Input    struct{ Topic string }
		Output   struct{ Topic string }
	}
	if err := yaml.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, stdout)
	}
	if got.Kafka.SASL.Password != "[redacted]" || got.Registry.Password != "[redacted]" {
		t.Errorf("passwords: kafka.sasl %q, registry %q; want [redacted] for both", got.Kafka.SASL.Password, got.Registry.Password)
	}
	if got.Kafka.SASL.Username != "bob" || got.Registry.Username != "alice" || got.Kafka.SASL.Mechanism != "PLAIN" ||
		got.Kafka.Brokers != "127.0.0.1:9092" || got.Registry.URL != "http://127.0.0.1:8081" {
		t.Errorf("non-secret values not shown as set: %+v", got)
	}
	if got.Input.Topic != "from-file" || got.Output.Topic != "from-flag" {
		t.Errorf("input.topic %q (want from-file), output.topic %q (want from-flag)", got.Input.Topic, got.Output.Topic)
	}

	// Unset secrets print as empty, so "unset" and "set" can be told apart.
	stdout, stderr, code = runCLI(t, 30*time.Second, nil, "config", "--kafka.brokers", "127.0.0.1:9092", "--model.bundle", "/bundles/fraud")
	if code != 0 {
		t.Fatalf("streamscore config exited %d: %s", code, stderr)
	}
	got.Kafka.SASL.Password, got.Registry.Password = "x", "x"
	if err := yaml.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, stdout)
	}
	if got.Kafka.SASL.Password != "" || got.Registry.Password != "" {
		t.Errorf("unset passwords print as %q and %q, want empty", got.Kafka.SASL.Password, got.Registry.Password)
	}
}

// docSetting is one row of docs/configuration.md.
type docSetting struct{ key, def, env string }

var docRow = regexp.MustCompile("^\\| `([a-z_.]+)` \\| `(.*)` \\| `(STREAMSCORE_[A-Z_]+)` \\|")

// documentedSettings reads the settings tables of docs/configuration.md
// (generated from the code's settings table; cmd/streamscore tests that).
func documentedSettings(t *testing.T) []docSetting {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []docSetting
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := docRow.FindStringSubmatch(sc.Text()); m != nil {
			out = append(out, docSetting{m[1], m[2], m[3]})
		}
	}
	if len(out) < 30 {
		t.Fatalf("docs/configuration.md: found %d settings rows, want the full table", len(out))
	}
	return out
}

// TestHelpShowsDefaults checks `--help` of every command: exit 0, usage, and
// for the commands that take the service configuration, every key as a flag
// with its environment variable and its default (docs/configuration.md).
func TestHelpShowsDefaults(t *testing.T) {
	settings := documentedSettings(t)
	// Command-specific flags and the default each help must show.
	own := map[string]map[string]string{
		"run":     {},
		"config":  {},
		"demo":    {"--rate": "(default 2000)", "--samples": "(default 3)", "--duration": "", "--log.level": `(default "warn")`},
		"produce": {"--rate": "(default 5000)", "--count": "", "--poison": "", "--seed": "(default 1)", "--too-large-bytes": "(default 2097152)"},
		"bench": {"--events": "(default 1000000)", "--modes": "(default [at-least-once])", "--latency-for": "(default 15s)", "--partitions": "(default 6)", "--rate": "(default 20000)",
			"--log.level": `(default "warn")`},
		"score":    {"--bundle": "", "--in": "", "--out": "", "--rejects": "", "--format": ""},
		"validate": {"--bundle": ""},
		"version":  {},
	}
	withConfig := map[string]bool{"run": true, "config": true, "demo": true, "produce": true, "bench": true}
	for _, cmd := range []string{"run", "demo", "config", "version", "produce", "bench", "score", "validate"} {
		t.Run(cmd, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, 30*time.Second, nil, cmd, "--help")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stdout, "Usage:\n  streamscore "+cmd) {
				t.Fatalf("no usage line for %s:\n%s", cmd, stdout)
			}
			flagLine := func(flag string) string {
				for _, l := range strings.Split(stdout, "\n") {
					if f := strings.Fields(l); len(f) > 0 && f[0] == flag {
						return l
					}
				}
				return ""
			}
			for flag, def := range own[cmd] {
				l := flagLine(flag)
				if l == "" {
					t.Errorf("flag %s not in the help", flag)
				} else if def != "" && !strings.Contains(l, def) {
					t.Errorf("flag %s: want %q in %q", flag, def, strings.TrimSpace(l))
				}
			}
			if !withConfig[cmd] {
				return
			}
			defer func() { t.Logf("checked %d configuration flags and %d own flags", len(settings), len(own[cmd])) }()
			if flagLine("--config") == "" {
				t.Errorf("--config not in the help")
			}
			for _, s := range settings {
				if _, ownDefault := own[cmd]["--"+s.key]; ownDefault {
					continue // demo and bench start from other defaults (docs/configuration.md, last table)
				}
				if strings.HasPrefix(s.key, "sink.") {
					continue // the sink's section is `streamscore sink postgres`'s alone
				}
				l := flagLine("--" + s.key)
				if l == "" {
					t.Errorf("--%s not in the help", s.key)
					continue
				}
				if !strings.Contains(l, "[env "+s.env+"]") {
					t.Errorf("--%s: want [env %s] in %q", s.key, s.env, strings.TrimSpace(l))
				}
				var want string
				switch {
				case s.def == `""` || s.def == "false" || s.def == "0":
					// pflag shows no default for zero values
				case strings.Contains(l, " string "):
					want = `(default "` + s.def + `")`
				default:
					want = "(default " + s.def + ")"
				}
				if want != "" && !strings.Contains(l, want) {
					t.Errorf("--%s: want %s in %q", s.key, want, strings.TrimSpace(l))
				}
			}
		})
	}
}

// TestVersion checks `streamscore version` prints one line naming the build.
func TestVersion(t *testing.T) {
	stdout, stderr, code := runCLI(t, 30*time.Second, nil, "version")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !regexp.MustCompile(`^streamscore \S+ \(module github\.com/streamscore/streamscore@\S+, commit \S+, go\S+\)\n$`).MatchString(stdout) {
		t.Errorf("version output %q", stdout)
	}
}
