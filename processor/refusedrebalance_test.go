package processor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/processor"
)

// TestRebalanceWhileWritesRefused: an instance A owning both partitions
// has a backlog to work through when its output topic goes (every write
// refused, UNKNOWN_TOPIC_OR_PARTITION). A second instance B joins the group
// meanwhile: the rebalance must go on while A's writes are still refused
// (B gets one of the two partitions, A gives it up), not wait for the
// outage to end or for the coordinator to throw A out past the rebalance
// timeout. Once the topic is back, every input has its prediction (none
// lost). B writes to a topic of its own: processor.New refuses to start on
// a missing output topic.
//
// At-least-once: A's workers stop taking batches with their queues full
// and its poll loop waits on a full queue. Before, the poll loop held the
// rebalance in the send to the full queue: B got nothing until the refusal
// ended.
//
// Exactly-once: A aborts each attempt's transaction and waits between
// attempts, when the rebalance may run. Besides, every input has exactly
// one committed prediction (read_committed, no duplicates), and A and B,
// each with its own transactional id, commit their own transactions: none
// fences the other.
func TestRebalanceWhileWritesRefused(t *testing.T) {
	for _, mode := range []string{processor.AtLeastOnce, processor.ExactlyOnce} {
		t.Run(mode, func(t *testing.T) { rebalanceWhileRefused(t, mode) })
	}
}

func rebalanceWhileRefused(t *testing.T, mode string) {
	eos := mode == processor.ExactlyOnce
	e := newEnv(t, 2)
	brokers := e.brokers
	group := kafkatest.UniqueName(t, "g")
	var logsA, logsB proctest.LogBuffer
	e.log = teeLogger(t, &logsA, "A")
	cfg := e.config(mode, group)
	// Small batches and a producer buffer of one batch: the workers wait on
	// the producer and the poll loop fills their queues before the first
	// refusal comes back. Exactly-once has no queues: a transaction is a
	// poll of up to MaxInflightRecords, so 100 keeps the count of
	// transactions for the backlog low.
	cfg.BatchMaxRecords, cfg.MaxInflightRecords = 10, 10
	if eos {
		cfg.MaxInflightRecords = 100
		// The transactional id is <group>-<host>-<pid> without an instance
		// id: the same for two instances in this one process, so B's
		// InitProducerID would fence A. Pods differ in host name. (It is
		// the static member id too: B's join still rebalances.)
		cfg.InstanceID = "a"
	}
	_, stopA := e.start(t, cfg)
	proctest.Eventually(t, 30*time.Second, "A owning both partitions", func() error {
		if n := testutil.ToFloat64(e.metrics.AssignedPartitions); n != 2 {
			return fmt.Errorf("A assigned_partitions = %v, want 2", n)
		}
		return nil
	})

	if _, err := kafkatest.Admin(t, brokers).DeleteTopic(context.Background(), e.out); err != nil {
		t.Fatalf("deleting the output topic: %v", err)
	}
	const n = 3000
	inputs := produceValid(t, e, n, 31, 0)
	if !eos {
		// The producer tries the missing topic for a few seconds before it
		// gives up on the first write: the poll loop is on a full queue
		// first.
		proctest.Eventually(t, time.Minute, "A's poll loop on a full worker queue", func() error {
			if waiting := testutil.ToFloat64(e.metrics.Backpressure); waiting != 1 {
				return fmt.Errorf("A backpressure = %v, want 1", waiting)
			}
			return nil
		})
	}
	proctest.Eventually(t, time.Minute, "A blocked by the refused writes", func() error {
		if blocked := testutil.ToFloat64(e.metrics.ProduceBlocked); blocked != 1 {
			return fmt.Errorf("A produce_blocked = %v, want 1", blocked)
		}
		return nil
	})

	// B: its own metrics and output topic, the same input and group.
	eb := *e
	eb.reg = prometheus.NewRegistry()
	eb.metrics = processor.NewMetrics(eb.reg)
	eb.out = kafkatest.Topic(t, brokers, 2)
	eb.log = teeLogger(t, &logsB, "B")
	cfgB := eb.config(mode, group)
	if eos {
		cfgB.InstanceID = "b"
	}
	_, stopB := eb.start(t, cfgB)
	start := time.Now()
	proctest.Eventually(t, 20*time.Second, "B getting a partition while A's writes are refused", func() error {
		a, b := testutil.ToFloat64(e.metrics.AssignedPartitions), testutil.ToFloat64(eb.metrics.AssignedPartitions)
		if a != 1 || b != 1 {
			return fmt.Errorf("assigned_partitions A = %v, B = %v; want 1 and 1", a, b)
		}
		return nil
	})
	if blocked := testutil.ToFloat64(e.metrics.ProduceBlocked); blocked != 1 {
		t.Fatalf("A produce_blocked = %v once B got its share, want 1 (the refusal still on)", blocked)
	}
	t.Logf("B got its share %v after it started, A's writes still refused", time.Since(start).Round(time.Millisecond))

	if _, err := kafkatest.Admin(t, brokers).CreateTopic(context.Background(), 2, -1, nil, e.out); err != nil {
		t.Fatalf("creating the output topic again: %v", err)
	}
	waitCommitted(t, e, group)
	if err := stopA(); err != nil {
		t.Errorf("A: Run returned %v, want nil", err)
	}
	if err := stopB(); err != nil {
		t.Errorf("B: Run returned %v, want nil", err)
	}
	if got := testutil.ToFloat64(eb.metrics.ProduceBlocked); got != 0 {
		t.Errorf("B produce_blocked = %v, want 0 (its output topic took every write)", got)
	}

	var opts []kafkatest.ConsumeOption
	if eos {
		opts = append(opts, kafkatest.ReadCommitted())
	}
	want := make(map[string]bool, n)
	for _, r := range inputs {
		var ev struct {
			ID string `json:"transaction_id"`
		}
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		want[ev.ID] = true
	}
	got := make(map[string]int, n)
	perTopic := make(map[string]int, 2)
	for _, topic := range []string{e.out, eb.out} {
		for _, r := range kafkatest.ConsumeAll(t, brokers, topic, opts...) {
			var p prediction
			if err := json.Unmarshal(r.Value, &p); err != nil {
				t.Fatalf("prediction in %s is not JSON: %v: %s", topic, err, r.Value)
			}
			got[p.ID]++
			perTopic[topic]++
		}
	}
	missing, dups := 0, 0
	for id := range want {
		if got[id] == 0 {
			missing++
		}
	}
	for id, c := range got {
		if !want[id] {
			t.Errorf("prediction for %s, no such input", id)
		}
		dups += c - 1
	}
	if missing > 0 || len(want) != n {
		t.Errorf("%d of %d inputs (%d distinct ids) have no prediction, want none lost", missing, n, len(want))
	}
	t.Logf("%d inputs, %d predictions (A %d, B %d), %d duplicates (%s, one rebalance)",
		n, n-missing+dups, perTopic[e.out], perTopic[eb.out], dups, mode)
	if !eos {
		return
	}
	if dups != 0 {
		t.Errorf("%d committed duplicates, want none (exactly-once)", dups)
	}
	// Each instance committed its share of the partitions' records, and
	// neither was fenced: no session of A or B was replaced for a fencing
	// error (a session failure after the topic is re-created is an abort
	// redone, not a fence).
	for _, x := range []struct {
		name, topic string
		logs        *proctest.LogBuffer
	}{{"A", e.out, &logsA}, {"B", eb.out, &logsB}} {
		if perTopic[x.topic] == 0 {
			t.Errorf("%s committed no prediction, want its share", x.name)
		}
		for _, line := range x.logs.Lines() {
			if strings.Contains(line, "transactional session failed") &&
				(strings.Contains(line, "FENCED") || strings.Contains(line, "INVALID_PRODUCER_EPOCH")) {
				t.Errorf("%s was fenced: %s", x.name, line)
			}
		}
	}
}

// teeLogger logs an instance's lines (tagged name) from info up into buf,
// and from debug up to stderr too when STREAMSCORE_TEST_LOG is set (see
// testLogger).
func teeLogger(t *testing.T, buf *proctest.LogBuffer, name string) *slog.Logger {
	var w io.Writer = buf
	level := slog.LevelInfo
	if os.Getenv("STREAMSCORE_TEST_LOG") != "" {
		w, level = io.MultiWriter(buf, os.Stderr), slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})).With("test", t.Name(), "member", name)
}
