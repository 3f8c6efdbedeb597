package scoring

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/features"
)

// TestSchemaMatchesLoader keeps bundle.schema.json and the Go decoder in
// step: every object in the schema allows exactly the keys the loader allows,
// and requires what the loader requires.
func TestSchemaMatchesLoader(t *testing.T) {
	data, err := os.ReadFile("bundle.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	type obj struct {
		Properties           map[string]json.RawMessage `json:"properties"`
		Required             []string                   `json:"required"`
		AdditionalProperties *bool                      `json:"additionalProperties"`
	}
	var schema struct {
		obj
		Defs map[string]obj `json:"$defs"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	check := func(name string, o obj, allowed, required []string) {
		t.Helper()
		if o.AdditionalProperties == nil || *o.AdditionalProperties {
			t.Errorf("%s: got additionalProperties %v, want false", name, o.AdditionalProperties)
		}
		var got []string
		for k := range o.Properties {
			got = append(got, k)
		}
		if g, w := sorted(got), sorted(allowed); g != w {
			t.Errorf("%s keys: got %s, want %s", name, g, w)
		}
		if g, w := sorted(o.Required), sorted(required); g != w {
			t.Errorf("%s required: got %s, want %s", name, g, w)
		}
	}
	check("manifest", schema.obj, manifestKeys, []string{"format_version", "name", "version", "inputs", "features", "model", "output"})
	check("input", schema.Defs["input"], inputKeys, []string{"name", "type"})
	check("feature", schema.Defs["feature"], features.FeatureKeys, []string{"name"})
	check("derive", schema.Defs["derive"], features.DeriveKeys, []string{"op", "a", "b"})
	check("model", schema.Defs["model"], modelKeys, []string{"kind"})
	check("output", schema.Defs["output"], outputKeys, []string{"task"})
	check("threshold", schema.Defs["threshold"], thresholdKeys, thresholdKeys)
	for _, op := range features.StepOps() {
		allowed, required, _ := features.StepKeys(op)
		check("step "+op, schema.Defs["step_"+op], append([]string{"op"}, allowed...), append([]string{"op"}, required...))
	}
}

func sorted(s []string) string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return strings.Join(c, ",")
}
