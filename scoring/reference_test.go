package scoring

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/internal/doctest"
)

// TestExamplesRecordTheirReference: every example bundle's manifest records
// its reference.jsonl (the exporter writes it), and the file is the one
// recorded, so each loads.
func TestExamplesRecordTheirReference(t *testing.T) {
	dirs, err := filepath.Glob("../examples/*/bundle.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no example bundles (%v)", err)
	}
	for _, m := range dirs {
		dir := filepath.Dir(m)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			b, err := Load(dir)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			data, err := os.ReadFile(filepath.Join(dir, ReferenceFile))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := b.Manifest.Reference, DescribeReference(data); got == nil || *got != want {
				t.Errorf("bundle.json reference %+v, want %+v (regenerate with train/make_examples.py)", got, want)
			}
		})
	}
}

// TestLoadChecksReference: a reference.jsonl cut short at a line boundary,
// or changed, is a load error naming the file and both counts; a bundle
// without the file, or whose manifest records none, loads.
func TestLoadChecksReference(t *testing.T) {
	const src = "../examples/fraud"
	ref, err := os.ReadFile(filepath.Join(src, ReferenceFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(ref, []byte("\n"))
	if lines[len(lines)-1] == nil || len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	rows := len(lines)
	half := bytes.Join(lines[:rows/2], nil)
	changed := bytes.Replace(ref, []byte(`"scores":[`), []byte(`"scores": [`), 1)
	if bytes.Equal(changed, ref) {
		t.Fatal(`no "scores":[ in the reference rows to change`)
	}
	manifest, err := os.ReadFile(filepath.Join(src, "bundle.json"))
	if err != nil {
		t.Fatal(err)
	}
	unrecorded := edit(t, manifest, func(m map[string]any) { delete(m, "reference") })
	want := DescribeReference(ref)

	for _, tc := range []struct {
		name     string
		manifest []byte // nil: the example's
		ref      []byte // nil: no reference.jsonl
		wantErr  string // "": loads
	}{
		{"as exported", nil, ref, ""},
		{"cut at a line boundary", nil, half,
			fmt.Sprintf("reference.jsonl has %d rows where bundle.json records %d (sha256 %s): a copy cut short?", rows/2, rows, want.SHA256)},
		{"cut to nothing", nil, []byte{}, fmt.Sprintf("reference.jsonl has 0 rows where bundle.json records %d", rows)},
		{"cut mid-line", nil, ref[:len(ref)-10], fmt.Sprintf("reference.jsonl has the %d rows bundle.json records, but its sha256 is", rows)},
		{"a row changed", nil, changed, fmt.Sprintf("but its sha256 is %s where bundle.json records %s: the file changed after export",
			DescribeReference(changed).SHA256, want.SHA256)},
		{"a row added", nil, append(append([]byte(nil), ref...), lines[0]...), fmt.Sprintf("reference.jsonl has %d rows where bundle.json records %d", rows+1, rows)},
		{"no reference.jsonl", nil, nil, ""},
		{"nothing recorded, file cut short", unrecorded, half, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m := manifest
			if tc.manifest != nil {
				m = tc.manifest
			}
			files := map[string][]byte{"bundle.json": m}
			if tc.ref != nil {
				files[ReferenceFile] = tc.ref
			}
			for name, data := range files {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			model, err := os.ReadFile(filepath.Join(src, "model.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "model.json"), model, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Load(dir)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Load: %v, want it to load", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "bundle "+dir+": ")):
				t.Fatalf("Load: %v, want an error for %s containing %q", err, dir, tc.wantErr)
			}
		})
	}
}

func TestDescribeReference(t *testing.T) {
	for _, tc := range []struct {
		data string
		rows int
	}{
		{"", 0},
		{"{}\n", 1},
		{"{}\n{}", 2},           // no final newline: a row all the same
		{"{}\r\n\n  \n{}\n", 2}, // blank lines are no rows, as ReadReference skips them
	} {
		if got := DescribeReference([]byte(tc.data)); got.Rows != tc.rows || len(got.SHA256) != 64 {
			t.Errorf("DescribeReference(%q) = %+v, want %d rows and a sha256", tc.data, got, tc.rows)
		}
	}
	// the SHA-256 is `sha256sum reference.jsonl`'s
	if got, want := DescribeReference([]byte("abc")).SHA256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("sha256 of abc: got %s, want %s", got, want)
	}
}

// TestDocsReferenceError: docs/bundle.md quotes the error for the fraud
// example's reference.jsonl cut to half its rows as Load gives it (the
// sha256 shortened to 4 digits).
func TestDocsReferenceError(t *testing.T) {
	const src = "../examples/fraud"
	dir := t.TempDir()
	for _, f := range []string{"bundle.json", "model.json", ReferenceFile} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == ReferenceFile {
			lines := bytes.SplitAfter(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
			b = bytes.Join(lines[:len(lines)/2], nil)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := Load(dir)
	if err == nil {
		t.Fatalf("Load of a reference.jsonl cut short: %s@%s, want an error", b.Name, b.Version)
	}
	m, err2 := Load(src)
	if err2 != nil {
		t.Fatal(err2)
	}
	sha := m.Manifest.Reference.SHA256
	want := strings.NewReplacer("bundle "+dir, "bundle examples/fraud", sha, sha[:4]+"...").Replace(err.Error())
	doc := strings.Join(strings.Fields(doctest.Section(t, bundleDoc, "### reference: what the file was when exported")), " ")
	if !strings.Contains(doc, "`"+want+"`") {
		t.Errorf("docs/bundle.md (### reference) does not quote the error as Load gives it:\n`%s`", want)
	}
}
