package security

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/streamscore/streamscore/internal/proctest"
)

// refusedMsg is the log line of the first write the broker refuses.
var refusedMsg = map[string]string{
	alos.delivery: "the broker refused a write: fetching stops and the refused records are produced again with backoff until it takes them (nothing is committed past them)",
	eos.delivery:  "the broker refused a write: the transaction is redone with backoff until it takes it (fetching stops meanwhile)",
}

// TestDLQWriteRevokedWhileRunning: Write on the DLQ is taken away after the
// start-up check passed; a poison record then stops fetching, with one
// line naming the principal and the ACL and streamscore_produce_blocked 1,
// and the service keeps running. Once the ACL is back, the same process
// dead-letters the record and goes on: nothing is lost and no restart is
// needed. (Before, the service exited and crash-looped on the record.)
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
			svc, addr := startServiceWith(t, "streamscore run ("+d.delivery+")", kv, nil)
			if _, err := adm.DeleteACLs(ctx, acl); err != nil {
				t.Fatal(err)
			}
			defer restore() // also when the test fails early; creating it twice is harmless
			nonce := "revoke-" + time.Now().Format("150405.000000")
			counter := newKeyCounter(t, nonce, d.dlq)
			produceEvents(t, d.input, nonce, 0, 1)

			line := svc.WaitLog(exitTimeout, refusedMsg[d.delivery])
			want := "the client certificate CN=" + d.user + " may not write to it (needs ACL WRITE on Topic " + d.dlq
			if msg, _ := line["err"].(string); !strings.Contains(msg, "produce to "+d.dlq) || !strings.Contains(msg, want) {
				t.Errorf("refusal logged with err\n  %s\nwant it to contain\n  %s", msg, want)
			}
			waitGauge(t, svc, addr, "streamscore_produce_blocked", 1)

			restore()
			counter.waitFor(t, map[string]int{d.dlq: 1}, svc)
			waitGauge(t, svc, addr, "streamscore_produce_blocked", 0)
			svc.WaitLog(flowTimeout, "the broker took the refused write: fetching resumes")
			if code := svc.Stop(); code != 0 {
				t.Errorf("exit %d after SIGTERM, want 0", code)
			}
		})
	}
}

// waitGauge waits until the service's /metrics shows the unlabelled
// gauge name at want.
func waitGauge(t *testing.T, svc *proctest.Proc, addr, name string, want float64) {
	t.Helper()
	sample := fmt.Sprintf("\n%s %g\n", name, want)
	proctest.Eventually(t, flowTimeout, fmt.Sprintf("%s %g", name, want), func() error {
		_, body, err := proctest.HTTPDo(nil, "GET", "http://"+addr+"/metrics", nil)
		if err != nil {
			return err
		}
		if !strings.Contains(string(body), sample) {
			return fmt.Errorf("/metrics has no line %q", strings.TrimSpace(sample))
		}
		return nil
	}, svc)
}
