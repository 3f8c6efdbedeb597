// Package e2e runs the built streamscore binary as a subprocess and checks
// what an operator sees from the outside: the Prometheus scrape and alert
// rules (with a real Prometheus), the HTTP endpoints, the demo and the
// command line's behaviour on bad input.
//
// The binary is STREAMSCORE_BIN when set (`make test` builds it), otherwise it
// is built with `go build` into a temporary directory once per test run.
// Kafka is the real broker named by STREAMSCORE_TEST_BROKERS when set,
// otherwise the service's embedded broker or an in-process kfake cluster.
// Tools the tests need (prometheus, and with a real broker the Kafka
// command-line tools) are required: a missing tool fails the test, it never
// skips.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

var (
	// bin is the streamscore binary under test.
	bin string
	// repoRoot is the module root (go.mod), absolute.
	repoRoot string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err == nil {
		_, err = os.Stat(filepath.Join(root, "go.mod"))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: cannot find the repository root from %s: %v\n", mustWd(), err)
		return 1
	}
	repoRoot = root

	if b := os.Getenv("STREAMSCORE_BIN"); b != "" {
		abs, err := filepath.Abs(b)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: STREAMSCORE_BIN=%s: %v\n", b, err)
			return 1
		}
		bin = abs
		return m.Run()
	}

	dir, err := os.MkdirTemp("", "streamscore-e2e-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "streamscore")
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/streamscore")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: STREAMSCORE_BIN is not set and `go build ./cmd/streamscore` failed: %v\n%s", err, out)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: STREAMSCORE_BIN not set; built %s in %.1fs\n", bin, time.Since(start).Seconds())
	return m.Run()
}

func mustWd() string {
	wd, _ := os.Getwd()
	return wd
}
