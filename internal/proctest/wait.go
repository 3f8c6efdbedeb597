package proctest

import (
	"strings"
	"testing"
	"time"
)

// Eventually polls cond every PollEvery until it returns nil or d passes;
// then it fails the test with the last error. It stops early, failing the
// test, when a watched process exits.
func Eventually(t testing.TB, d time.Duration, what string, cond func() error, watch ...*Proc) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		last := cond()
		if last == nil {
			return
		}
		for _, p := range watch {
			if p.Exited() {
				t.Fatalf("%s: %s exited (code %d) while waiting; last: %v", what, p.Name, p.ExitCode(), last)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %v", what, d, last)
		}
		time.Sleep(PollEvery)
	}
}

// LastLines is the last n lines of s.
func LastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
