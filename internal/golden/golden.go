// Package golden compares test output with committed files (testdata/, and
// docs generated from the code), and rewrites them when the test binary
// runs with -update. Tests that use it
// must not define an -update flag of their own.
package golden

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Update is the -update flag: rewrite the golden files instead of comparing.
var Update = flag.Bool("update", false, "rewrite the golden files and generated docs the tests compare against")

// Check compares got with the file at path (relative to the test's package
// directory), or writes it with -update.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rewrite := fmt.Sprintf("go test -run '^%s$' -update", t.Name())
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (%s creates it): %v", rewrite, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date (%s rewrites it): %s", path, rewrite, firstDifference(string(got), string(want)))
	}
}

// firstDifference names the first line where got and want differ (golden
// files can be whole docs: the line says more than both texts).
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl || i >= len(g) || i >= len(w) {
			return fmt.Sprintf("line %d: got %q, committed %q", i+1, gl, wl)
		}
	}
	return "they differ"
}
