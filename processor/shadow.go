package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Shadow outcomes, the result label of shadow_predictions_total.
const (
	shadowProduced = "produced"
	shadowRejected = "rejected"
	shadowDropped  = "dropped"
	shadowFailed   = "failed"
)

// Bounds of the shadow producer. It is separate from the output's so that
// nothing the shadow does can hold up, fail or enter the output's delivery:
// a full shadow buffer drops the shadow record instead of waiting, and a
// record the shadow topic does not take within shadowDeliveryTimeout fails
// alone.
const (
	shadowMaxBuffered     = 10000
	shadowDeliveryTimeout = 30 * time.Second
	shadowFlushTimeout    = 5 * time.Second
	shadowErrLogEvery     = 10 * time.Second
)

// shadowSink produces shadow predictions with its own, non-transactional
// client, best effort: in exactly-once mode the shadow records are not part
// of the transaction, so a redone transaction writes its shadow records
// again.
type shadowSink struct {
	cl      *kgo.Client
	m       *Metrics
	log     *slog.Logger
	lastLog atomic.Int64 // unix nanos of the last logged failure
}

func newShadowSink(opts []kgo.Opt, topic string, m *Metrics, log *slog.Logger) (*shadowSink, error) {
	opts = append(opts, kgo.DefaultProduceTopic(topic), kgo.MaxBufferedRecords(shadowMaxBuffered),
		kgo.RecordDeliveryTimeout(shadowDeliveryTimeout))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("shadow kafka client: %w", err)
	}
	// Every outcome's series from the start, so rates and ratios see zeros.
	for _, r := range []string{shadowProduced, shadowRejected, shadowDropped, shadowFailed} {
		m.ShadowPredictions.WithLabelValues(r)
	}
	m.ShadowAgreement.WithLabelValues(agreeLabel(true))
	m.ShadowAgreement.WithLabelValues(agreeLabel(false))
	return &shadowSink{cl: cl, m: m, log: log}, nil
}

// produce hands rec to the shadow producer without waiting: a full buffer
// drops it.
func (s *shadowSink) produce(rec *kgo.Record) {
	s.cl.TryProduce(context.Background(), rec, func(r *kgo.Record, err error) {
		switch {
		case err == nil:
			s.m.ShadowPredictions.WithLabelValues(shadowProduced).Inc()
		case errors.Is(err, kgo.ErrMaxBuffered):
			s.m.ShadowPredictions.WithLabelValues(shadowDropped).Inc()
		case errors.Is(err, kgo.ErrClientClosed), errors.Is(err, context.Canceled):
			s.m.ShadowPredictions.WithLabelValues(shadowDropped).Inc()
		default:
			s.m.ShadowPredictions.WithLabelValues(shadowFailed).Inc()
			s.logFailure(r.Topic, err)
		}
	})
}

// logFailure logs a shadow produce failure, at most once per
// shadowErrLogEvery (the counter has them all).
func (s *shadowSink) logFailure(topic string, err error) {
	now := time.Now().UnixNano()
	last := s.lastLog.Load()
	if now-last < int64(shadowErrLogEvery) || !s.lastLog.CompareAndSwap(last, now) {
		return
	}
	s.log.Warn("shadow predictions are not written; the output is not affected", "topic", topic, "err", err)
}

// close flushes what is buffered for a short while and closes the client;
// shadow records still buffered then are dropped.
func (s *shadowSink) close(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, shadowFlushTimeout)
	defer cancel()
	if err := s.cl.Flush(ctx); err != nil {
		s.log.Warn("shadow predictions still buffered at shutdown are dropped", "records", s.cl.BufferedProduceRecords(), "err", err)
	}
	s.cl.Close()
}
