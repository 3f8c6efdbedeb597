package processor

import (
	"github.com/streamscore/streamscore/reject"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// Decoder turns one record value into the bundle's row slots.
type Decoder interface {
	Decode(value []byte, row *features.Row) (schemas.Meta, error)
}

// Encoder appends one prediction record to dst.
type Encoder interface {
	Append(dst []byte, p *schemas.Prediction) ([]byte, error)
}

// Pipeline is what every worker shares: the bundle, codec factories and
// the output naming. It is read-only once built, so safe for concurrent use.
type Pipeline struct {
	Bundle       *scoring.Bundle
	NewDecoder   func() (Decoder, error)
	NewEncoder   func() (Encoder, error)
	OutputTopic  string
	DLQTopic     string
	EchoFeatures bool

	modelRef []byte // name@version, the streamscore-model header
	log      *slog.Logger
	labels   map[string]prometheus.Counter
	m        *Metrics
}

func (p *Pipeline) init(m *Metrics, log *slog.Logger) {
	p.m = m
	p.log = log
	p.modelRef = []byte(p.Bundle.Name + "@" + p.Bundle.Version)
	p.labels = make(map[string]prometheus.Counter)
	for _, l := range p.Bundle.Labels() {
		p.labels[l] = m.PredictionLabels.WithLabelValues(l)
	}
}

// output is one record to produce for one input record.
type output struct {
	rec    *kgo.Record
	src    *kgo.Record
	dlq    bool
	reason reject.Reason
	stage  reject.Stage
}

// worker runs micro-batches through decode -> features+score -> encode. It
// owns scratch buffers, so one goroutine uses one worker.
type worker struct {
	p      *Pipeline
	dec    Decoder
	enc    Encoder
	scorer *scoring.Scorer

	rows   []*features.Row
	metas  []schemas.Meta
	srcIdx []int // srcIdx[i] is the batch index of rows[i]
	preds  []scoring.Prediction
	fails  []output // decode failures of the current batch, by batch index
	failAt []int
	// Per-batch slabs for the output records, their headers and values: a
	// few allocations per batch instead of three per record. A slab lives
	// until every record carved from it was acknowledged.
	recSlab []kgo.Record
	hdrSlab []kgo.RecordHeader
	valSlab []byte
	avgLen  int // recent encoded size, to size the value slab
	pred    schemas.Prediction

	seenOOR, seenUnknown []uint64 // feature counters already exported
}

func newWorker(p *Pipeline) (*worker, error) {
	dec, err := p.NewDecoder()
	if err != nil {
		return nil, err
	}
	enc, err := p.NewEncoder()
	if err != nil {
		return nil, err
	}
	w := &worker{p: p, dec: dec, enc: enc, scorer: p.Bundle.NewScorer()}
	w.pred.Model = p.Bundle.Name
	w.pred.ModelVersion = p.Bundle.Version
	w.pred.Classes = p.Bundle.Classes()
	if p.EchoFeatures {
		w.pred.FeatureNames = p.Bundle.FeatureNames()
	}
	return w, nil
}

func (w *worker) grow(n int) {
	layout := w.p.Bundle.Layout()
	for len(w.rows) < n {
		w.rows = append(w.rows, layout.NewRow())
	}
	if cap(w.metas) < n {
		w.metas = make([]schemas.Meta, n)
		w.srcIdx = make([]int, n)
		w.preds = make([]scoring.Prediction, n)
	}
}

// errPanic carries a recovered panic as a poison decode error.
func errPanic(v any) error {
	return &reject.Error{Reason: reject.Internal, Err: fmt.Errorf("recovered panic: %v", v)}
}

// safeDecode is Decode with a recover: a decoder bug on one record becomes
// that record's DLQ entry, not a crash loop on the same offset.
func (w *worker) safeDecode(value []byte, n int) (meta schemas.Meta, err error) {
	defer func() {
		if v := recover(); v != nil {
			w.rows[n].Reset()
			err = errPanic(v)
		}
	}()
	return w.dec.Decode(value, w.rows[n])
}

// scoreBatch scores rows[:n]. Should scoring panic (a bug), the batch is
// scored again row by row so only the offending rows are rejected.
func (w *worker) scoreBatch(n int) {
	if w.tryScore(0, n) {
		return
	}
	for j := 0; j < n; j++ {
		if !w.tryScore(j, j+1) {
			w.preds[j] = scoring.Prediction{Reject: reject.Internal, RejectFeature: "scoring panicked"}
		}
	}
}

func (w *worker) tryScore(from, to int) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			w.p.log.Error("scoring panicked; rejecting the rows involved", "panic", fmt.Sprint(v))
			ok = false
		}
	}()
	w.scorer.ScoreBatch(w.rows[from:to], w.preds[from:to])
	return true
}

// safeEncode is encode with a recover, for the same reason as safeDecode.
func (w *worker) safeEncode(src *kgo.Record, j int, now time.Time) (o output) {
	defer func() {
		if v := recover(); v != nil {
			o = output{src: src, dlq: true, reason: reject.Internal, stage: reject.StageEncode,
				rec: dlqRecord(w.p.DLQTopic, string(w.p.modelRef), src, reject.StageEncode, reject.Internal, fmt.Sprintf("recovered panic: %v", v), now)}
		}
	}()
	return w.encode(src, j, now)
}

// errAborted: the batch was abandoned (partition released or shutdown)
// while a record waited for a transient failure to pass.
var errAborted = errors.New("batch aborted")

// process runs one micro-batch and calls emit once per input record, in
// input order, with its prediction or its DLQ copy. It returns false if
// abort closed while a record could not be decoded for a transient reason;
// then nothing was emitted and the batch must not be committed.
func (w *worker) process(recs []*kgo.Record, abort <-chan struct{}, emit func(output)) bool {
	if len(recs) == 0 {
		return true
	}
	m := w.p.m
	m.BatchRecords.Observe(float64(len(recs)))
	w.grow(len(recs))
	now := time.Now()

	// Decode into row slots; failures go to the DLQ later, in input order.
	w.fails = w.fails[:0]
	w.failAt = w.failAt[:0]
	n := 0
	for i, r := range recs {
		meta, err := w.decode(r, n, abort)
		if errors.Is(err, errAborted) {
			return false
		}
		if err != nil {
			reason, _ := reject.Of(err)
			w.failAt = append(w.failAt, i)
			w.fails = append(w.fails, output{src: r, dlq: true, reason: reason, stage: reject.StageDecode,
				rec: dlqRecord(w.p.DLQTopic, string(w.p.modelRef), r, reject.StageDecode, reason, err.Error(), now)})
			continue
		}
		w.metas[n] = meta
		w.srcIdx[n] = i
		n++
	}
	t1 := time.Now()
	m.StageDuration.WithLabelValues(string(reject.StageDecode)).Observe(t1.Sub(now).Seconds())

	w.scoreBatch(n)
	t2 := time.Now()
	m.StageDuration.WithLabelValues("score").Observe(t2.Sub(t1).Seconds())
	w.exportFeatureCounts()

	// Encode in input order, merging the decode failures back in. Fresh
	// slabs: the previous batch's records may still wait for their acks.
	w.recSlab = make([]kgo.Record, n)
	w.hdrSlab = make([]kgo.RecordHeader, 0, n+n/4+1)
	w.valSlab = make([]byte, 0, n*(w.avgLen+w.avgLen/8+16))
	f := 0
	for j := 0; j < n; j++ {
		i := w.srcIdx[j]
		for f < len(w.failAt) && w.failAt[f] < i {
			emit(w.fails[f])
			f++
		}
		emit(w.safeEncode(recs[i], j, t2))
	}
	for ; f < len(w.fails); f++ {
		emit(w.fails[f])
	}
	m.StageDuration.WithLabelValues(string(reject.StageEncode)).Observe(time.Since(t2).Seconds())
	return true
}

// decode decodes record r into row n. Only a reject.Error means the
// record itself is bad; any other error (the schema registry unreachable)
// is transient: the same record will decode later, so it is retried with
// backoff rather than sent to the DLQ, holding up its partition meanwhile.
func (w *worker) decode(r *kgo.Record, n int, abort <-chan struct{}) (schemas.Meta, error) {
	backoff := 100 * time.Millisecond
	for {
		meta, err := w.safeDecode(r.Value, n)
		if err == nil {
			return meta, nil
		}
		if _, poison := reject.Of(err); poison {
			return meta, err
		}
		w.p.log.Warn("transient decode failure; retrying", "topic", r.Topic, "partition", r.Partition,
			"offset", r.Offset, "retry_in", backoff, "err", err)
		select {
		case <-abort:
			return meta, errAborted
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (w *worker) encode(src *kgo.Record, j int, now time.Time) output {
	pr := &w.preds[j]
	if pr.Reject != "" {
		msg := "rejected by bundle policy"
		if pr.RejectFeature != "" {
			msg += ": " + pr.RejectFeature
		}
		return output{src: src, dlq: true, reason: pr.Reject, stage: reject.StageFeatures,
			rec: dlqRecord(w.p.DLQTopic, string(w.p.modelRef), src, reject.StageFeatures, pr.Reject, msg, now)}
	}
	p := &w.pred
	p.Key = src.Key
	p.EventID = w.metas[j].EventID
	p.EventTime = src.Timestamp
	p.ScoredTime = now
	p.Score = pr.Score
	p.Label = pr.Label
	p.Probs = pr.Probs
	if w.p.EchoFeatures {
		p.Features = w.scorer.Features(j)
	}
	start := len(w.valSlab)
	var err error
	w.valSlab, err = w.enc.Append(w.valSlab, p)
	if err != nil {
		w.valSlab = w.valSlab[:start]
		return output{src: src, dlq: true, reason: reject.EncodeFailed, stage: reject.StageEncode,
			rec: dlqRecord(w.p.DLQTopic, string(w.p.modelRef), src, reject.StageEncode, reject.EncodeFailed, err.Error(), now)}
	}
	// Cap the value at its own end, so no later append can write into it
	// (a grown slab moves on; earlier values keep the old array alive).
	value := w.valSlab[start:len(w.valSlab):len(w.valSlab)]
	w.avgLen = (w.avgLen*7 + len(value)) / 8
	w.p.m.PredictionScore.Observe(pr.Score)
	if c := w.p.labels[pr.Label]; c != nil {
		c.Inc()
	}
	rec := &w.recSlab[j]
	*rec = kgo.Record{Topic: w.p.OutputTopic, Key: src.Key, Value: value, Timestamp: src.Timestamp}
	h := len(w.hdrSlab)
	w.hdrSlab = append(w.hdrSlab, kgo.RecordHeader{Key: HeaderModel, Value: w.p.modelRef})
	for _, hd := range src.Headers {
		if copiedHeaders[hd.Key] {
			w.hdrSlab = append(w.hdrSlab, hd)
		}
	}
	rec.Headers = w.hdrSlab[h:len(w.hdrSlab):len(w.hdrSlab)]
	return output{rec: rec, src: src}
}

// exportFeatureCounts turns the scorer's cumulative per-feature counts into
// counter increments, once per batch.
func (w *worker) exportFeatureCounts() {
	c := w.scorer.Counts()
	names := c.Names
	if w.seenOOR == nil {
		w.seenOOR = make([]uint64, len(names))
		w.seenUnknown = make([]uint64, len(names))
	}
	for i, name := range names {
		if d := c.OutOfRange[i] - w.seenOOR[i]; d > 0 {
			w.p.m.FeatureOutOfRange.WithLabelValues(name).Add(float64(d))
			w.seenOOR[i] = c.OutOfRange[i]
		}
		if d := c.Unknown[i] - w.seenUnknown[i]; d > 0 {
			w.p.m.FeatureUnknown.WithLabelValues(name).Add(float64(d))
			w.seenUnknown[i] = c.Unknown[i]
		}
	}
}
