package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestThirdPartyLicensesCurrent regenerates THIRD_PARTY_LICENSES
// (scripts/licenses.sh: every module compiled into the binary, with its
// licence text) and compares it with the committed file, so a new or
// upgraded dependency cannot ship without its licence. On a mismatch, run
// `bash scripts/licenses.sh` and commit the result.
func TestThirdPartyLicensesCurrent(t *testing.T) {
	fresh := filepath.Join(t.TempDir(), "THIRD_PARTY_LICENSES")
	cmd := exec.Command("bash", "../scripts/licenses.sh", fresh)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/licenses.sh: %v\n%s", err, stderr.String())
	}
	got, err := os.ReadFile(fresh)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../THIRD_PARTY_LICENSES")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) && i < len(wl); i++ {
			if gl[i] != wl[i] {
				t.Fatalf("THIRD_PARTY_LICENSES is out of date (line %d: committed %q, now %q): run bash scripts/licenses.sh", i+1, wl[i], gl[i])
			}
		}
		t.Fatalf("THIRD_PARTY_LICENSES is out of date (%d lines committed, %d now): run bash scripts/licenses.sh", len(wl), len(gl))
	}
	t.Logf("%s", strings.TrimSpace(stderr.String()))

	lic, err := os.ReadFile("../LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(bytes.TrimSpace(lic), []byte("Apache License\n                           Version 2.0, January 2004")) ||
		!bytes.Contains(lic, []byte("END OF TERMS AND CONDITIONS")) {
		t.Error("LICENSE is not the full Apache License 2.0 text")
	}
}
