package processor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// atLeastOnce is the default engine: one worker goroutine per assigned
// partition, outputs produced as they are scored, offsets committed by
// franz-go's autocommit of marked offsets.
//
// Who keeps the books: each worker's tracker marks (MarkCommitOffsets) the
// partition's acknowledged prefix, the offset past the last record whose
// output, and every earlier record's, the broker acknowledged; franz-go's
// autocommit loop commits the marks every CommitInterval and retries a
// failed commit at the next tick (the marks stay uncommitted until one
// succeeds).
//
// What is still written by hand, and why: the revoke callback. franz-go's
// default revoke commits the marks at once, without waiting for outputs
// still in flight, and stops marking nothing: an acknowledgement arriving
// after the revoke would mark (and autocommit would commit) a partition
// another member owns by then. Ours stops the partition's worker, waits for
// its in-flight outputs (bounded by ShutdownTimeout), closes its tracker so
// nothing marks it any more, then commits the marks (CommitMarkedOffsets)
// before the rebalance goes on, so the next owner starts where we stopped.
//
// And a bound on the work a failing commit wastes: while the group
// coordinator hangs or moves, commits do not succeed, yet the partition
// leaders keep serving fetches; everything processed meanwhile is redone by
// the partitions' next owners once the member's session is lost. After
// CommitStallTimeout without a successful commit (while marks wait), the
// poll loop stops fetching until one succeeds (waitForCommits).
type atLeastOnce struct {
	p  *Processor
	cl *kgo.Client

	mu      sync.Mutex // guards workers
	workers map[topicPartition]*partitionWorker

	refused *refusedRetry // outputs the broker refused, produced again with backoff

	// committedAt is when (unix ns) the marks were last all committed: a
	// commit succeeded, or the poll loop found no mark waiting.
	committedAt atomic.Int64
}

// partitionWorker owns one input partition: its records are processed in
// order by one goroutine; partitions run in parallel.
type partitionWorker struct {
	tp      topicPartition
	in      chan []*kgo.Record
	quit    chan struct{}
	done    chan struct{}
	tracker *tracker
	ctx     context.Context // cancelled when the partition is lost or released
	cancel  context.CancelFunc
	seq     uint64 // outputs produced so far (the worker goroutine's own)
}

// workerQueue is how many polls' shares of records wait for a partition
// worker.
const workerQueue = 4

func newAtLeastOnce(p *Processor, opts []kgo.Opt) (*atLeastOnce, error) {
	e := &atLeastOnce{p: p, workers: make(map[topicPartition]*partitionWorker)}
	e.refused = newRefusedRetry(e)
	opts = append(opts,
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(p.cfg.CommitInterval),
		kgo.AutoCommitCallback(e.autocommitted),
		kgo.OnPartitionsAssigned(e.assigned),
		kgo.OnPartitionsRevoked(e.revoked),
		kgo.OnPartitionsLost(e.lost),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	e.cl = cl
	return e, nil
}

func (e *atLeastOnce) client() *kgo.Client { return e.cl }

// run fetches and hands each partition's records to its worker. With
// BlockRebalanceOnPoll, a rebalance runs only between two polls, so the
// workers the records are for are looked up right after the poll, while no
// rebalance can run.
//
// A worker whose queue is full holds up the loop (backpressure), and with
// it any rebalance, until the worker takes the records. While the broker
// refuses a write no worker takes any, and the refusal may last for hours:
// so the loop then stops handing over, keeps the poll's records not handed
// over yet (held) and lets the rebalance go on while it waits for the
// refusal to end. Then it hands them over, to the same workers, before it
// polls again, so a partition's records still reach its worker in order. A
// worker stopped meanwhile (its partition revoked or lost, even if
// assigned back to us) gets none of them: they are past what it committed,
// so whoever owns the partition next fetches them again from there.
func (e *atLeastOnce) run(ctx context.Context) error {
	p := e.p
	maxPoll := p.cfg.BatchMaxRecords * 4
	ferrs := fetchErrors{p: p}
	e.committedAt.Store(time.Now().UnixNano())
	go e.refused.run()
	var buf, held []share
	for {
		e.waitForCommits(ctx)
		// Nothing is fetched while a write is refused; rebalances go on.
		if !e.refused.wait(ctx.Done()) {
			e.cl.AllowRebalance()
			return nil
		}
		if len(held) == 0 {
			fetches := e.cl.PollRecords(ctx, maxPoll)
			if fetches.IsClientClosed() || ctx.Err() != nil {
				e.cl.AllowRebalance()
				return nil
			}
			ferrs.handle(ctx, fetches)
			buf = e.shares(buf[:0], fetches)
			held = buf
		}
		if held = e.dispatch(ctx, held); len(held) == 0 {
			clear(buf) // handed over (or dropped): the loop keeps no record
		}
		e.cl.AllowRebalance()
	}
}

// share is one partition's records of a poll and the worker they are for.
type share struct {
	w    *partitionWorker
	recs []*kgo.Record
}

// shares appends to dst the records of fetches by worker, counting them as
// consumed. Called right after the poll, before AllowRebalance: the worker
// map is stable.
func (e *atLeastOnce) shares(dst []share, fetches kgo.Fetches) []share {
	p := e.p
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		if n := countData(fp.Records); n > 0 {
			p.m.RecordsConsumed.WithLabelValues(fp.Topic).Add(float64(n))
			p.stats.consumed.Add(uint64(n))
		}
		e.mu.Lock()
		w := e.workers[topicPartition{fp.Topic, fp.Partition}]
		e.mu.Unlock()
		if w == nil {
			// Not ours any more; uncommitted, so the new owner reads it.
			p.log.Debug("dropping records of a partition we no longer own", "topic", fp.Topic, "partition", fp.Partition, "records", len(fp.Records))
			return
		}
		dst = append(dst, share{w: w, recs: fp.Records})
	})
	return dst
}

// dispatch hands each share to its worker, waiting while a worker's queue
// is full. It returns the shares not handed over (held) when a write is
// refused while it waits: the caller lets the rebalance go on and hands
// them over once the refusal ends. A share whose worker stopped is dropped
// (uncommitted: the partition's next owner reads it); so is one waiting
// when ctx ends.
func (e *atLeastOnce) dispatch(ctx context.Context, shares []share) (held []share) {
	for i, s := range shares {
		select {
		case s.w.in <- s.recs:
			continue
		case <-s.w.quit:
			continue
		default:
		}
		e.p.m.Backpressure.Set(1)
		select {
		case s.w.in <- s.recs:
		case <-s.w.quit:
		case <-ctx.Done():
		case <-e.refused.refusing():
			held = shares[i:]
		}
		e.p.m.Backpressure.Set(0)
		if held != nil {
			e.p.log.Info("a worker's queue is full while the broker refuses a write: holding the fetched records and letting a rebalance go on",
				"topic", s.w.tp.topic, "partition", s.w.tp.partition, "held_partitions", len(held))
			return held
		}
	}
	return nil
}

// waitForCommits returns when no mark has waited longer than
// CommitStallTimeout for a successful commit, or when ctx is done. It is
// called between polls, so a rebalance (which gives up the stalled
// partitions, or moves the group to a live coordinator) goes on meanwhile.
func (e *atLeastOnce) waitForCommits(ctx context.Context) {
	limit := e.p.cfg.CommitStallTimeout
	if limit <= 0 {
		return
	}
	limit = max(limit, 2*e.p.cfg.CommitInterval) // shorter, it would pause between two ordinary commits
	var paused time.Time
	for {
		stalled := time.Since(time.Unix(0, e.committedAt.Load()))
		if stalled >= limit && len(e.cl.MarkedOffsets()) == 0 {
			// Nothing waits to be committed (an idle stream): no stall.
			e.committedAt.Store(time.Now().UnixNano())
			stalled = 0
		}
		if stalled < limit {
			if !paused.IsZero() {
				e.p.m.CommitStalled.Set(0)
				e.p.log.Info("offset commits succeed again: fetching resumes", "paused", time.Since(paused).Round(time.Millisecond).String())
			}
			return
		}
		if paused.IsZero() {
			paused = time.Now()
			e.p.m.CommitStalled.Set(1)
			e.p.log.Warn("no offset commit succeeded for processor.commit_stall_timeout: fetching pauses until one does (the partitions' next owners would redo the work)",
				"since_last_commit", stalled.Round(time.Millisecond).String(), "commit_stall_timeout", limit.String())
		}
		select {
		case <-ctx.Done():
			e.p.m.CommitStalled.Set(0)
			return
		case <-time.After(e.p.cfg.CommitInterval):
		}
	}
}

// close stops every worker, waits for their in-flight outputs, commits the
// marks and leaves the group.
func (e *atLeastOnce) close() {
	e.mu.Lock()
	ws := make([]*partitionWorker, 0, len(e.workers))
	for tp, w := range e.workers {
		ws = append(ws, w)
		delete(e.workers, tp)
	}
	e.mu.Unlock()
	e.stopWorkers(e.p.produceCtx, ws, true)
	e.refused.close()
	e.cl.Close() // calls revoked with everything; nothing is left to commit then
	<-e.refused.done
}

func (e *atLeastOnce) assigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	e.mu.Lock()
	for topic, parts := range assigned {
		for _, part := range parts {
			tp := topicPartition{topic, part}
			// Four polls' shares deep: the poll loop blocks on a full
			// channel, holding up every other partition (two slots
			// left cores idle: docs/BENCHMARKS.md, "Using the cores").
			w := &partitionWorker{tp: tp, in: make(chan []*kgo.Record, workerQueue), quit: make(chan struct{}),
				done: make(chan struct{}), tracker: newTracker(e.marker(tp))}
			w.ctx, w.cancel = context.WithCancel(e.p.produceCtx)
			e.workers[tp] = w
			go e.runWorker(w)
		}
	}
	e.mu.Unlock()
	e.p.own(assigned)
}

// marker marks tp's acknowledged prefix for the next autocommit.
func (e *atLeastOnce) marker(tp topicPartition) func(kgo.EpochOffset) {
	return func(o kgo.EpochOffset) {
		e.cl.MarkCommitOffsets(map[string]map[int32]kgo.EpochOffset{tp.topic: {tp.partition: o}})
	}
}

func (e *atLeastOnce) revoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	e.release(ctx, revoked, true)
}

func (e *atLeastOnce) lost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	e.release(ctx, lost, false)
}

// release stops the workers of partitions leaving this instance. On a revoke
// the in-flight outputs are awaited and the final marks committed, so the
// next owner starts exactly where we stopped; on a loss nothing can be
// committed any more and the next owner replays the uncommitted window.
func (e *atLeastOnce) release(ctx context.Context, parts map[string][]int32, commit bool) {
	var ws []*partitionWorker
	e.mu.Lock()
	for topic, ps := range parts {
		for _, part := range ps {
			tp := topicPartition{topic, part}
			if w := e.workers[tp]; w != nil {
				delete(e.workers, tp)
				ws = append(ws, w)
			}
		}
	}
	e.mu.Unlock()
	e.p.disown(parts)
	e.stopWorkers(ctx, ws, commit)
	if len(ws) > 0 {
		e.p.log.Info("partitions released", "partitions", fmt.Sprint(parts), "committed", commit)
	}
}

func (e *atLeastOnce) stopWorkers(ctx context.Context, ws []*partitionWorker, commit bool) {
	if len(ws) == 0 {
		return
	}
	for _, w := range ws {
		close(w.quit)
		if !commit {
			w.tracker.close()
			w.cancel()
		}
	}
	for _, w := range ws {
		<-w.done
	}
	if !commit {
		return
	}
	// Wait for the outputs already handed to the producer: each ack marks.
	// While writes are refused, a refused output is not acknowledged soon:
	// wait only for the others in flight, commit the acknowledged prefix
	// and let the next owner replay the rest.
	timeout := e.p.cfg.ShutdownTimeout
	if e.refused.isBlocked() {
		timeout = min(timeout, refusedBackoffMin)
	}
	wait, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, w := range ws {
		if !w.tracker.wait(wait) {
			e.p.log.Warn("outputs not acknowledged before the deadline; their records will be replayed",
				"topic", w.tp.topic, "partition", w.tp.partition)
		}
	}
	for _, w := range ws {
		w.tracker.close() // a later ack must not mark a partition we gave up
		w.cancel()
	}
	// A fresh deadline: wait may have ended, and the marks must still be
	// committed.
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if err := e.cl.CommitMarkedOffsets(cctx); err != nil {
		e.commitFailed(err)
	}
}

// autocommitted is franz-go's callback after each autocommit.
func (e *atLeastOnce) autocommitted(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
	if err == nil && resp != nil {
		for i, t := range resp.Topics {
			// OffsetCommit v10 answers with topic ids, not names: the
			// request lists the topics in the same order.
			name := t.Topic
			if name == "" && req != nil && i < len(req.Topics) {
				name = req.Topics[i].Topic
			}
			for _, pt := range t.Partitions {
				if perr := kerr.ErrorForCode(pt.ErrorCode); perr != nil && err == nil {
					err = fmt.Errorf("topic %s partition %d: %w", name, pt.Partition, perr)
				}
			}
		}
	}
	if err != nil {
		e.commitFailed(err)
		return
	}
	e.committedAt.Store(time.Now().UnixNano())
}

// commitFailed counts and logs a failed offset commit. The marks stay
// uncommitted, so the next commit retries them; a cancelled commit (the
// client closing) is no failure.
func (e *atLeastOnce) commitFailed(err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	e.p.m.CommitFailures.Inc()
	e.p.log.Warn("offset commit failed; will retry", "err", err)
}

// runWorker processes a partition's records in order and produces the
// outputs. Offsets advance only as the broker acknowledges them.
func (e *atLeastOnce) runWorker(w *partitionWorker) {
	defer close(w.done)
	wk, err := newWorker(e.p.pipe)
	if err != nil {
		e.p.fail(fmt.Errorf("partition %d worker: %w", w.tp.partition, err))
		return
	}
	for {
		select {
		case <-w.quit:
			return
		case recs := <-w.in:
			for len(recs) > 0 {
				n := min(len(recs), e.p.cfg.BatchMaxRecords)
				if !e.refused.wait(w.quit) {
					return // the batch was never started, so never acknowledged
				}
				// The lineup is taken once per micro-batch: a swap lands
				// between two batches, never inside one.
				if err := wk.use(e.p.pipe.current()); err != nil {
					e.p.fail(fmt.Errorf("partition %d worker: %w", w.tp.partition, err))
					return
				}
				if !e.runBatch(w, wk, recs[:n]) {
					return
				}
				recs = recs[n:]
				select {
				case <-w.quit:
					return
				default:
				}
			}
		}
	}
}

// runBatch processes one micro-batch; false if it was abandoned (quit).
// Its offsets run to its last record, a transaction marker included.
func (e *atLeastOnce) runBatch(w *partitionWorker, wk *worker, recs []*kgo.Record) bool {
	last := recs[len(recs)-1]
	recs = dataRecords(recs)
	ack := w.tracker.add(last, len(recs))
	if len(recs) == 0 {
		ack.done() // markers only: nothing to score, their offsets may be committed
		return true
	}
	if !wk.process(recs, w.quit, func(o output) { e.produce(w, o, ack) }) {
		// Nothing was emitted: the batch never completes, so neither it nor
		// anything after it is marked; the next owner reads it again.
		w.tracker.abandon(ack)
		return false
	}
	ack.handed, ack.acked = time.Now(), e.observeProduceAck
	ack.done()
	e.p.lastProcessed(recs[len(recs)-1])
	return true
}

func (e *atLeastOnce) observeProduceAck(d time.Duration) {
	e.p.m.StageDuration.WithLabelValues(stageProduceAck).Observe(d.Seconds())
}

// produce hands one output of w's partition to the producer.
func (e *atLeastOnce) produce(w *partitionWorker, o output, ack *batchAck) {
	w.seq++
	e.send(inflightOutput{tp: w.tp, seq: w.seq, ctx: w.ctx, o: o, ack: ack}, nil)
}

// send produces r. A write the broker refuses after the client's own
// retries goes to the refused queue (refused.go), never past: its batch is
// not acknowledged, so nothing after it is committed. promised, if set, is
// called once the promise ran.
func (e *atLeastOnce) send(r inflightOutput, promised func()) {
	p := e.p
	e.cl.Produce(r.ctx, r.o.rec, func(rec *kgo.Record, err error) {
		if promised != nil {
			defer promised()
		}
		if err != nil {
			if r.ctx.Err() != nil {
				return // partition lost or hard stop: never acknowledged, so replayed
			}
			p.m.ProduceErrors.WithLabelValues(rec.Topic).Inc()
			e.refused.add(r, refusedError(p.kcfg, rec.Topic, r.o, err))
			return
		}
		p.observeAck(r.o, time.Now())
		r.ack.done()
	})
}
