package scoring

import (
	"encoding/json"
	"maps"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/internal/doctest"
)

type schemaObj struct {
	Properties           map[string]json.RawMessage `json:"properties"`
	Required             []string                   `json:"required"`
	AdditionalProperties *bool                      `json:"additionalProperties"`
	OneOf                []struct {
		Ref string `json:"$ref"`
	} `json:"oneOf"`
}

type schemaProp struct {
	Const *string  `json:"const"`
	Enum  []string `json:"enum"`
}

func readSchema(t *testing.T) (top schemaObj, defs map[string]schemaObj) {
	t.Helper()
	data, err := os.ReadFile("bundle.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		schemaObj
		Defs map[string]schemaObj `json:"$defs"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	return schema.schemaObj, schema.Defs
}

func (o schemaObj) prop(t *testing.T, key string) schemaProp {
	t.Helper()
	var p schemaProp
	if raw, ok := o.Properties[key]; ok {
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatalf("property %q: %v", key, err)
		}
	}
	return p
}

// refs returns the $defs names a oneOf refers to.
func (o schemaObj) refs() []string {
	var out []string
	for _, r := range o.OneOf {
		out = append(out, strings.TrimPrefix(r.Ref, "#/$defs/"))
	}
	return out
}

// TestSchemaMatchesLoader keeps bundle.schema.json and the Go decoder in
// step: every object in the schema allows exactly the keys the loader allows
// and requires what the loader requires. The step ops and model kinds come
// from their registries, so a new op or kind without its schema (or a schema
// entry without its op or kind) fails here.
func TestSchemaMatchesLoader(t *testing.T) {
	top, defs := readSchema(t)
	check := func(name string, o schemaObj, allowed, required []string) {
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
	check("manifest", top, manifestKeys, []string{"format_version", "name", "version", "inputs", "features", "model", "output"})
	check("input", defs["input"], inputKeys, []string{"name", "type"})
	check("feature", defs["feature"], features.FeatureKeys, []string{"name"})
	check("derive", defs["derive"], features.DeriveKeys, []string{"op", "a", "b"})
	if g, w := sorted(defs["derive"].prop(t, "op").Enum), sorted(features.DeriveOps()); g != w {
		t.Errorf("derive op enum: got %s, want %s", g, w)
	}
	check("output", defs["output"], outputKeys, []string{"task"})
	check("threshold", defs["threshold"], thresholdKeys, thresholdKeys)
	check("drift", defs["drift"], driftKeys, driftKeys)
	check("drift_input", defs["drift_input"], driftInputKeys, []string{"input", "expected", "missing"})
	check("drift_score", defs["drift_score"], driftScoreKeys, driftScoreKeys)
	check("reference", defs["reference"], referenceKeys, referenceKeys)

	// one $defs entry per registered op and kind, each reached from the oneOf
	// of its parent, and none for an op or kind that is not registered
	registered := func(prefix, parent, key string, names []string, keys func(string) ([]string, []string, bool)) {
		t.Helper()
		var want []string
		for _, n := range names {
			allowed, required, _ := keys(n)
			def := prefix + n
			want = append(want, def)
			o, ok := defs[def]
			if !ok {
				t.Errorf("%s %q is registered but bundle.schema.json has no $defs/%s", key, n, def)
				continue
			}
			check(def, o, append([]string{key}, allowed...), append([]string{key}, required...))
			if c := o.prop(t, key).Const; c == nil || *c != n {
				t.Errorf("%s: got %s const %v, want %q", def, key, c, n)
			}
		}
		for d := range defs {
			if strings.HasPrefix(d, prefix) && !contains(want, d) {
				t.Errorf("bundle.schema.json has $defs/%s but no %s %q is registered", d, key, strings.TrimPrefix(d, prefix))
			}
		}
		if g, w := sorted(defs[parent].refs()), sorted(want); g != w {
			t.Errorf("$defs/%s oneOf: got %s, want %s", parent, g, w)
		}
	}
	registered("step_", "step", "op", features.StepOps(), features.StepKeys)
	registered("model_", "model", "kind", ModelKinds(), ModelKeys)
	if g, w := sorted(defs["model"].prop(t, "kind").Enum), sorted(ModelKinds()); g != w {
		t.Errorf("model kind enum: got %s, want %s", g, w)
	}
}

// TestDocsMatchRegistry keeps docs/bundle.md in step with the registries:
// the steps table has one row per registered op, naming each of its keys;
// the model section has one "#### `kind`" heading per registered kind,
// naming each of its keys; the derive table lists the derive ops. A row or
// heading for something that is not registered fails too. The XGBoost
// objectives table lists exactly the objectives the loader reads.
func TestDocsMatchRegistry(t *testing.T) {
	data, err := os.ReadFile(bundleDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	rowName := regexp.MustCompile("^\\| `([a-z0-9_:]+)` \\|")
	table := func(header string) map[string]string {
		t.Helper()
		rows := map[string]string{}
		for _, line := range doctest.TableRows(t, bundleDoc, doc, header) {
			m := rowName.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("docs/bundle.md: row %q does not start with a `name`", line)
				continue
			}
			rows[m[1]] = line
		}
		return rows
	}
	documents := func(what, name, text string, keys []string) {
		t.Helper()
		for _, k := range keys {
			if !strings.Contains(text, "`"+k+"`") {
				t.Errorf("docs/bundle.md: %s %q does not name its key `%s`", what, name, k)
			}
		}
	}
	same := func(what string, documented []string, registered []string) {
		t.Helper()
		if g, w := sorted(documented), sorted(registered); g != w {
			t.Errorf("docs/bundle.md %s: documented %s, registered %s", what, g, w)
		}
	}

	steps := table("| op | on | parameters | computes |")
	same("step ops", keysOf(steps), features.StepOps())
	for op, row := range steps {
		allowed, _, _ := features.StepKeys(op)
		documents("step op", op, row, allowed)
	}
	same("derive ops", keysOf(table("| derive op | computes |")), features.DeriveOps())

	model := doctest.Section(t, bundleDoc, "### model")
	heading := regexp.MustCompile("(?m)^#### `([a-z0-9_]+)`")
	kinds := map[string]string{}
	idx := heading.FindAllStringSubmatchIndex(model, -1)
	for j, m := range idx {
		end := len(model)
		if j+1 < len(idx) {
			end = idx[j+1][0]
		}
		kinds[model[m[2]:m[3]]] = model[m[0]:end]
	}
	same("model kinds", keysOf(kinds), ModelKinds())
	same("XGBoost objectives", keysOf(table("| objective | task | score |")), slices.Collect(maps.Keys(objectives)))
	for kind, text := range kinds {
		allowed, _, _ := ModelKeys(kind)
		documents("model kind", kind, text, allowed)
	}
}

// bundleDoc is the bundle format's doc, which the docs tests keep in step.
const bundleDoc = "../docs/bundle.md"

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sorted(s []string) string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return strings.Join(c, ",")
}
