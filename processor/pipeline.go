package processor

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/drift"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/reject"
)

// Pipeline is what every worker shares: the prediction path and the output
// naming. It is read-only once built, so safe for concurrent use.
type Pipeline struct {
	Path        *predict.Path
	OutputTopic string
	DLQTopic    string

	modelRef []byte // name@version, the streamscore-model header
	log      *slog.Logger
	labels   map[string]prometheus.Counter
	missing  []prometheus.Counter // per bundle input
	m        *Metrics
	drift    *driftMonitor // nil: no drift statistics or monitoring off
}

func (p *Pipeline) init(m *Metrics, log *slog.Logger) {
	p.m = m
	p.log = log
	b := p.Path.Bundle()
	p.modelRef = []byte(p.Path.ModelRef())
	p.labels = make(map[string]prometheus.Counter)
	for _, l := range b.Labels() {
		p.labels[l] = m.PredictionLabels.WithLabelValues(l)
	}
	for _, in := range b.Layout().Inputs {
		p.missing = append(p.missing, m.InputMissing.WithLabelValues(in.Name))
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

// worker runs micro-batches of records through the prediction path and
// turns the results into output records. It owns scratch buffers, so one
// goroutine uses one worker.
type worker struct {
	p       *Pipeline
	batch   *predict.Batch
	events  []predict.Event
	results []predict.Result
	// Per-batch slabs for the output records and their headers: a few
	// allocations per batch instead of two per record. A slab lives until
	// every record carved from it was acknowledged.
	recSlab []kgo.Record
	hdrSlab []kgo.RecordHeader

	seenOOR, seenUnknown, seenMissing []uint64 // counters already exported
	seenDrift                         *drift.Counts
}

func newWorker(p *Pipeline) (*worker, error) {
	b, err := p.Path.NewBatch()
	if err != nil {
		return nil, err
	}
	return &worker{p: p, batch: b}, nil
}

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
	n := len(recs)
	if cap(w.events) < n {
		w.events = make([]predict.Event, n)
		w.results = make([]predict.Result, n)
	}
	events, results := w.events[:n], w.results[:n]
	for i, r := range recs {
		events[i] = predict.Event{Value: r.Value, Key: r.Key, Time: r.Timestamp}
	}
	now := time.Now()
	wait := w.waiter(recs, abort)
	if err := w.batch.Run(events, results, now, wait); err != nil {
		return false // abandoned: never emitted, so never committed
	}
	t := w.batch.Timings()
	m.StageDuration.WithLabelValues(string(reject.StageDecode)).Observe(t.Decode.Seconds())
	m.StageDuration.WithLabelValues(string(reject.StageFeatures)).Observe(t.Features.Seconds())
	m.StageDuration.WithLabelValues(string(reject.StageEncode)).Observe(t.Encode.Seconds())
	w.exportCounts()

	// Fresh slabs: the previous batch's records may still wait for their acks.
	w.recSlab = make([]kgo.Record, n)
	w.hdrSlab = make([]kgo.RecordHeader, 0, n+n/4+1)
	for i, r := range recs {
		emit(w.output(r, &results[i], i, now))
		events[i] = predict.Event{} // do not keep record values alive
	}
	return true
}

// waiter returns the retry policy for transient decode failures (the schema
// registry unreachable): back off 100 ms doubling to 5 s, holding up only
// this partition, until abort closes (partition released or shutdown).
func (w *worker) waiter(recs []*kgo.Record, abort <-chan struct{}) func(int, error) bool {
	backoff := 100 * time.Millisecond
	return func(i int, err error) bool {
		r := recs[i]
		w.p.log.Warn("transient decode failure; retrying", "topic", r.Topic, "partition", r.Partition,
			"offset", r.Offset, "retry_in", backoff, "err", err)
		select {
		case <-abort:
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
		return true
	}
}

// output turns the result for src into the record to produce.
func (w *worker) output(src *kgo.Record, res *predict.Result, i int, now time.Time) output {
	if res.Reject != "" {
		return output{src: src, dlq: true, reason: res.Reject, stage: res.Stage,
			rec: dlqRecord(w.p.DLQTopic, string(w.p.modelRef), src, res.Stage, res.Reject, res.Err, now)}
	}
	w.p.m.PredictionScore.Observe(res.Score)
	if c := w.p.labels[res.Label]; c != nil {
		c.Inc()
	}
	rec := &w.recSlab[i]
	*rec = kgo.Record{Topic: w.p.OutputTopic, Key: src.Key, Value: res.Value, Timestamp: src.Timestamp}
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

// exportCounts turns the batch's cumulative per-feature and per-input
// counts into counter increments, once per batch.
func (w *worker) exportCounts() {
	m := w.p.m
	c := w.batch.Counts()
	names := c.Names
	if w.seenOOR == nil {
		w.seenOOR = make([]uint64, len(names))
		w.seenUnknown = make([]uint64, len(names))
		w.seenMissing = make([]uint64, len(w.p.missing))
	}
	for i, name := range names {
		if d := c.OutOfRange[i] - w.seenOOR[i]; d > 0 {
			m.FeatureOutOfRange.WithLabelValues(name).Add(float64(d))
			w.seenOOR[i] = c.OutOfRange[i]
		}
		if d := c.Unknown[i] - w.seenUnknown[i]; d > 0 {
			m.FeatureUnknown.WithLabelValues(name).Add(float64(d))
			w.seenUnknown[i] = c.Unknown[i]
		}
	}
	for k, v := range w.batch.Inputs().Missing {
		if d := v - w.seenMissing[k]; d > 0 {
			w.p.missing[k].Add(float64(d))
			w.seenMissing[k] = v
		}
	}
	w.p.drift.add(time.Now(), w.batch.Drift(), &w.seenDrift)
}
