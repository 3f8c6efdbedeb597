//go:build faults

package faults

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/streamscore/streamscore/internal/proctest"
)

// Events per scenario at 5,000/s. Scenario (a) uses the 200k the issue asks
// for; the others use fewer to keep the suite near 10 minutes on 2 cores.
const (
	eventsKill   = 200_000 // (a) 40 s of stream
	eventsBroker = 100_000 // (b) 20 s
	eventsScale  = 150_000 // (c) 30 s
	eventsPoison = 50_000  // (d) 10 s, ~500 poison records, ~100 of them 2 MB
	eventsBurst  = 250     // (d) all poison: ~50 records of 2 MB back to back
	eventsDLQ    = 60_000  // (e) 12 s, ~600 poison records
)

var modes = []string{"at-least-once", "exactly-once"}

func streamTime(events int) time.Duration { return time.Duration(events/rate) * time.Second }

// (a) SIGKILL the service 3 times at seeded random points, restart it each time.
func TestServiceKill(t *testing.T) {
	for i, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s := newScenario(t, "service-kill", mode, eventsKill, 0, uint64(10+i))
			svc := s.begin()
			var faults []*fault
			for n, at := range s.plan(3, 4*time.Second, streamTime(eventsKill)-4*time.Second) {
				s.at(at)
				f := s.newFault(fmt.Sprintf("SIGKILL %d of the service", n+1))
				s.kill(svc)
				s.restart(svc)
				restarted := time.Since(f.at)
				s.waitCaughtUp(f, 2*time.Minute, nil)
				f.note = fmt.Sprintf("restarted %.2fs after the kill", restarted.Seconds())
				t.Logf("recovery: %s at %s of the stream (planned %s): output caught up %.2fs after the kill, %.2fs after the restart",
					f.what, f.atStream, at, f.recovery.Seconds(), (f.recovery - restarted).Seconds())
				faults = append(faults, f)
			}
			finish(t, s, faults, "")
		})
	}
}

// (b) SIGKILL the broker mid-stream and restart it on the same data dir; the
// service is not restarted and must recover by itself.
func TestBrokerKill(t *testing.T) {
	for i, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s := newScenario(t, "broker-kill", mode, eventsBroker, 0, uint64(20+i))
			s.begin()
			at := s.plan(1, 4*time.Second, 8*time.Second)[0]
			s.at(at)
			f := s.newFault("SIGKILL of the broker")
			// Whatever happens below, leave a running broker to the next tests.
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
				defer cancel()
				if _, err := brokerScript(ctx, "kafka-up.sh"); err != nil {
					t.Errorf("bringing the broker back for the next tests: %v", err)
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			portHeld, err := restartBroker(ctx) // SIGKILL, start on the same data dir, wait until it answers
			cancel()
			if err != nil {
				t.Fatalf("broker restart: %v", err)
			}
			down := time.Since(f.at)
			t.Logf("broker: SIGKILLed, its ports stayed open %s after kafka-down.sh --kill returned, answering again %.2fs after the kill",
				portHeld.Round(time.Millisecond), down.Seconds())
			s.waitCaughtUp(f, 3*time.Minute, nil)
			f.note = fmt.Sprintf("broker answering again %.2fs after the kill", down.Seconds())
			t.Logf("recovery: %s at %s of the stream: broker back after %.2fs, output caught up %.2fs after the kill (%.2fs after the broker was back)",
				f.what, f.atStream, down.Seconds(), f.recovery.Seconds(), (f.recovery - down).Seconds())
			finish(t, s, []*fault{f}, fmt.Sprintf("broker_restart=%.1fs", down.Seconds()))
		})
	}
}

// (c) Scale from 1 to 3 instances in the same group and back to 1, mid-stream;
// the extra instances stop with SIGTERM.
func TestScale(t *testing.T) {
	for i, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s := newScenario(t, "scale", mode, eventsScale, 0, uint64(30+i))
			s.begin()
			plan := s.plan(2, 4*time.Second, streamTime(eventsScale)-8*time.Second)

			s.at(plan[0])
			up := s.newFault("scale 1->3")
			extra := []*service{s.startInstance("i2", false), s.startInstance("i3", false)}
			s.waitCaughtUp(up, 2*time.Minute, groupOf(s, 3))
			t.Logf("recovery: %s at %s of the stream: 3 members own partitions and the output caught up %.2fs after the start of the new instances",
				up.what, up.atStream, up.recovery.Seconds())

			s.at(plan[1])
			down := s.newFault("scale 3->1")
			var wg sync.WaitGroup
			for _, svc := range extra {
				s.retire(svc)
				svc.p.Signal(syscall.SIGTERM)
			}
			for _, svc := range extra {
				wg.Add(1)
				go func() { defer wg.Done(); svc.p.ExitedWithin(stopTimeout) }()
			}
			wg.Wait()
			stopped := time.Since(down.at)
			for _, svc := range extra {
				if !svc.p.Exited() || svc.p.ExitCode() != 0 {
					t.Fatalf("%s did not exit cleanly within %s of SIGTERM (%s):\n%s", svc.p.Name, stopTimeout, svc.p.Status(), proctest.LastLines(svc.p.Stdout.String(), 30))
				}
			}
			s.waitCaughtUp(down, 2*time.Minute, groupOf(s, 1))
			down.note = fmt.Sprintf("extra instances exited %.2fs after SIGTERM", stopped.Seconds())
			t.Logf("recovery: %s at %s of the stream: instances exited %.2fs after SIGTERM; 1 member owns all partitions and the output caught up %.2fs after SIGTERM",
				down.what, down.atStream, stopped.Seconds(), down.recovery.Seconds())
			finish(t, s, []*fault{up, down}, "")
		})
	}
}

// groupOf is an extra caught-up condition: the group has n members and each owns partitions.
func groupOf(s *scenario, n int) func() (bool, string) {
	return func() (bool, string) {
		total, assigned, err := s.members()
		if err != nil {
			return false, fmt.Sprintf("describe group: %v", err)
		}
		if total != n || assigned != n {
			return false, fmt.Sprintf("group has %d members, %d with partitions; want %d", total, assigned, n)
		}
		return true, ""
	}
}

// (d) 1% poison records in the stream: malformed JSON, missing fields,
// infinite numbers, wrong types, 2 MB values.
func TestPoison(t *testing.T) {
	for i, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s := newScenario(t, "poison", mode, eventsPoison, 0.01, uint64(40+i))
			s.begin()
			r := finish(t, s, nil, "")
			want := []string{"malformed", "not_finite", "wrong_type", "too_large"}
			if suite.rules.missingIsPoison {
				want = append(want, "missing_field")
			}
			for _, kind := range want {
				if r.poison[kind] == 0 {
					t.Errorf("no %s poison record in the stream: the scenario did not exercise it", kind)
				}
			}
			if r.missingKind == 0 {
				t.Errorf("no missing_field poison record in the stream: the scenario did not exercise it")
			}
		})
	}
}

// (d, burst) Only poison records, back to back: several 2 MB DLQ copies in a
// row for the one DLQ partition, as after an upstream bug.
func TestPoisonBurst(t *testing.T) {
	for i, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s := newScenario(t, "poison-burst", mode, eventsBurst, 1, uint64(50+i))
			// Uncompressed, so two 2 MB DLQ copies in one producer batch
			// really are 4 MB on the wire (lz4 squeezes the padding away).
			// A short shutdown timeout bounds each crash-loop round should
			// the service die on a DLQ write.
			s.extra = map[string]any{"processor.compression": "none", "processor.shutdown_timeout": "5s"}
			s.begin()
			r := finish(t, s, nil, "")
			if r.poison["too_large"] < 2 {
				t.Errorf("only %d too_large records in the burst: the scenario did not exercise back-to-back 2 MB DLQ records", r.poison["too_large"])
			}
		})
	}
}

// (e) The DLQ topic deleted before the stream starts and created again 8 s
// into it: every poison record's copy is refused meanwhile. The service
// must stop consuming (not exit: an exit is UNEXPECTED_EXITS), then go on
// by itself once the topic is back, losing nothing.
func TestDLQDeleted(t *testing.T) {
	for i, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s := newScenario(t, "dlq-deleted", mode, eventsDLQ, 0.01, uint64(60+i))
			svc := s.startInstance("i1", true)
			s.startMonitor()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := s.adm.DeleteTopic(ctx, s.dlq); err != nil {
				t.Fatalf("deleting the DLQ topic: %v", err)
			}
			s.startProducer()
			f := s.newFault("DLQ topic deleted for 8 s")
			s.at(8 * time.Second)
			if _, err := s.adm.CreateTopic(ctx, 1, s.kafka.replicas, map[string]*string{"max.message.bytes": kadm.StringPtr(maxMsgBytes)}, s.dlq); err != nil {
				t.Fatalf("creating the DLQ topic again: %v", err)
			}
			s.waitCaughtUp(f, 2*time.Minute, nil)
			r := finish(t, s, []*fault{f}, "")
			if r.dlq == 0 {
				t.Errorf("no record reached the DLQ: the scenario did not exercise a refused DLQ write")
			}
			refused := map[string]string{
				"at-least-once": "the broker refused a write: fetching stops and the refused records are produced again with backoff until it takes them (nothing is committed past them)",
				"exactly-once":  "the broker refused a write: the transaction is redone with backoff until it takes it (fetching stops meanwhile)",
			}[mode]
			for _, msg := range []string{refused, "the broker took the refused write: fetching resumes"} {
				if svc.p.LogLine(msg) == nil {
					t.Errorf("the service never logged %q: the scenario did not exercise a refused DLQ write", msg)
				}
			}
		})
	}
}

// finish waits for the producer, lets the service drain, stops it with
// SIGTERM, runs the checker, logs the counts and the SUMMARY line and
// applies the pass criteria.
func finish(t *testing.T, s *scenario, faults []*fault, extra string) *result {
	s.waitProducer()
	drain := s.waitDrained(3 * time.Minute)
	steady := time.Now()
	if len(faults) > 0 {
		steady = faults[0].at
	}
	baseline := s.mon.maxLag(s.prodAt.Add(2*time.Second), steady)
	s.stopAll()
	s.mon.stop()
	r := s.check(suite.rules)

	t.Logf("counts: inputs=%d valid=%d poison=%s predictions=%d matched=%d lost=%d duplicates=%d (%.2f%%) unknown=%d key_mismatch=%d input_dups=%d",
		r.inputs, r.valid, reasons(r.poison), r.predictions, r.matched, r.lost, r.dups, r.dupPercent(), r.unknownPreds, r.keyMismatch, r.inputDups)
	t.Logf("counts: dlq=%d by_reason=%s matched=%d lost=%d dlq_dups=%d wrong_reason=%d bad_value=%d valid_dead_lettered=%d; output hwm/lso=%d/%d dlq hwm/lso=%d/%d",
		r.dlq, reasons(r.dlqByReason), r.dlqMatched, r.dlqLost, r.dlqDups, r.dlqWrongReason, r.dlqBadValue, r.dlqForValid, r.outHWM, r.outLSO, r.dlqHWM, r.dlqLSO)
	if r.dups > 0 {
		t.Logf("counts: duplicates by the second of the stream their input was produced in: %s", r.dupRanges())
	}
	if r.missingKind > 0 && !r.missingDLQ {
		t.Logf("NOTE: the fraud bundle declares no required input the missing_field poison lacks (required: %v), so its %d missing_field records were scored (imputed) as the bundle says, not dead-lettered",
			suite.rules.required, r.missingKind)
	}
	var fs []string
	for _, f := range faults {
		fs = append(fs, fmt.Sprintf("%s@%s=%.1fs", strings.ReplaceAll(f.what, " ", "_"), f.atStream, f.recovery.Seconds()))
	}
	if extra != "" {
		extra = " " + extra
	}
	if len(s.exits) > 0 {
		extra += fmt.Sprintf(" UNEXPECTED_EXITS=[%s]", strings.Join(s.exits, " "))
	}
	t.Logf("SUMMARY scenario=%s mode=%s inputs=%d valid=%d predictions=%d duplicates=%d (%.2f%%) lost=%d dlq=%d dlq_by_reason=%s dlq_dups=%d dlq_lost=%d missing_field_scored=%d recovery=%s steady_lag_max=%d drain=%.1fs%s",
		s.name, s.mode, r.inputs, r.valid, r.predictions, r.dups, r.dupPercent(), r.lost+r.dlqLost, r.dlq, reasons(r.dlqByReason), r.dlqDups, r.dlqLost,
		map[bool]int{true: 0, false: r.missingKind}[r.missingDLQ], "["+strings.Join(fs, " ")+"]", baseline, drain.Seconds(), extra)
	s.verdict(r)
	return r
}
