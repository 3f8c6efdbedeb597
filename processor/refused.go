package processor

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// A write the broker refuses after the client's own retries (not
// authorized, too large for the topic, the topic gone) must not be skipped,
// and a restart does not help: the same record comes back at once. So the
// engines stop consuming, say so (streamscore_produce_blocked and one log
// line with the cause) and produce the refused records again with backoff
// until the broker takes them. An ACL granted or a topic limit raised lets
// the service go on by itself, in the group, without a restart; nothing is
// committed past a refused record meanwhile.

// msgResumed is the log line of both engines when the broker takes a
// refused write again.
const msgResumed = "the broker took the refused write: fetching resumes"

// Backoff between two attempts at refused records: quick for a blip, then
// every refusedBackoffMax (each attempt is one log line and one request).
const (
	refusedBackoffMin = time.Second
	refusedBackoffMax = 30 * time.Second
)

// inflightOutput is one at-least-once output in flight: what a refusal
// needs to produce it again in order.
type inflightOutput struct {
	tp  topicPartition // the input partition it came from
	seq uint64         // its place in that partition's outputs
	ctx context.Context
	o   output
	ack *batchAck
}

// refusedRetry is at-least-once's queue of refused outputs. While it holds
// any (or an attempt at them is under way) workers start no new batch and
// the poll loop fetches nothing, so the outputs of an input partition reach
// the producer in their order again: a key's predictions stay in order.
type refusedRetry struct {
	e *atLeastOnce

	mu      sync.Mutex
	queue   []inflightOutput
	blocked bool
	since   time.Time
	lastErr error
	clear   chan struct{} // closed while not blocked
	refused chan struct{} // closed while blocked
	kick    chan struct{} // the first refusal since the last clear
	done    chan struct{}

	stopCtx context.Context // ended by close: stops run and bounds an attempt's flush
	cancel  context.CancelFunc
}

func newRefusedRetry(e *atLeastOnce) *refusedRetry {
	q := &refusedRetry{e: e, clear: make(chan struct{}), refused: make(chan struct{}),
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	q.stopCtx, q.cancel = context.WithCancel(context.Background())
	close(q.clear)
	return q
}

// wait returns true once nothing is refused, false if stop is closed
// first.
func (q *refusedRetry) wait(stop <-chan struct{}) bool {
	q.mu.Lock()
	clear := q.clear
	q.mu.Unlock()
	select {
	case <-clear:
		return true
	case <-stop:
		return false
	}
}

// refusing returns a channel closed once a write is refused: at once if
// one is now, else at the next refusal.
func (q *refusedRetry) refusing() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.refused
}

// isBlocked reports whether a refused write holds up consuming.
func (q *refusedRetry) isBlocked() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.blocked
}

// add queues an output the broker refused; the first one blocks consuming.
func (q *refusedRetry) add(r inflightOutput, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queue = append(q.queue, r)
	q.lastErr = err
	if q.blocked {
		return
	}
	q.blocked, q.since, q.clear = true, time.Now(), make(chan struct{})
	close(q.refused)
	q.e.p.m.ProduceBlocked.Set(1)
	q.e.p.log.Error("the broker refused a write: fetching stops and the refused records are produced again with backoff until it takes them (nothing is committed past them)",
		"err", err, "retry_in", refusedBackoffMin.String())
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// run produces the refused outputs again, in order, until an attempt
// leaves none refused; then consuming resumes. It returns when close is
// called.
func (q *refusedRetry) run() {
	defer close(q.done)
	for {
		select {
		case <-q.stopCtx.Done():
			return
		case <-q.kick:
		}
		for backoff := refusedBackoffMin; ; backoff = min(2*backoff, refusedBackoffMax) {
			select {
			case <-q.stopCtx.Done():
				return
			case <-time.After(backoff):
			}
			if q.attempt() {
				break
			}
		}
	}
}

// attempt produces every queued output again and waits for their
// promises; true if the broker took them all.
func (q *refusedRetry) attempt() bool {
	q.mu.Lock()
	batch := q.queue
	q.queue = nil
	q.mu.Unlock()
	slices.SortFunc(batch, func(a, b inflightOutput) int {
		return cmp.Or(cmp.Compare(a.tp.topic, b.tp.topic), cmp.Compare(a.tp.partition, b.tp.partition), cmp.Compare(a.seq, b.seq))
	})
	var round sync.WaitGroup
	sent := 0
	for _, r := range batch {
		if r.ctx.Err() != nil {
			continue // its partition is gone: never acknowledged, so its next owner replays it
		}
		sent++
		round.Add(1)
		q.e.send(r, round.Done)
	}
	round.Wait()
	// Outputs produced before the refusal may still be in flight (workers
	// start nothing new meanwhile): one refused after consuming resumed
	// would be produced again behind newer outputs of its key. Wait for
	// them all.
	if err := q.e.cl.Flush(q.stopCtx); err != nil {
		return false // stopping
	}

	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) > 0 {
		q.e.p.log.Warn("the broker still refuses a write; producing the refused records again",
			"records", len(q.queue), "blocked_for", time.Since(q.since).Round(time.Second).String(), "err", q.lastErr)
		return false
	}
	q.blocked = false
	close(q.clear)
	q.refused = make(chan struct{})
	q.e.p.m.ProduceBlocked.Set(0)
	q.e.p.log.Info(msgResumed, "records", sent, "left_to_next_owners", len(batch)-sent,
		"blocked_for", time.Since(q.since).Round(time.Millisecond).String())
	return true
}

// close stops run (an attempt under way finishes first: its promises come
// back at the latest when the client closes).
func (q *refusedRetry) close() {
	q.cancel()
}

// refusedError is a refused write's error as the log says it: the topic,
// the input record it is for, and what to do about an authorization error.
func refusedError(k KafkaConfig, topic string, o output, err error) error {
	return fmt.Errorf("produce to %s for %s/%d offset %d: %w", topic, o.src.Topic, o.src.Partition, o.src.Offset, writeDenied(k, topic, err))
}
