package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RepoRoot is the absolute directory of the nearest go.mod at or above the
// working directory (a test's working directory is its package directory).
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("no go.mod in %s or above", wd)
		}
		dir = up
	}
}

// Binary returns the streamscore binary under test, as an absolute path:
// STREAMSCORE_TEST_BIN when set (it must exist), otherwise ./cmd/streamscore of
// repoRoot built with `go build` into a new temporary directory. cleanup
// removes what Binary made (nothing for STREAMSCORE_TEST_BIN); call it after
// m.Run. Messages go to stderr prefixed with the test binary's name.
func Binary(repoRoot string) (bin string, cleanup func(), err error) {
	if b := os.Getenv("STREAMSCORE_TEST_BIN"); b != "" {
		abs, err := filepath.Abs(b)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			return "", nil, fmt.Errorf("STREAMSCORE_TEST_BIN=%s: %w", b, err)
		}
		return abs, func() {}, nil
	}
	name := suiteName()
	dir, err := os.MkdirTemp("", "streamscore-"+name+"-bin-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	bin = filepath.Join(dir, "streamscore")
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/streamscore")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("STREAMSCORE_TEST_BIN is not set and `go build ./cmd/streamscore` failed: %w\n%s", err, out)
	}
	fmt.Fprintf(os.Stderr, "%s: STREAMSCORE_TEST_BIN not set; built %s in %.1fs\n", name, bin, time.Since(start).Seconds())
	return bin, cleanup, nil
}

// suiteName is the test binary's name without ".test" (e2e, interop).
func suiteName() string {
	return strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
}

// Main is the TestMain of a suite that runs the binary: it sets *root to the
// repository root and *bin to the binary under test (Binary), runs the tests,
// removes what Binary built and exits with m.Run's code, or with 1 and the
// reason on stderr when the setup fails.
func Main(m *testing.M, root, bin *string) {
	os.Exit(runMain(m, root, bin))
}

func runMain(m *testing.M, root, bin *string) int {
	name := suiteName()
	r, err := RepoRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: cannot find the repository root: %v\n", name, err)
		return 1
	}
	b, cleanup, err := Binary(r)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	defer cleanup()
	*root, *bin = r, b
	return m.Run()
}
