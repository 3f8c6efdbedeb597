// Package e2e runs the built streamscore binary as a subprocess and checks
// what an operator sees from the outside: the Prometheus scrape and alert
// rules (with a real Prometheus), the HTTP endpoints, the demo and the
// command line's behaviour on bad input.
//
// The binary is STREAMSCORE_TEST_BIN when set (`make test` builds it), otherwise it
// is built with `go build` into a temporary directory once per test run.
// Kafka is the real broker named by STREAMSCORE_TEST_BROKERS when set,
// otherwise the service's embedded broker or an in-process kfake cluster.
// Tools the tests need (prometheus, and with a real broker the Kafka
// command-line tools) are required: a missing tool fails the test, it never
// skips.
package e2e

import (
	"testing"

	"github.com/streamscore/streamscore/internal/proctest"
)

// bin is the streamscore binary under test, repoRoot the module root (go.mod).
var bin, repoRoot string

func TestMain(m *testing.M) { proctest.Main(m, &repoRoot, &bin) }
