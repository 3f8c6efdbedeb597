package doctest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update is -update in the test binaries of the packages that compare
// against golden files (`go test ./pkg -run Name -update`).
var update = flag.Bool("update", false, "rewrite the golden files and generated docs the tests compare against")

// Golden fails t unless the committed file at path holds got. With
// -update it writes got there first. regenerate is the command that
// rewrites the file, for the failure message.
func Golden(t testing.TB, path string, got []byte, regenerate string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run %s)", err, regenerate)
	}
	if string(want) != string(got) {
		t.Errorf("%s is out of date (run %s): %s", path, regenerate, firstDifference(string(got), string(want)))
	}
}

// firstDifference names the first line where got and want differ.
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
