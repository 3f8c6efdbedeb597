package main

import (
	"bytes"
	"encoding/json"
	"fmt"
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
			if strings.Contains(out.String(), "warning    ") {
				t.Errorf("an example bundle is warned about:\n%s", out.String())
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

// TestValidateReferenceRecord: a bundle.json that records no row count and
// sha256 of reference.jsonl validates with a warning (even with the file
// cut short, which nothing can tell then); one that records them refuses
// the file cut short, naming both counts; without the file it validates,
// saying what bundle.json records.
func TestValidateReferenceRecord(t *testing.T) {
	src := "../../examples/fraud"
	read := func(f string) []byte {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	manifest, model, ref := read("bundle.json"), read("model.json"), read("reference.jsonl")
	var m map[string]any
	if err := json.Unmarshal(manifest, &m); err != nil {
		t.Fatal(err)
	}
	rec, _ := m["reference"].(map[string]any)
	if rec == nil {
		t.Fatal(`examples/fraud/bundle.json has no "reference"`)
	}
	rows := int(rec["rows"].(float64))
	delete(m, "reference")
	unrecorded, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(bytes.TrimSuffix(ref, []byte("\n")), []byte("\n"))
	half := bytes.Join(lines[:rows/2], nil)
	const warning = "warning    bundle.json records no row count or sha256 of reference.jsonl: a copy of it cut short would be checked on the rows left"
	doc, err := os.ReadFile("../../docs/bundle.md")
	if err != nil {
		t.Fatal(err)
	}
	if collapse := func(s string) string { return strings.Join(strings.Fields(s), " ") }; !strings.Contains(collapse(string(doc)), collapse(warning)) {
		t.Errorf("docs/bundle.md does not quote validate's warning %q", warning)
	}
	for _, tc := range []struct {
		name          string
		manifest, ref []byte // ref nil: no reference.jsonl
		wantErr       string // "": validates (ends in ok)
		want, notWant string // in the output
	}{
		{"recorded", manifest, ref, "", fmt.Sprintf("reference  %d rows", rows), "warning"},
		{"recorded, cut short", manifest, half, fmt.Sprintf("reference.jsonl has %d rows where bundle.json records %d", rows/2, rows), "", ""},
		{"recorded, no file", manifest, nil, "", fmt.Sprintf("reference  none (bundle.json records %d rows of reference.jsonl, but the file is not here", rows), "warning"},
		{"not recorded", unrecorded, ref, "", warning, ""},
		{"not recorded, cut short", unrecorded, half, "", warning, fmt.Sprintf("reference  %d rows", rows)},
		{"not recorded, no file", unrecorded, nil, "", "reference  none (no reference.jsonl", "warning"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string][]byte{"bundle.json": tc.manifest, "model.json": model}
			if tc.ref != nil {
				files["reference.jsonl"] = tc.ref
			}
			for f, b := range files {
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var out bytes.Buffer
			err := validate(&out, dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("validate: %v, want an error containing %q\n%s", err, tc.wantErr, out.String())
				}
				return
			}
			if err != nil || !strings.HasSuffix(out.String(), "ok\n") {
				t.Fatalf("validate: %v, want ok\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), tc.want) || (tc.notWant != "" && strings.Contains(out.String(), tc.notWant)) {
				t.Errorf("output should say %q and not %q:\n%s", tc.want, tc.notWant, out.String())
			}
		})
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
