package processor_test

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/processor"
)

// TestCommitStallPausesFetching: at-least-once, while every offset commit
// fails, fetching pauses once processor.commit_stall_timeout has passed
// without a successful one (records produced meanwhile are not consumed),
// and goes on when commits succeed again, with every record predicted and
// committed; streamscore_commit_stalled is 1 meanwhile. kfake stands in for the broker: it can refuse the commits.
func TestCommitStallPausesFetching(t *testing.T) {
	c := kafkatest.FakeCluster(t)
	var refuse atomic.Bool
	refuse.Store(true)
	c.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !refuse.Load() {
			return nil, nil, false
		}
		r := req.(*kmsg.OffsetCommitRequest)
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.OffsetMetadataTooLarge.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})

	e := newEnvOn(t, c.ListenAddrs(), 3)
	var logs proctest.LogBuffer
	e.log = slog.New(slog.NewTextHandler(&logs, nil))
	logged := func(s string) bool { return strings.Contains(logs.String(), s) }
	group := kafkatest.UniqueName(t, "g")
	cfg := e.config(processor.AtLeastOnce, group)
	cfg.CommitInterval, cfg.CommitStallTimeout = 100*time.Millisecond, 300*time.Millisecond
	p, stop := e.start(t, cfg)
	consumed := func() float64 { return testutil.ToFloat64(e.metrics.RecordsConsumed.WithLabelValues(e.in)) }

	// The loop looks at the commits between polls: a record at each check
	// wakes it, until it pauses.
	produced := len(produceValid(t, e, 200, 1, 0))
	seed := uint64(1)
	proctest.Eventually(t, 20*time.Second, "a pause while commits are refused", func() error {
		if logged("fetching pauses") {
			return nil
		}
		seed++
		produced += len(produceValid(t, e, 1, seed, 0))
		return fmt.Errorf("no pause yet; commit failures %v", testutil.ToFloat64(e.metrics.CommitFailures))
	})
	if got := testutil.ToFloat64(e.metrics.CommitStalled); got != 1 {
		t.Errorf("commit_stalled = %v while paused, want 1", got)
	}
	before := consumed()
	produced += len(produceValid(t, e, 300, 99, 0))
	// No commit ever succeeded, so the lag is the whole topic. Waiting until
	// the processor's own lag refresh (every 500 ms) counts these 300 gives
	// a pause that did not hold the time to fetch them; a held one never
	// does.
	proctest.Eventually(t, 20*time.Second, "the lag refresh sees the records produced while paused", func() error {
		if l := p.Lag(); l < int64(produced) {
			return fmt.Errorf("lag %d, want %d", l, produced)
		}
		return nil
	})
	if got := consumed(); got != before {
		t.Errorf("records consumed while paused: %v, then %v", before, got)
	}

	refuse.Store(false)
	kafkatest.ConsumeN(t, e.brokers, e.out, produced)
	waitCommitted(t, e, group)
	if !logged("fetching resumes") {
		t.Errorf("no resume line after commits succeeded again; log:\n%s", logs.String())
	}
	if got := testutil.ToFloat64(e.metrics.CommitStalled); got != 0 {
		t.Errorf("commit_stalled = %v after commits succeeded again, want 0", got)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v, want nil after a graceful stop", err)
	}
	if n := testutil.ToFloat64(e.metrics.CommitFailures); n == 0 {
		t.Error("commit_failures_total = 0, want the refused commits counted")
	}
}
