package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/embedded"
	"github.com/streamscore/streamscore/internal/gen"
	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// lifecycle is a service with all three actors on an embedded broker, built
// by hand (not from a config file) so the test is about start/wait only.
type lifecycle struct {
	svc     *service
	dataDir string
	metrics *processor.Metrics
	cancel  context.CancelFunc
}

const (
	lcInput = "lc-events"
	lcGroup = "lc-group"
)

func startLifecycle(t *testing.T, dataDir string, events int64) *lifecycle {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	broker, err := embedded.Start(embedded.Config{DataDir: dataDir, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := false
	t.Cleanup(func() {
		cancel()
		if !started { // the service closes the broker once it runs
			broker.Close()
		}
	})
	bundle, err := scoring.Load("../../examples/fraud")
	if err != nil {
		t.Fatal(err)
	}
	in := schemas.InputConfig{Format: "json", MaxRecordBytes: 1 << 20, EventIDField: "transaction_id"}
	enc, err := schemas.NewEncoder(context.Background(), schemas.OutputConfig{Format: "json", Topic: "lc-out"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	newDecoder := func() (schemas.Decoder, error) { return schemas.NewDecoder(in, bundle.Layout(), nil) }
	pipe := &processor.Pipeline{Path: predict.New(bundle, newDecoder, enc, false)}
	reg := prometheus.NewRegistry()
	m := processor.NewMetrics(reg)
	// A commit interval far longer than the test: the only commit that can
	// happen is the one of the graceful stop.
	pcfg := processor.Config{InputTopic: lcInput, OutputTopic: "lc-out", DLQTopic: "lc-dlq", Group: lcGroup,
		Delivery: processor.AtLeastOnce, SessionTimeout: 10 * time.Second, CommitInterval: time.Hour,
		ShutdownTimeout: 20 * time.Second, TransactionTimeout: 10 * time.Second, BatchMaxRecords: 100,
		MaxInflightRecords: 1000, MemoryBudget: 32 << 20, MaxRecordBytes: 1 << 20, Compression: "none",
		CreateTopics: true, TopicPartitions: 3, LagRefresh: 500 * time.Millisecond}
	proc, err := processor.New(ctx, pcfg, processor.KafkaConfig{Brokers: broker.Addr(), ClientID: "lifecycle"}, pipe, m, log)
	if err != nil {
		t.Fatal(err)
	}
	// New created the topics (processor.create_topics).
	g := gen.NewFraud(1, 50)
	now := time.Now()
	var recs []*kgo.Record
	for range events {
		k, v := g.Next(nil, now)
		recs = append(recs, &kgo.Record{Topic: lcInput, Key: k, Value: v, Timestamp: now})
	}
	kafkatest.ProduceRecords(t, []string{broker.Addr()}, recs)

	ops, err := openHTTP(httpConfig{Listen: "127.0.0.1:0"}, false, log)
	if err != nil {
		t.Fatal(err)
	}
	s := &service{proc: proc, bundle: bundle, broker: broker, brokers: broker.Addr(), reg: reg, http: ops,
		done: make(chan struct{}), log: log}
	s.routes(false)
	s.start(ctx)
	started = true
	t.Cleanup(func() { cancel(); <-s.done })
	return &lifecycle{svc: s, dataDir: dataDir, metrics: m, cancel: cancel}
}

// waitScored waits until the processor handled n records.
func (lc *lifecycle) waitScored(t *testing.T, n int64) {
	t.Helper()
	proctest.Eventually(t, 60*time.Second, "the records scored", func() error {
		if st := lc.svc.proc.Stats(); int64(st.Produced+st.DLQ) < n {
			return fmt.Errorf("processed %d predictions + %d DLQ records, want %d", st.Produced, st.DLQ, n)
		}
		return nil
	})
}

// checkCommittedAtEnd reopens the embedded broker from its data dir and
// checks that the group committed the end of the input: the processor's
// final commit went through, so the broker outlived it.
func (lc *lifecycle) checkCommittedAtEnd(t *testing.T, n int64) {
	t.Helper()
	if got := testutil.ToFloat64(lc.metrics.CommitFailures); got != 0 {
		t.Errorf("commit_failures_total = %v, want 0 (the broker must outlive the final commit)", got)
	}
	broker, err := embedded.Start(embedded.Config{DataDir: lc.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	brokers := []string{broker.Addr()}
	end := kafkatest.EndOffsets(t, brokers, lcInput, false)
	got := kafkatest.GroupOffsets(t, brokers, lcGroup, lcInput)
	var total int64
	for p, o := range end {
		total += o
		if got[p] != o {
			t.Errorf("partition %d: committed %d, want the end offset %d", p, got[p], o)
		}
	}
	if total != n {
		t.Errorf("input end offsets sum to %d, want %d", total, n)
	}
}

// stopped waits for every actor to return and gives wait's error.
func (lc *lifecycle) stopped(t *testing.T) error {
	t.Helper()
	select {
	case <-lc.svc.done:
		return lc.svc.wait()
	case <-time.After(60 * time.Second):
		t.Fatal("service did not stop within 60s")
		return nil
	}
}

// TestServiceStopsGracefullyAsAGroup: cancelling the command's context stops
// the processor gracefully, then the HTTP server, and the embedded broker
// only after the processor's final commit (reopened from its data dir, the
// broker has the group's offsets at the end of the input).
func TestServiceStopsGracefullyAsAGroup(t *testing.T) {
	const n = 300
	lc := startLifecycle(t, t.TempDir(), n)
	lc.waitScored(t, n)
	addr := lc.svc.httpAddr()
	lc.cancel()
	if err := lc.stopped(t); err != nil {
		t.Fatalf("wait() = %v, want nil after a graceful stop", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("HTTP listener %s still accepts connections after the stop", addr)
	}
	lc.checkCommittedAtEnd(t, n)
}

// TestServiceFirstFailureStopsTheRest: the HTTP server failing stops the
// processor (gracefully: it still commits, so the broker waits for it) and
// the broker, and wait returns the HTTP server's error.
func TestServiceFirstFailureStopsTheRest(t *testing.T) {
	const n = 50
	lc := startLifecycle(t, t.TempDir(), n)
	lc.waitScored(t, n)
	lc.svc.http.public.Close() // Serve fails: "use of closed network connection"
	err := lc.stopped(t)
	if err == nil || !strings.Contains(err.Error(), "http server") {
		t.Fatalf("wait() = %v, want the http server's error", err)
	}
	if lc.svc.proc.Ready() {
		t.Errorf("processor still ready after the group stopped")
	}
	if lc.svc.broker != nil {
		t.Fatalf("embedded broker not closed after the group stopped")
	}
	lc.checkCommittedAtEnd(t, n)
}

// TestLogWritesDurationsAsText: a duration in a log line reads "200ms" in
// both formats, also inside a group, where slog's JSON handler alone writes
// 200000000.
func TestLogWritesDurationsAsText(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		cfg := defaultConfig()
		cfg.Log.Format = format
		log, err := newLogger(&cfg, &buf)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("started", "flush_interval", 200*time.Millisecond, slog.Group("retry", "in", 1500*time.Millisecond))
		want := map[string][]string{
			"json": {`"flush_interval":"200ms"`, `"retry":{"in":"1.5s"}`},
			"text": {"flush_interval=200ms", "retry.in=1.5s"},
		}[format]
		for _, w := range want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("%s log %q, want %s", format, buf.String(), w)
			}
		}
	}
}
