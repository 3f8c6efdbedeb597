package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateExamples: every example bundle passes validate, which scores
// its reference rows through the stream's path.
func TestValidateExamples(t *testing.T) {
	dirs, err := filepath.Glob("../../examples/*/bundle.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no example bundles (%v)", err)
	}
	for _, m := range dirs {
		dir := filepath.Dir(m)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var out bytes.Buffer
			if err := validate(&out, dir); err != nil {
				t.Fatalf("validate: %v\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), "reference  ") || !strings.HasSuffix(out.String(), "ok\n") {
				t.Errorf("output does not report the reference check and end in ok:\n%s", out.String())
			}
			var manifest struct{ Output struct{ Task string } }
			if m, err := os.ReadFile(m); err != nil || json.Unmarshal(m, &manifest) != nil || manifest.Output.Task == "" {
				t.Fatalf("bundle.json without output.task: %v", err)
			}
			task := manifest.Output.Task
			want := map[bool]string{true: "worst relative score diff ", false: "worst |probability diff| "}[task == "regression"]
			if !strings.Contains(out.String(), want) {
				t.Errorf("a %s bundle's output does not name %q:\n%s", task, want, out.String())
			}
		})
	}
}

// TestValidateCatchesAChangedLeaf: one leaf of the fraud model edited, the
// bundle still loads, and validate fails naming the rows it changes.
func TestValidateCatchesAChangedLeaf(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"bundle.json", "model.json", "reference.jsonl"} {
		b, err := os.ReadFile(filepath.Join("../../examples/fraud", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "model.json" {
			b = editOneLeaf(t, b)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	err := validate(&out, dir)
	if err == nil || !strings.Contains(err.Error(), "reference rows disagree with the training library") {
		t.Fatalf("validate of an edited model: got %v, want a mismatch error\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "mismatch   line ") {
		t.Errorf("no mismatch line in the output:\n%s", out.String())
	}
}

// editOneLeaf adds 0.5 to the first leaf of the first tree of an XGBoost
// save_model JSON document.
func editOneLeaf(t *testing.T, model []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(model, &m); err != nil {
		t.Fatal(err)
	}
	tree := m["learner"].(map[string]any)["gradient_booster"].(map[string]any)["model"].(map[string]any)["trees"].([]any)[0].(map[string]any)
	left := tree["left_children"].([]any)
	cond := tree["split_conditions"].([]any)
	for i, l := range left {
		if l.(float64) == -1 {
			cond[i] = cond[i].(float64) + 0.5
			out, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	t.Fatal("no leaf in the first tree")
	return nil
}
