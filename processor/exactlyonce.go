package processor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// sessionError is a failure of the transactional session itself (broker
// gone past the client's retries, fenced, transaction timed out). franz-go
// says the session cannot be used after it, but a new one can: the open
// transaction is aborted by the broker and its records are processed again.
type sessionError struct{ err error }

func (e *sessionError) Error() string { return e.err.Error() }
func (e *sessionError) Unwrap() error { return e.err }

// exactlyOnce is the transactional engine: each poll becomes one Kafka
// transaction holding the predictions, the DLQ copies and the consumed
// offsets (franz-go's GroupTransactSession).
type exactlyOnce struct {
	p    *Processor
	opts []kgo.Opt

	// mu guards sess and cl: run replaces them after a session failure
	// while the lag loop reads the client.
	mu   sync.RWMutex
	sess *kgo.GroupTransactSession // nil while being replaced, and after close
	cl   *kgo.Client               // the current (or last) session's client

	// While a write is refused (refused.go): since when, and the wait
	// before the next attempt. Only the transact loop uses them.
	blockedSince time.Time
	backoff      time.Duration
}

func newExactlyOnce(ctx context.Context, p *Processor, opts []kgo.Opt) (*exactlyOnce, error) {
	e := &exactlyOnce{p: p}
	e.opts = append(opts,
		kgo.TransactionalID(e.transactionalID()),
		kgo.TransactionTimeout(p.cfg.TransactionTimeout),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { p.own(m) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { p.disown(m) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { p.disown(m) }),
	)
	if err := e.checkTransactionalID(ctx); err != nil {
		return nil, err
	}
	if err := e.connect(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// checkTransactionalID initialises the transactional producer on a client
// of its own, without the group: the session's client joins the group as
// soon as it exists, so a transactional id the principal may not use would
// otherwise be found after a join (a rebalance for the other members, and
// "partitions assigned" logged before the error).
func (e *exactlyOnce) checkTransactionalID(ctx context.Context) error {
	opts, err := ClientOpts(e.p.kcfg)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.TransactionalID(e.transactionalID()), kgo.TransactionTimeout(e.p.cfg.TransactionTimeout))...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	return e.initProducer(ctx, cl)
}

// initProducer initialises cl's transactional producer (InitProducerID).
func (e *exactlyOnce) initProducer(ctx context.Context, cl *kgo.Client) error {
	ictx, cancel := context.WithTimeout(ctx, e.p.cfg.SessionTimeout)
	defer cancel()
	_, _, err := cl.ProducerID(ictx)
	if errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		return fmt.Errorf("init transactional producer %s: %s may not use this transactional id (processor.delivery exactly-once needs ACL WRITE on TransactionalId, prefixed %s-; see %s): %w",
			e.transactionalID(), e.p.kcfg.principal(), e.p.cfg.Group, aclDoc, err)
	}
	if err != nil {
		return fmt.Errorf("init transactional producer %s: %w", e.transactionalID(), err)
	}
	return nil
}

// transactionalID must be unique per live instance; a stable one (from the
// static member id) lets a restarted instance fence its dead predecessor at
// once instead of waiting for the transaction timeout.
func (e *exactlyOnce) transactionalID() string {
	c := e.p.cfg
	if c.InstanceID != "" {
		return c.Group + "-" + c.InstanceID
	}
	host, _ := os.Hostname()
	return c.Group + "-" + host + "-" + strconv.Itoa(os.Getpid())
}

// connect builds a transactional session.
func (e *exactlyOnce) connect(ctx context.Context) error {
	sess, err := kgo.NewGroupTransactSession(e.opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	cl := sess.Client()
	// Initialise the transactional producer now: that fences a dead
	// predecessor with the same transactional id and aborts its open
	// transaction, before we fetch offsets its pending commit would block.
	if err := e.initProducer(ctx, cl); err != nil {
		sess.Close()
		return err
	}
	e.mu.Lock()
	e.sess, e.cl = sess, cl
	e.mu.Unlock()
	return nil
}

func (e *exactlyOnce) client() *kgo.Client {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.cl
}

// closeSession closes the current session, if any, once.
func (e *exactlyOnce) closeSession() {
	e.mu.Lock()
	sess := e.sess
	e.sess = nil
	e.mu.Unlock()
	if sess != nil {
		sess.Close()
	}
}

// close ends the session: an open transaction is aborted (its batch is
// redone by the next owner) and the group is left.
func (e *exactlyOnce) close() { e.closeSession() }

// run runs transactLoop, replacing the session after a session failure
// (with backoff) instead of exiting: a broker restart must not stop the
// service. Other errors (a record the broker refuses) are returned.
func (e *exactlyOnce) run(ctx context.Context) error {
	p := e.p
	for {
		e.mu.RLock()
		sess := e.sess
		e.mu.RUnlock()
		err := e.transactLoop(ctx, sess)
		var se *sessionError
		if !errors.As(err, &se) || ctx.Err() != nil {
			return err
		}
		p.m.TransactionsAborted.Inc()
		p.log.Warn("transactional session failed; replacing it (the open transaction is aborted and redone)", "err", se.err)
		e.closeSession()
		for backoff := 500 * time.Millisecond; ; backoff = min(2*backoff, 10*time.Second) {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			if err := e.connect(ctx); err != nil {
				p.log.Warn("new transactional session failed; retrying", "err", err, "retry_in", backoff.String())
				continue
			}
			break
		}
	}
}

// transactLoop turns each poll into one Kafka transaction holding the
// predictions, the DLQ copies and the consumed offsets. Partitions of a poll
// are processed in parallel (one goroutine per slot, a partition always
// whole in one slot, so per-partition order holds).
// A rebalance or error aborts the transaction; the session rewinds to the
// last committed offsets and the records are processed again, so readers
// using read_committed see each input exactly once.
func (e *exactlyOnce) transactLoop(ctx context.Context, sess *kgo.GroupTransactSession) error {
	p := e.p
	slots := make([]*worker, runtime.GOMAXPROCS(0))
	// Every record of an open transaction is in flight until it commits, so
	// a transaction takes up to max_inflight_records. Fewer per transaction
	// means more commit round trips (each stops the loop): at 8 batches
	// (4,000 records) exactly-once ran at 0.67x the at-least-once rate, at
	// 20,000 at 0.90x (1.39x faster), with a lower latency at 20k/s
	// (docs/BENCHMARKS.md, "Using the cores").
	maxPoll := p.cfg.MaxInflightRecords
	ferrs := fetchErrors{p: p}
	var (
		mu       sync.Mutex
		acked    []output // outputs of the open transaction, observed once it commits
		failed   atomic.Bool
		firstErr error
		errTopic string // firstErr's record's topic (output, DLQ or shadow)
	)
	for {
		fetches := sess.PollRecords(ctx, maxPoll)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			sess.AllowRebalance()
			return nil
		}
		ferrs.handle(ctx, fetches)
		var parts []kgo.FetchTopicPartition
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) > 0 {
				parts = append(parts, fp)
			}
		})
		if len(parts) == 0 {
			sess.AllowRebalance()
			continue
		}
		if err := sess.Begin(); err != nil {
			return &sessionError{fmt.Errorf("begin transaction: %w", err)}
		}
		acked, firstErr = acked[:0], nil
		failed.Store(false)

		// One lineup for the whole transaction: every record it commits was
		// scored by the models that were live when it began.
		lu := p.pipe.current()
		var wg sync.WaitGroup
		for s := range slots {
			if s >= len(parts) {
				break
			}
			if slots[s] == nil {
				slots[s] = &worker{p: p.pipe, deferCounts: true}
			}
			if err := slots[s].use(lu); err != nil {
				return fmt.Errorf("worker: %w", err)
			}
			wg.Add(1)
			go func(s int) {
				defer wg.Done()
				for i := s; i < len(parts); i += len(slots) {
					// Transaction markers are not processed; the session
					// commits the offsets past them with the others.
					parts[i].Records = dataRecords(parts[i].Records)
					fp := parts[i]
					if len(fp.Records) > 0 {
						p.m.RecordsConsumed.WithLabelValues(fp.Topic).Add(float64(len(fp.Records)))
						p.stats.consumed.Add(uint64(len(fp.Records)))
					}
					for recs := fp.Records; len(recs) > 0; {
						n := min(len(recs), p.cfg.BatchMaxRecords)
						ok := slots[s].process(recs[:n], ctx.Done(), func(o output) {
							sess.Produce(p.produceCtx, o.rec, func(r *kgo.Record, err error) {
								mu.Lock()
								defer mu.Unlock()
								if err != nil {
									if !failed.Swap(true) {
										firstErr, errTopic = err, r.Topic
									}
									return
								}
								acked = append(acked, o)
							})
						})
						if !ok {
							failed.Store(true) // shutting down mid-transaction: abort it
							return
						}
						recs = recs[n:]
					}
				}
			}(s)
		}
		wg.Wait()

		endCtx, cancel := context.WithTimeout(p.produceCtx, p.cfg.TransactionTimeout)
		handed := time.Now()
		// Every produce callback runs before the choice: End(TryCommit)
		// commits a transaction, offsets included, in which a record was
		// refused (a DLQ without Write ACL: the broker never saw it), so
		// that record would be lost. Flush fails only when endCtx ends;
		// then the transaction is aborted and its records are redone.
		flushErr := sess.Client().Flush(endCtx)
		try := kgo.TryCommit
		if failed.Load() || flushErr != nil {
			try = kgo.TryAbort
		}
		committed, err := sess.End(endCtx, try)
		cancel()
		// The quality and drift counts of this transaction's batches count
		// only if it committed: an aborted one's records are scored again.
		for _, w := range slots[:min(len(slots), len(parts))] {
			if committed && err == nil {
				w.addCounts(time.Now())
			} else {
				w.dropCounts()
			}
		}
		p.m.StageDuration.WithLabelValues(stageProduceAck).Observe(time.Since(handed).Seconds())
		sess.AllowRebalance()
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				p.m.CommitFailures.Inc()
			}
			return &sessionError{fmt.Errorf("end transaction: %w", err)}
		}
		mu.Lock()
		if failed.Load() && ctx.Err() != nil {
			mu.Unlock()
			return nil // stopping: the aborted batch is redone after restart
		}
		if failed.Load() {
			// The client already retried: a record the broker refuses
			// (too large, not authorized) is refused again at once. The
			// abort rewound the session to the committed offsets; the
			// transaction is redone with backoff until the broker takes
			// it (refused.go).
			err := firstErr
			mu.Unlock()
			p.m.ProduceErrors.WithLabelValues(errTopic).Inc()
			if !e.blocked(ctx, fmt.Errorf("produce to %s in transaction (aborted, nothing committed): %w", errTopic, writeDenied(p.kcfg, errTopic, err))) {
				return nil
			}
			continue
		}
		if committed {
			e.unblocked()
			now := time.Now()
			for _, o := range acked {
				p.observeAck(o, now)
			}
			for _, fp := range parts {
				if len(fp.Records) > 0 {
					p.lastProcessed(fp.Records[len(fp.Records)-1])
				}
			}
		} else {
			p.m.TransactionsAborted.Inc()
			if flushErr != nil {
				p.log.Info("transaction aborted as its records were not all acknowledged within processor.transaction_timeout; they will be processed again", "err", flushErr)
			} else {
				p.log.Info("transaction aborted by a rebalance; its records will be processed again")
			}
		}
		mu.Unlock()
	}
}

// blocked says a transaction was aborted because the broker refused one of
// its writes, then waits before the loop redoes it; false if ctx ended.
// Nothing is fetched or committed meanwhile; rebalances go on.
func (e *exactlyOnce) blocked(ctx context.Context, err error) bool {
	p := e.p
	if e.blockedSince.IsZero() {
		e.blockedSince, e.backoff = time.Now(), refusedBackoffMin
		p.m.ProduceBlocked.Set(1)
		p.log.Error("the broker refused a write: the transaction is redone with backoff until it takes it (fetching stops meanwhile)",
			"err", err, "retry_in", e.backoff.String())
	} else {
		e.backoff = min(2*e.backoff, refusedBackoffMax)
		p.log.Warn("the broker still refuses a write; redoing the transaction",
			"blocked_for", time.Since(e.blockedSince).Round(time.Second).String(), "retry_in", e.backoff.String(), "err", err)
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(e.backoff):
		return true
	}
}

// unblocked ends a refusal once a transaction committed.
func (e *exactlyOnce) unblocked() {
	if e.blockedSince.IsZero() {
		return
	}
	e.p.m.ProduceBlocked.Set(0)
	e.p.log.Info(msgResumed, "blocked_for", time.Since(e.blockedSince).Round(time.Millisecond).String())
	e.blockedSince = time.Time{}
}
