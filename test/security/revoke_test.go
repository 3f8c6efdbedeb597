package security

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/streamscore/streamscore/internal/proctest"
)

// TestDLQWriteRevokedWhileRunning: Write on the DLQ is taken away after the
// start-up check passed; a poison record then ends the service with one
// line naming the principal and the ACL, and loses nothing: once the ACL
// is back, the restarted service dead-letters the record. Exactly-once
// committed the refused record's offset in a transaction without it.
func TestDLQWriteRevokedWhileRunning(t *testing.T) {
	adm := kadm.NewClient(admin(t))
	for _, d := range []deployment{alos, eos} {
		t.Run(d.delivery, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			acl := kadm.NewACLs().Allow("User:" + d.user).AllowHosts("*").Topics(d.dlq).
				Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral)
			restore := func() {
				rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if _, err := adm.CreateACLs(rctx, acl); err != nil {
					t.Errorf("restoring the ACL: %v", err)
				}
			}
			kv := proctest.MergeKeys(d.keys(), mTLS(d.user))
			svc := startService(t, "streamscore run ("+d.delivery+")", kv)
			if _, err := adm.DeleteACLs(ctx, acl); err != nil {
				t.Fatal(err)
			}
			defer restore() // also when the test fails early; creating it twice is harmless
			nonce := "revoke-" + time.Now().Format("150405.000000")
			counter := newKeyCounter(t, nonce, d.dlq)
			produceEvents(t, d.input, nonce, 0, 1)
			if !svc.ExitedWithin(exitTimeout) {
				t.Fatalf("still running %s after the poison record, want it to stop", exitTimeout)
			}
			lines := strings.Split(strings.TrimRight(svc.Stderr.String(), "\n"), "\n")
			want := "the client certificate CN=" + d.user + " may not write to it (needs ACL WRITE on Topic " + d.dlq
			if last := lines[len(lines)-1]; svc.ExitCode() == 0 || !strings.Contains(last, "produce to "+d.dlq) || !strings.Contains(last, want) {
				t.Errorf("exit %d, last line\n  %s\nwant a non-zero exit and a line containing\n  %s", svc.ExitCode(), last, want)
			}
			restore()
			again := startService(t, "streamscore run ("+d.delivery+", ACL back)", kv)
			counter.waitFor(t, map[string]int{d.dlq: 1}, again)
			again.StopClean()
		})
	}
}
