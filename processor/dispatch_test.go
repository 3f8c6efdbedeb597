package processor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/proctest"
)

// dispatchEngine is an at-least-once engine with no client, enough for
// dispatch, and a worker (no goroutine) with a full queue per name.
func dispatchEngine(names ...string) (*atLeastOnce, map[string]*partitionWorker) {
	p := &Processor{m: NewMetrics(prometheus.NewRegistry()), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	e := &atLeastOnce{p: p, workers: make(map[topicPartition]*partitionWorker)}
	e.refused = newRefusedRetry(e)
	ws := make(map[string]*partitionWorker, len(names))
	for i, name := range names {
		w := &partitionWorker{tp: topicPartition{"in", int32(i)}, in: make(chan []*kgo.Record, 1), quit: make(chan struct{})}
		w.in <- []*kgo.Record{{Offset: -1}} // the queue is full
		ws[name] = w
	}
	return e, ws
}

// dispatchWithin is e.dispatch(ctx, shares), failing the test if it
// waits longer than 10s.
func dispatchWithin(t *testing.T, e *atLeastOnce, ctx context.Context, shares []share) []share {
	t.Helper()
	done := make(chan []share, 1)
	go func() { done <- e.dispatch(ctx, shares) }()
	select {
	case held := <-done:
		return held
	case <-time.After(10 * time.Second):
		t.Fatal("dispatch still waits after 10s")
		return nil
	}
}

func share1(w *partitionWorker, offset int64) share {
	return share{w: w, recs: []*kgo.Record{{Topic: "in", Partition: w.tp.partition, Offset: offset}}}
}

// TestDispatchHoldsWhileRefused: a refusal while the poll loop waits on a
// full worker queue makes dispatch return every share not handed over
// (held), in order; handed over later, a share goes to its worker if that
// still runs, and is dropped if it stopped (its partition released), so a
// partition assigned back gets no stale records. A stop (ctx) while
// waiting drops the share and holds nothing, as before.
func TestDispatchHoldsWhileRefused(t *testing.T) {
	e, ws := dispatchEngine("kept", "released")
	kept, released := ws["kept"], ws["released"]
	shares := []share{share1(kept, 10), share1(released, 20)}

	done := make(chan []share, 1)
	go func() { done <- e.dispatch(context.Background(), shares) }()
	proctest.Eventually(t, 10*time.Second, "dispatch waiting on the full queue", func() error {
		if got := testutil.ToFloat64(e.p.m.Backpressure); got != 1 {
			return errors.New("backpressure is not 1")
		}
		return nil
	})
	e.refused.add(inflightOutput{tp: kept.tp}, errors.New("refused"))
	var held []share
	select {
	case held = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("dispatch still waits on the full queue 10s after the refusal")
	}
	if len(held) != 2 || held[0].w != kept || held[1].w != released {
		t.Fatalf("held %d shares, want both in order (kept, released)", len(held))
	}
	if got := testutil.ToFloat64(e.p.m.Backpressure); got != 0 {
		t.Errorf("backpressure = %v after dispatch returned, want 0", got)
	}

	// The rebalance released one partition; the other worker took a batch.
	close(released.quit)
	<-kept.in
	if rest := dispatchWithin(t, e, context.Background(), held); len(rest) != 0 {
		t.Fatalf("%d shares held again, want none (the refusal is still on, but no queue is full)", len(rest))
	}
	if got := <-kept.in; len(got) != 1 || got[0].Offset != 10 {
		t.Errorf("kept worker got %v, want its held record at offset 10", got)
	}
	if got := <-released.in; len(got) != 1 || got[0].Offset != -1 {
		t.Errorf("released worker's queue holds offset %d, want only what it had (-1): the held record dropped", got[0].Offset)
	}

	// A stop while waiting on a full queue: nothing held, the next share
	// still tried.
	e2, ws2 := dispatchEngine("full", "free")
	<-ws2["free"].in
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if rest := dispatchWithin(t, e2, ctx, []share{share1(ws2["full"], 1), share1(ws2["free"], 2)}); rest != nil {
		t.Errorf("held %d shares on a stop, want none", len(rest))
	}
	if got := <-ws2["free"].in; got[0].Offset != 2 {
		t.Errorf("the free worker got offset %d, want 2", got[0].Offset)
	}
}
