package processor

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// batchAck counts the outputs of one micro-batch still waiting for the
// broker. The batch's offsets may be committed once it and every batch
// before it on the same partition reached zero.
type batchAck struct {
	next    kgo.EpochOffset // offset to commit once done: last offset + 1
	pending atomic.Int32
	t       *tracker
	// handed is when the whole batch was with the producer, written before
	// the caller's own done; acked observes the wait from then to the last
	// acknowledgement (the produce_ack stage).
	handed time.Time
	acked  func(time.Duration)
}

// done is called by produce promises; the last one completes the batch.
func (b *batchAck) done() {
	if b.pending.Add(-1) == 0 {
		if b.acked != nil {
			b.acked(time.Since(b.handed))
		}
		b.t.complete()
	}
}

// tracker keeps a partition's batches in fetch order and hands the
// acknowledged prefix to mark, so the committed offset never passes a record
// whose output is not yet acknowledged, even though acknowledgements from
// different output partitions come back in any order. franz-go keeps the
// marks and commits them (see atLeastOnce).
type tracker struct {
	mu     sync.Mutex
	queue  []*batchAck
	mark   func(kgo.EpochOffset) // called under mu, so marks are in order and never after close
	closed bool
	idle   chan struct{}
}

func newTracker(mark func(kgo.EpochOffset)) *tracker {
	return &tracker{mark: mark, idle: make(chan struct{}, 1)}
}

// add registers a batch with n outputs. The caller must call done n+1 times:
// once per output and once when the whole batch was handed to the producer.
func (t *tracker) add(last *kgo.Record, n int) *batchAck {
	b := &batchAck{next: kgo.EpochOffset{Epoch: last.LeaderEpoch, Offset: last.Offset + 1}, t: t}
	b.pending.Store(int32(n) + 1)
	t.mu.Lock()
	t.queue = append(t.queue, b)
	t.mu.Unlock()
	return b
}

// complete marks the offset past the longest run of finished batches at the
// head of the queue.
func (t *tracker) complete() {
	t.mu.Lock()
	i := 0
	for i < len(t.queue) && t.queue[i].pending.Load() == 0 {
		i++
	}
	if i > 0 {
		if !t.closed {
			t.mark(t.queue[i-1].next)
		}
		clear(t.queue[:i])
		t.queue = t.queue[i:]
	}
	t.signalIdle()
	t.mu.Unlock()
}

// abandon drops b, a batch that emitted nothing and never completes. It is
// the partition's last batch (its worker stops), so the batches before it
// can still be marked and waited for.
func (t *tracker) abandon(b *batchAck) {
	t.mu.Lock()
	if i := slices.Index(t.queue, b); i >= 0 {
		t.queue = slices.Delete(t.queue, i, len(t.queue))
	}
	t.signalIdle()
	t.mu.Unlock()
}

// signalIdle wakes wait when no batch is pending. Called with mu held.
func (t *tracker) signalIdle() {
	if len(t.queue) == 0 {
		select {
		case t.idle <- struct{}{}:
		default:
		}
	}
}

// wait blocks until every batch was acknowledged (true) or ctx ends (false).
func (t *tracker) wait(ctx context.Context) bool {
	for {
		t.mu.Lock()
		n := len(t.queue)
		t.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-t.idle:
		case <-ctx.Done():
			return false
		}
	}
}

// close stops marking: the partition left this instance, and a late
// acknowledgement must not mark an offset for its next owner's group session.
func (t *tracker) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}
