package processor

import (
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// batchAck counts the outputs of one micro-batch still waiting for the
// broker. The batch's offsets may be committed once it and every batch
// before it on the same partition reached zero.
type batchAck struct {
	next    kgo.EpochOffset // offset to commit once done: last offset + 1
	pending atomic.Int32
	t       *tracker
}

// done is called by produce promises; the last one completes the batch.
func (b *batchAck) done() {
	if b.pending.Add(-1) == 0 {
		b.t.complete()
	}
}

// tracker keeps a partition's batches in fetch order, so the committable
// offset never passes a record whose output is not yet acknowledged, even
// though acknowledgements from different output partitions come back in any
// order.
type tracker struct {
	mu          sync.Mutex
	queue       []*batchAck
	committable kgo.EpochOffset
	has         bool // committable holds a value not yet committed
	idle        chan struct{}
}

func newTracker() *tracker { return &tracker{idle: make(chan struct{}, 1)} }

// add registers a batch with n outputs. The caller must call done n times.
func (t *tracker) add(last *kgo.Record, n int) *batchAck {
	b := &batchAck{next: kgo.EpochOffset{Epoch: last.LeaderEpoch, Offset: last.Offset + 1}, t: t}
	b.pending.Store(int32(n) + 1) // +1 held until the batch is fully handed to the producer
	t.mu.Lock()
	t.queue = append(t.queue, b)
	t.mu.Unlock()
	return b
}

func (t *tracker) complete() {
	t.mu.Lock()
	i := 0
	for ; i < len(t.queue) && t.queue[i].pending.Load() == 0; i++ {
		t.committable = t.queue[i].next
		t.has = true
	}
	if i > 0 {
		clear(t.queue[:i])
		t.queue = t.queue[i:]
	}
	empty := len(t.queue) == 0
	t.mu.Unlock()
	if empty {
		select {
		case t.idle <- struct{}{}:
		default:
		}
	}
}

// take returns the offset to commit, if one is new since the last take.
func (t *tracker) take() (kgo.EpochOffset, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.has {
		return kgo.EpochOffset{}, false
	}
	t.has = false
	return t.committable, true
}

// untake puts an offset back after a failed commit, unless a newer one
// arrived meanwhile.
func (t *tracker) untake(o kgo.EpochOffset) {
	t.mu.Lock()
	if !t.has {
		t.committable = o
		t.has = true
	}
	t.mu.Unlock()
}

// pendingBatches reports how many batches still wait for acknowledgements.
func (t *tracker) pendingBatches() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.queue)
}
