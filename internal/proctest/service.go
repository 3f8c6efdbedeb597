package proctest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// WriteConfig renders the dotted keys kv (ConfigYAML) as config.yaml in a
// new temporary directory, logs it and returns its path.
func WriteConfig(t testing.TB, kv map[string]any) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	t.Logf("streamscore config:\n%s", WriteConfigFile(t, path, kv))
	return path
}

// TempFile writes content to the file name in a new temporary directory and
// returns its path: a config, password or token file a test hands to the
// code under test. The file is private (0600), as such files must be.
func TempFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// WriteConfigFile renders the dotted keys kv (ConfigYAML) as the file path,
// replacing it, and returns what it wrote: for a test that keeps several
// configs in one directory or rewrites one. The file is private (0600): a
// suite's config may hold passwords.
func WriteConfigFile(t testing.TB, path string, kv map[string]any) []byte {
	t.Helper()
	doc, err := ConfigYAML(kv)
	if err != nil {
		t.Fatalf("config yaml: %v", err)
	}
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return doc
}

// WaitLog waits up to d for the first JSON log line on the process's stderr
// whose "msg" is msg and returns it decoded (LogLine); it fails the test when
// the process exits first or d passes.
func (p *Proc) WaitLog(d time.Duration, msg string) map[string]any {
	p.t.Helper()
	var line map[string]any
	Eventually(p.t, d, fmt.Sprintf("%s: log line %q", p.Name, msg), func() error {
		if line = p.LogLine(msg); line == nil {
			return fmt.Errorf("no %q log line yet", msg)
		}
		return nil
	}, p)
	return line
}

// StopClean stops the process like Stop and fails the test unless it
// exited 0 and wrote no ERROR-level JSON log line.
func (p *Proc) StopClean() {
	p.t.Helper()
	if code := p.Stop(); code != 0 {
		p.t.Fatalf("%s exited %d after SIGTERM, want 0", p.Name, code)
	}
	for _, l := range p.Stderr.Lines() {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["level"] == "ERROR" {
			p.t.Errorf("%s logged an error: %s", p.Name, l)
		}
	}
}
