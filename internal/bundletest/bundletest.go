// Package bundletest makes model bundles for tests of hot reload: versioned
// copies of an example bundle, broken in the ways a bad push breaks one, and
// the `current` symlink an operator flips between them.
//
// It is a test helper for other packages' tests; production code must not
// import it.
package bundletest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

// Copy copies the bundle directory src to dir/name with its manifest's
// version set to version (src must say "version": "1.0.0", as the examples
// do); each edit then changes the copy's files. It returns the copy's path.
func Copy(t testing.TB, src, dir, name, version string, edit ...func(dir string)) string {
	t.Helper()
	dst := filepath.Join(dir, name)
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dst, "bundle.json")
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	nb := bytes.Replace(b, []byte(`"version": "1.0.0"`), []byte(`"version": "`+version+`"`), 1)
	if bytes.Equal(nb, b) && version != "1.0.0" {
		t.Fatalf("%s: no \"version\": \"1.0.0\" to replace", manifest)
	}
	if err := os.WriteFile(manifest, nb, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, e := range edit {
		e(dst)
	}
	return dst
}

// TruncateManifest leaves the first half of bundle.json: the bundle does
// not load (unreadable JSON).
func TruncateManifest(dir string) {
	p := filepath.Join(dir, "bundle.json")
	b, _ := os.ReadFile(p)
	os.WriteFile(p, b[:len(b)/2], 0o644)
}

// TruncateReference leaves the first rows/2 of reference.jsonl's rows, cut at
// a line boundary as a copy stopped part way leaves it: what is left reads
// as good rows, and only the count bundle.json records tells.
func TruncateReference(dir string) {
	p := filepath.Join(dir, scoring.ReferenceFile)
	b, _ := os.ReadFile(p)
	lines := bytes.SplitAfter(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	os.WriteFile(p, bytes.Join(lines[:len(lines)/2], nil), 0o644) // rows/2 rows, each with its newline
}

// SkewReference changes the first reference row's scores, and the file's
// sha256 where bundle.json records it: the bundle loads but disagrees with
// its own reference rows (a bad export, not a bad copy).
func SkewReference(dir string) {
	p := filepath.Join(dir, scoring.ReferenceFile)
	b, _ := os.ReadFile(p)
	first, rest, _ := bytes.Cut(b, []byte("\n"))
	var row map[string]any
	json.Unmarshal(first, &row)
	row["scores"] = []float64{0.5, 0.5}
	first, _ = json.Marshal(row)
	skewed := append(append(first, '\n'), rest...)
	os.WriteFile(p, skewed, 0o644)
	manifest := filepath.Join(dir, "bundle.json")
	m, _ := os.ReadFile(manifest)
	was, now := scoring.DescribeReference(b).SHA256, scoring.DescribeReference(skewed).SHA256
	os.WriteFile(manifest, bytes.Replace(m, []byte(`"`+was+`"`), []byte(`"`+now+`"`), 1), 0o644)
}

// Flip points link at target atomically (a new link renamed over the old
// one), as an operator flipping `current` does.
func Flip(t testing.TB, link, target string) {
	t.Helper()
	tmp := link + ".new"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
}
