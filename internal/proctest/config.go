package proctest

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// ConfigYAML renders dotted configuration keys ("input.topic") as the
// nested YAML file `streamscore run --config` reads.
func ConfigYAML(kv map[string]any) ([]byte, error) {
	tree := map[string]any{}
	for k, v := range kv {
		parts := strings.Split(k, ".")
		m := tree
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = v
	}
	return yaml.Marshal(tree)
}

// BaseKeys are the keys every suite's service starts from: the bundle, HTTP
// on a free 127.0.0.1 port (the service logs the address it got) and JSON
// logs at info, the lines WaitLog and LogLine read.
func BaseKeys(bundle string) map[string]any {
	return map[string]any{
		"model.bundle": bundle,
		"http.listen":  "127.0.0.1:0",
		"log.format":   "json",
		"log.level":    "info",
	}
}

// MergeKeys is the union of the dotted-key maps, later ones winning: a
// suite's defaults, then what a test sets.
func MergeKeys(ms ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
