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
