package processor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// partitionWorker owns one input partition in at-least-once mode: records of
// the partition are processed in order by one goroutine; partitions run in
// parallel.
type partitionWorker struct {
	tp      topicPartition
	in      chan []*kgo.Record
	quit    chan struct{}
	done    chan struct{}
	tracker *tracker
	ctx     context.Context // cancelled when the partition is lost
	cancel  context.CancelFunc
}

// pollLoop fetches and hands each partition's records to its worker. With
// BlockRebalanceOnPoll, a rebalance runs only between two polls, so the
// worker map is stable while we dispatch.
func (p *Processor) pollLoop(ctx context.Context) error {
	go p.commitLoop(ctx)
	maxPoll := p.cfg.BatchMaxRecords * 4
	for {
		fetches := p.cl.PollRecords(ctx, maxPoll)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			p.cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(t string, part int32, err error) {
			p.log.Warn("fetch error", "topic", t, "partition", part, "err", err)
		})
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			p.m.RecordsConsumed.WithLabelValues(fp.Topic).Add(float64(len(fp.Records)))
			p.stats.consumed.Add(uint64(len(fp.Records)))
			p.mu.Lock()
			w := p.workers[topicPartition{fp.Topic, fp.Partition}]
			p.mu.Unlock()
			if w == nil {
				// Not ours any more; uncommitted, so the new owner reads it.
				p.log.Debug("dropping records of a partition we no longer own", "topic", fp.Topic, "partition", fp.Partition, "records", len(fp.Records))
				return
			}
			select {
			case w.in <- fp.Records:
			default:
				p.m.Backpressure.Set(1)
				select {
				case w.in <- fp.Records:
				case <-ctx.Done():
				}
				p.m.Backpressure.Set(0)
			}
		})
		p.cl.AllowRebalance()
	}
}

func (p *Processor) assigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for topic, parts := range assigned {
		for _, part := range parts {
			tp := topicPartition{topic, part}
			p.owned[tp] = true
			if p.sess != nil {
				continue
			}
			w := &partitionWorker{tp: tp, in: make(chan []*kgo.Record, 2), quit: make(chan struct{}),
				done: make(chan struct{}), tracker: newTracker()}
			w.ctx, w.cancel = context.WithCancel(p.produceCtx)
			p.workers[tp] = w
			go p.runWorker(w)
		}
	}
	p.m.AssignedPartitions.Set(float64(len(p.owned)))
	p.log.Info("partitions assigned", "partitions", fmt.Sprint(assigned))
}

func (p *Processor) revoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	p.release(ctx, revoked, true)
}

func (p *Processor) lost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	p.release(ctx, lost, false)
}

// release stops the workers of partitions leaving this instance. On a revoke
// the in-flight outputs are awaited and the final offsets committed, so the
// next owner starts exactly where we stopped; on a loss nothing can be
// committed any more and the next owner replays the uncommitted window.
func (p *Processor) release(ctx context.Context, parts map[string][]int32, commit bool) {
	var ws []*partitionWorker
	p.mu.Lock()
	for topic, ps := range parts {
		for _, part := range ps {
			tp := topicPartition{topic, part}
			delete(p.owned, tp)
			p.m.ConsumerLag.DeleteLabelValues(topic, strconv.Itoa(int(part)))
			if w := p.workers[tp]; w != nil {
				delete(p.workers, tp)
				ws = append(ws, w)
			}
		}
	}
	p.m.AssignedPartitions.Set(float64(len(p.owned)))
	p.mu.Unlock()
	p.stopWorkers(ctx, ws, commit)
	if len(parts) > 0 {
		p.log.Info("partitions released", "partitions", fmt.Sprint(parts), "committed", commit)
	}
}

// stopAll stops every worker; used on shutdown.
func (p *Processor) stopAll(commit bool) {
	p.mu.Lock()
	ws := make([]*partitionWorker, 0, len(p.workers))
	for tp, w := range p.workers {
		ws = append(ws, w)
		delete(p.workers, tp)
	}
	p.mu.Unlock()
	p.stopWorkers(p.produceCtx, ws, commit)
}

func (p *Processor) stopWorkers(ctx context.Context, ws []*partitionWorker, commit bool) {
	if len(ws) == 0 {
		return
	}
	for _, w := range ws {
		close(w.quit)
		if !commit {
			w.cancel()
		}
	}
	for _, w := range ws {
		<-w.done
	}
	if !commit {
		return
	}
	// Wait for the outputs already handed to the producer, then commit.
	wait, cancel := context.WithTimeout(ctx, p.cfg.ShutdownTimeout)
	defer cancel()
	for _, w := range ws {
		for w.tracker.pendingBatches() > 0 {
			select {
			case <-w.tracker.idle:
			case <-wait.Done():
				p.log.Warn("outputs not acknowledged before the deadline; their records will be replayed",
					"topic", w.tp.topic, "partition", w.tp.partition)
				goto commit
			}
		}
	}
commit:
	// A fresh deadline: wait may have ended, and the acknowledged offsets
	// must still be committed.
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	p.commit(cctx, ws)
	for _, w := range ws {
		w.cancel()
	}
}

// commitLoop commits acknowledged offsets every CommitInterval: batching
// commits keeps the broker load low, the interval bounds the replay window.
func (p *Processor) commitLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.commit(ctx, nil)
		}
	}
}

// commit commits the acknowledged offsets of ws (all workers when nil).
func (p *Processor) commit(ctx context.Context, ws []*partitionWorker) {
	if ws == nil {
		p.mu.Lock()
		for _, w := range p.workers {
			ws = append(ws, w)
		}
		p.mu.Unlock()
	}
	offsets := make(map[string]map[int32]kgo.EpochOffset)
	taken := make(map[*partitionWorker]kgo.EpochOffset)
	for _, w := range ws {
		o, ok := w.tracker.take()
		if !ok {
			continue
		}
		if offsets[w.tp.topic] == nil {
			offsets[w.tp.topic] = make(map[int32]kgo.EpochOffset)
		}
		offsets[w.tp.topic][w.tp.partition] = o
		taken[w] = o
	}
	if len(offsets) == 0 {
		return
	}
	var commitErr error
	p.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			commitErr = err
			return
		}
		for _, t := range resp.Topics {
			for _, pt := range t.Partitions {
				if e := kerr.ErrorForCode(pt.ErrorCode); e != nil && commitErr == nil {
					commitErr = fmt.Errorf("topic %s partition %d: %w", t.Topic, pt.Partition, e)
				}
			}
		}
	})
	if commitErr != nil {
		for w, o := range taken {
			w.tracker.untake(o)
		}
		if !errors.Is(commitErr, context.Canceled) {
			p.log.Warn("offset commit failed; will retry", "err", commitErr)
		}
	}
}

// runWorker processes a partition's records in order and produces the
// outputs. Offsets advance only as the broker acknowledges them.
func (p *Processor) runWorker(w *partitionWorker) {
	defer close(w.done)
	wk, err := newWorker(p.pipe)
	if err != nil {
		p.fail(fmt.Errorf("partition %d worker: %w", w.tp.partition, err))
		return
	}
	for {
		select {
		case <-w.quit:
			return
		case recs := <-w.in:
			for len(recs) > 0 {
				n := min(len(recs), p.cfg.BatchMaxRecords)
				p.runBatch(w, wk, recs[:n])
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

func (p *Processor) runBatch(w *partitionWorker, wk *worker, recs []*kgo.Record) {
	ack := w.tracker.add(recs[len(recs)-1], len(recs))
	if !wk.process(recs, w.quit, func(o output) { p.produce(w.ctx, o, ack) }) {
		return // abandoned: the batch never completes, so its offsets are never committed
	}
	ack.done()
	p.m.LastProcessed.Set(float64(recs[len(recs)-1].Timestamp.UnixMilli()) / 1e3)
}

// produce hands one output to the producer. A produce error that survives
// the client's own retries is fatal: we stop rather than commit past a
// record whose output was never written.
func (p *Processor) produce(ctx context.Context, o output, ack *batchAck) {
	p.cl.Produce(ctx, o.rec, func(r *kgo.Record, err error) {
		if err != nil {
			if ctx.Err() != nil {
				return // partition lost or hard stop: never acknowledged, so replayed
			}
			p.m.ProduceErrors.WithLabelValues(r.Topic).Inc()
			p.fail(fmt.Errorf("produce to %s for %s/%d offset %d: %w", r.Topic, o.src.Topic, o.src.Partition, o.src.Offset, err))
			return
		}
		p.observeAck(o, time.Now())
		ack.done()
	})
}

func (p *Processor) observeAck(o output, now time.Time) {
	if o.dlq {
		p.m.DLQRecords.WithLabelValues(string(o.reason), string(o.stage)).Inc()
		p.stats.dlq.Add(1)
	} else {
		p.produced.Inc()
		p.stats.produced.Add(1)
	}
	lat := now.Sub(o.src.Timestamp)
	p.m.EndToEndLatency.Observe(lat.Seconds())
	p.latency.Observe(lat)
}
