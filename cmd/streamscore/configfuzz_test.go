package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzConfigFile: any bytes as the --config file load into a tree or give
// one error that names the file or the key; never a panic. `make fuzz`
// runs it; `go test` runs the seeds.
func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{
		"kafka:\n  brokers: [a:9092, b:9092]\nmodel:\n  bundle: /b\n",
		"processor:\n  batch_max_records: 1e6\n  commit_interval: 5s\n  max_inflight_records: 9223372036854775808\n",
		"processor:\n  memory_budget: .nan\n  linger: 12\n",
		"http:\n  predict: yes\n  listen: {a: 1}\n",
		"kafka: &a\n  brokers: *a\n",
		"input: [1, 2]\n", "- a\n- b\n", "%YAML 1.1\n---\n", "input:\n  topic: !!binary aGk=\n", "\t", "~",
		"model.reload_token_file: x\n",
	} {
		f.Add([]byte(s))
	}
	defaults := defaultConfig()
	leaves, _ := walkConfig(&defaults)
	namesKey := func(msg string) bool {
		for _, l := range leaves {
			if strings.Contains(msg, l.key) {
				return true
			}
		}
		return false
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		path := filepath.Join(t.TempDir(), "streamscore.yaml")
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := load(t, defaultConfig(), "--config", path)
		switch {
		case err == nil && c == nil:
			t.Fatalf("%q: no tree and no error", file)
		case err != nil && !strings.Contains(err.Error(), path) && !namesKey(err.Error()):
			t.Fatalf("%q: error %q names neither the file nor a key", file, err)
		}
	})
}
