package scoring

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFixture(t testing.TB, name, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "bundles", name, file))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// edit decodes JSON, applies f to the generic value and encodes it again.
func edit(t *testing.T, data []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func obj(v any) map[string]any { return v.(map[string]any) }
func arr(v any) []any          { return v.([]any) }

func TestLoadManifestErrors(t *testing.T) {
	manifest := readFixture(t, "hand-xgb-binary", "bundle.json")
	model := readFixture(t, "hand-xgb-binary", "model.json")
	linear := readFixture(t, "hand-linear", "bundle.json")
	tests := []struct {
		name string
		base []byte
		edit func(m map[string]any)
		want string
	}{
		{"unknown top-level key", manifest, func(m map[string]any) { m["owner"] = "me" }, `manifest: unknown key "owner"`},
		{"unknown input key", manifest, func(m map[string]any) { obj(arr(m["inputs"])[1])["nullable"] = true }, `inputs[1]: unknown key "nullable"`},
		{"unknown step key", manifest, func(m map[string]any) {
			obj(arr(m["features"])[0])["steps"] = []any{map[string]any{"op": "log1p", "base": 2}}
		}, `features[0]: feature "x": steps[0]: op "log1p": unknown key "base"`},
		{"unknown model key", manifest, func(m map[string]any) { obj(m["model"])["format"] = "json" }, `model: kind "xgboost": unknown key "format" (allowed: kind, file)`},
		{"unknown output key", manifest, func(m map[string]any) { obj(m["output"])["cutoff"] = 0.5 }, `output: unknown key "cutoff"`},
		{"unknown threshold key", manifest, func(m map[string]any) {
			obj(m["output"])["thresholds"] = []any{map[string]any{"above": 0.5, "label": "x", "below": 1}}
		}, `output.thresholds[0]: unknown key "below"`},
		{"format version", manifest, func(m map[string]any) { m["format_version"] = 2 }, "format_version 2 is not supported"},
		{"missing name", manifest, func(m map[string]any) { delete(m, "name") }, `missing key "name"`},
		{"wrong type", manifest, func(m map[string]any) { m["version"] = 3 }, `key "version": got JSON number, want a string`},
		{"input type", manifest, func(m map[string]any) { obj(arr(m["inputs"])[0])["type"] = "float" }, `unknown type "float"`},
		{"task mismatch", manifest, func(m map[string]any) { obj(m["output"])["task"] = "multiclass" }, `task "multiclass" but the model is a binary model`},
		{"binary classes", manifest, func(m map[string]any) { obj(m["output"])["classes"] = []any{"a", "b", "c"} }, "needs 2 classes"},
		{"duplicate classes", manifest, func(m map[string]any) { obj(m["output"])["classes"] = []any{"a", "a"} }, "non-empty and unique"},
		{"width mismatch", manifest, func(m map[string]any) { m["features"] = arr(m["features"])[:1] }, "num_feature 2 but the features produce 1 columns"},
		{"model file escapes", manifest, func(m map[string]any) { obj(m["model"])["file"] = "../x.json" }, "relative path inside the bundle"},
		{"unknown kind", manifest, func(m map[string]any) { obj(m["model"])["kind"] = "catboost" }, `unknown kind "catboost"`},
		{"xgboost with coef", manifest, func(m map[string]any) { obj(m["model"])["coef"] = []any{[]any{1.0}} }, `kind "xgboost": unknown key "coef"`},
		{"xgboost without file", manifest, func(m map[string]any) { delete(obj(m["model"]), "file") }, `kind "xgboost": missing key "file"`},
		{"xgboost empty file", manifest, func(m map[string]any) { obj(m["model"])["file"] = "" }, "model: xgboost needs a file name"},
		{"sklearn empty file", manifest, func(m map[string]any) {
			obj(m["model"])["kind"], obj(m["model"])["file"] = "sklearn_forest", ""
		}, "model: sklearn_forest needs a file name"},
		{"missing kind", manifest, func(m map[string]any) { delete(obj(m["model"]), "kind") }, `model: missing key "kind"`},
		{"empty kind", manifest, func(m map[string]any) { obj(m["model"])["kind"] = "" }, `model: unknown kind "" (want one of histgb, lightgbm, linear, mlp, sklearn_forest, sklearn_gradient_boosting, xgboost)`},
		{"linear with file", linear, func(m map[string]any) { obj(m["model"])["file"] = "model.json" }, `kind "linear": unknown key "file" (allowed: kind, link, coef, intercept)`},
		{"linear without coef", linear, func(m map[string]any) { delete(obj(m["model"]), "coef") }, `kind "linear": missing key "coef"`},
		{"linear coef type", linear, func(m map[string]any) { obj(m["model"])["coef"] = "x" }, `key "coef": got JSON string, want an array of arrays of numbers`},
		{"regression classes", linear, func(m map[string]any) { obj(m["output"])["classes"] = []any{"a"} }, "regression task has no classes"},
		{"linear width", linear, func(m map[string]any) {
			obj(m["model"])["coef"] = []any{[]any{1.0, 2.0}}
		}, "2 coefficients per row but the features produce 3 columns"},
		{"linear rows", linear, func(m map[string]any) {
			obj(m["model"])["coef"] = []any{[]any{1.0, 2.0, 3.0}, []any{1.0, 2.0}}
			obj(m["model"])["intercept"] = []any{0.0, 0.0}
		}, "coef row 1 has 2 values"},
		{"identity rows", linear, func(m map[string]any) {
			obj(m["model"])["coef"] = []any{[]any{1.0, 2.0, 3.0}, []any{1.0, 2.0, 3.0}}
			obj(m["model"])["intercept"] = []any{0.0, 0.0}
		}, "multi-output regression is not supported"},
		{"link", linear, func(m map[string]any) { obj(m["model"])["link"] = "probit" }, `unknown link "probit"`},
		{"reference unknown key", manifest, func(m map[string]any) {
			m["reference"] = map[string]any{"rows": 1, "sha256": strings.Repeat("a", 64), "file": "r.jsonl"}
		}, `reference: unknown key "file" (allowed: rows, sha256)`},
		{"reference without sha256", manifest, func(m map[string]any) { m["reference"] = map[string]any{"rows": 1} }, `reference: missing key "sha256"`},
		{"reference without rows", manifest, func(m map[string]any) { m["reference"] = map[string]any{"rows": 0, "sha256": strings.Repeat("a", 64)} }, "reference: rows 0, want at least 1"},
		{"reference sha256 upper case", manifest, func(m map[string]any) {
			m["reference"] = map[string]any{"rows": 1, "sha256": strings.Repeat("A", 64)}
		}, "want 64 lowercase hex digits"},
		{"reference sha256 short", manifest, func(m map[string]any) { m["reference"] = map[string]any{"rows": 1, "sha256": "abc"} }, "want 64 lowercase hex digits"},
		{"reference rows a string", manifest, func(m map[string]any) { m["reference"] = map[string]any{"rows": "2", "sha256": "abc"} }, `reference: key "rows": got JSON string, want a number`},
		{"invalid JSON", []byte(`{"format_version": 1,`), nil, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.base
			if tt.edit != nil {
				data = edit(t, tt.base, tt.edit)
			}
			_, err := Parse(data, func(name string) ([]byte, error) {
				if name != "model.json" {
					return nil, errors.New("file " + name + " must be a relative path inside the bundle directory")
				}
				return model, nil
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}

func TestLoadModelErrors(t *testing.T) {
	manifest := readFixture(t, "hand-xgb-binary", "bundle.json")
	model := readFixture(t, "hand-xgb-binary", "model.json")
	learner := func(m map[string]any) map[string]any { return obj(m["learner"]) }
	tree0 := func(m map[string]any) map[string]any {
		return obj(arr(obj(obj(learner(m)["gradient_booster"])["model"])["trees"])[0])
	}
	tests := []struct {
		name string
		edit func(m map[string]any)
		raw  []byte
		want string
	}{
		{"cycle", func(m map[string]any) { arr(tree0(m)["left_children"])[2] = 1.0 }, nil, "reached twice"},
		{"child out of range", func(m map[string]any) { arr(tree0(m)["right_children"])[0] = 99.0 }, nil, "out of range [1, 5)"},
		{"child is root", func(m map[string]any) { arr(tree0(m)["left_children"])[2] = 0.0 }, nil, "out of range"},
		{"half leaf", func(m map[string]any) { arr(tree0(m)["right_children"])[1] = 2.0 }, nil, "left child -1 but right child 2"},
		{"feature out of range", func(m map[string]any) { arr(tree0(m)["split_indices"])[0] = 7.0 }, nil, "split feature 7 out of range [0, 2)"},
		{"threshold overflows float32", func(m map[string]any) { arr(tree0(m)["split_conditions"])[0] = 1e39 }, nil, "want a number"},
		{"array lengths", func(m map[string]any) { tree0(m)["default_left"] = arr(tree0(m)["default_left"])[:3] }, nil, "differ in length"},
		{"num_nodes", func(m map[string]any) { obj(tree0(m)["tree_param"])["num_nodes"] = "9" }, nil, `num_nodes "9" but 5 nodes`},
		{"categorical", func(m map[string]any) { arr(tree0(m)["split_type"])[0] = 1.0 }, nil, "categorical splits are not supported"},
		{"vector leaf", func(m map[string]any) { obj(tree0(m)["tree_param"])["size_leaf_vector"] = "3" }, nil, "vector leaves"},
		{"dart", func(m map[string]any) { obj(learner(m)["gradient_booster"])["name"] = "dart" }, nil, `booster "dart" is not supported`},
		{"objective", func(m map[string]any) { obj(learner(m)["objective"])["name"] = "rank:ndcg" }, nil, `objective "rank:ndcg" is not supported`},
		{"num_target", func(m map[string]any) { obj(learner(m)["learner_model_param"])["num_target"] = "2" }, nil, "multi-target"},
		{"base_score count", func(m map[string]any) { obj(learner(m)["learner_model_param"])["base_score"] = "[1E-1,2E-1]" }, nil, "has 2 values, want 1 or 1"},
		{"base_score range", func(m map[string]any) { obj(learner(m)["learner_model_param"])["base_score"] = "[2]" }, nil, "must be in [0, 1]"},
		{"base_score text", func(m map[string]any) { obj(learner(m)["learner_model_param"])["base_score"] = "half" }, nil, "not a finite number"},
		{"tree_info group", func(m map[string]any) { arr(obj(obj(learner(m)["gradient_booster"])["model"])["tree_info"])[1] = 3.0 }, nil, "group 3 out of range"},
		{"tree_info length", func(m map[string]any) {
			g := obj(obj(learner(m)["gradient_booster"])["model"])
			g["tree_info"] = arr(g["tree_info"])[:1]
		}, nil, "tree_info has 1 entries for 2 trees"},
		{"best_iteration", func(m map[string]any) { learner(m)["attributes"] = map[string]any{"best_iteration": "5"} }, nil, "best_iteration 5 beyond"},
		{"default_left", func(m map[string]any) { arr(tree0(m)["default_left"])[0] = 2.0 }, nil, "is not 0, 1, true or false"},
		{"no trees", func(m map[string]any) {
			g := obj(obj(learner(m)["gradient_booster"])["model"])
			g["trees"], g["tree_info"] = []any{}, []any{}
		}, nil, "no trees"},
		{"ubjson", nil, []byte("{L\x00\x00"), "invalid JSON"},
		{"not json", nil, []byte("\x89UBJ"), "not an XGBoost JSON model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.raw
			if m == nil {
				m = edit(t, model, tt.edit)
			}
			_, err := Parse(manifest, func(string) ([]byte, error) { return m, nil })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadFromDisk(t *testing.T) {
	b, err := Load(filepath.Join("testdata", "bundles", "hand-xgb-binary"))
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "hand-xgb-binary" || b.Version != "1" || b.Task() != TaskBinary || len(b.Classes()) != 2 || len(b.FeatureNames()) != 2 {
		t.Errorf("got %s@%s task %s classes %v columns %v", b.Name, b.Version, b.Task(), b.Classes(), b.FeatureNames())
	}
	if got, want := strings.Join(b.Labels(), ","), "High,Low"; got != want {
		t.Errorf("labels: got %s, want %s", got, want)
	}
	// a model file outside the bundle directory is refused by Load itself
	dir := t.TempDir()
	m := edit(t, readFixture(t, "hand-xgb-binary", "bundle.json"), func(m map[string]any) { obj(m["model"])["file"] = "../model.json" })
	if err := os.WriteFile(filepath.Join(dir, "bundle.json"), m, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "relative path inside the bundle directory") {
		t.Errorf("model file ../model.json: got %v, want an error about the path", err)
	}
	_, err = Load(filepath.Join("testdata", "bundles", "does-not-exist"))
	if err == nil || !strings.Contains(err.Error(), "does-not-exist") {
		t.Errorf("missing bundle: got %v, want an error naming the directory", err)
	}
}

func TestPolicy(t *testing.T) {
	bin := newPolicy(OutputSpec{Task: TaskBinary, Classes: []string{"no", "yes"}})
	thr := newPolicy(OutputSpec{Task: TaskBinary, Classes: []string{"Low", "High"}, Thresholds: []Threshold{{0.9, "Very High"}, {0.6, "High"}}})
	reg := newPolicy(OutputSpec{Task: TaskRegression, Thresholds: []Threshold{{100, "big"}}, DefaultLabel: "small"})
	multi := newPolicy(OutputSpec{Task: TaskMulticlass, Classes: []string{"a", "b", "c"}})
	tests := []struct {
		name      string
		p         policy
		out       []float64
		wantScore float64
		wantLabel string
	}{
		{"binary above 0.5", bin, []float64{0.3, 0.7}, 0.7, "yes"},
		{"binary at 0.5", bin, []float64{0.5, 0.5}, 0.5, "no"},
		{"first threshold wins", thr, []float64{0.05, 0.95}, 0.95, "Very High"},
		{"second threshold", thr, []float64{0.3, 0.7}, 0.7, "High"},
		{"threshold is strict", thr, []float64{0.4, 0.6}, 0.6, "Low"},
		{"regression above", reg, []float64{150}, 150, "big"},
		{"regression default", reg, []float64{100}, 100, "small"},
		{"multiclass argmax", multi, []float64{0.2, 0.5, 0.3}, 0.5, "b"},
		{"multiclass tie takes first", multi, []float64{0.4, 0.4, 0.2}, 0.4, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, l := tt.p.decide(tt.out)
			if s != tt.wantScore || l != tt.wantLabel {
				t.Errorf("got (%v, %q), want (%v, %q)", s, l, tt.wantScore, tt.wantLabel)
			}
		})
	}
}

func TestParseBaseScore(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want []float32
	}{
		{"5E-1", 1, []float32{0.5}},
		{"0.5", 3, []float32{0.5, 0.5, 0.5}},
		{"[4.9E-1]", 1, []float32{0.49}},
		{"[-6.8784475E-2,-5.2784204E-2,1.2156862E-1]", 3, []float32{-0.068784475, -0.052784204, 0.12156862}},
		{" [1, 2] ", 2, []float32{1, 2}},
	}
	for _, tt := range tests {
		got, err := parseBaseScore(tt.in, tt.n)
		if err != nil {
			t.Errorf("parseBaseScore(%q): %v", tt.in, err)
			continue
		}
		for i := range tt.want {
			if got[i] != tt.want[i] {
				t.Errorf("parseBaseScore(%q): got %v, want %v", tt.in, got, tt.want)
				break
			}
		}
	}
	for _, bad := range []string{"", "[", "[1,2,3]", "nan", "[1,,2]", "inf"} {
		if _, err := parseBaseScore(bad, 2); err == nil {
			t.Errorf("parseBaseScore(%q): got nil error", bad)
		}
	}
}
