package schemas

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves goroutines behind (the fake registry
// servers and the HTTP client connections to them are closed by cleanups).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
