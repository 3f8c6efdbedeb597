package schemas

import (
	"testing"

	"github.com/streamscore/streamscore/schemas/srtest"
)

// newTestRegistry starts the in-process fake registry (see package srtest
// for why it is not a real one) and a Registry client for it.
func newTestRegistry(tb testing.TB) (*srtest.Server, *Registry) {
	tb.Helper()
	srv := srtest.New(tb)
	reg, err := NewRegistry(RegistryConfig{URL: srv.URL()})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, reg
}
