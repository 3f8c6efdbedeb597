package processor

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/drift"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/reject"
)

// Pipeline is what every worker shares: the lineup of models it scores with
// and the output naming. The lineup is swapped whole (Swap) behind an atomic
// pointer; a worker takes it at the start of a micro-batch (at-least-once)
// or of a transaction (exactly-once), so a batch is always scored by one
// lineup, and a swap lands between two batches of every worker. Safe for
// concurrent use.
type Pipeline struct {
	// Path is the live model the processor starts with; Swap replaces it.
	Path *predict.Path
	// ShadowTopic receives a shadow model's predictions. Empty: no shadow
	// can be swapped in. New checks (or creates) it like the other topics.
	ShadowTopic string
	OutputTopic string
	DLQTopic    string

	cur         atomic.Pointer[lineup]
	mu          sync.Mutex               // serialises Swap and its metric bookkeeping
	preds       *predict.DoorPredictions // the stream's per-version prediction series
	log         *slog.Logger
	m           *Metrics
	shadow      *shadowSink   // nil without ShadowTopic
	driftWindow time.Duration // monitor.drift_window (0: off)
	dlqMax      int32         // the DLQ topic's batch limit (fitDLQ); 0: unknown
}

// Models is a lineup: the live model, optionally a canary that scores a
// share of the record keys in its place (into the same output, each
// prediction naming its version), and a shadow that scores every event
// beside them into the shadow topic only.
type Models struct {
	Live   *predict.Path
	Canary *predict.Path // nil: none
	// CanaryPercent is the share of record keys (0-100) the canary scores:
	// a key whose FNV-1a hash mod 10000 is below CanaryPercent*100, so a key
	// stays on one model. Records without a key are scored by Live.
	CanaryPercent int
	Shadow        *predict.Path // nil: none
}

// lineup is a Models with what the workers derive from each model once.
type lineup struct {
	models               Models
	live, canary, shadow *model
	canaryBelow          uint32 // keys with canaryBucket(key) < canaryBelow go to the canary
	// drift is the live model's drift window (nil: its bundle has no drift
	// statistics, or monitoring is off). Only the live model's events count:
	// the window compares the stream with the live model's training data.
	drift *predict.DriftMonitor
}

// model is one path of a lineup with its metric handles.
type model struct {
	path  *predict.Path
	role  predict.Role
	ref   []byte                    // name@version, the streamscore-model header
	preds *predict.ModelPredictions // nil for the shadow
}

func (p *Pipeline) init(m *Metrics, log *slog.Logger, driftWindow time.Duration) error {
	p.m, p.log, p.driftWindow = m, log, driftWindow
	p.preds = m.Predictions.ForDoor(predict.DoorStream)
	return p.Swap(Models{Live: p.Path})
}

// current is the lineup to score the next batch (or transaction) with.
func (p *Pipeline) current() *lineup { return p.cur.Load() }

// refreshDrift recomputes the live model's drift gauges as of now.
func (p *Pipeline) refreshDrift(now time.Time) {
	if lu := p.current(); lu != nil {
		lu.drift.Refresh(now)
	}
}

// Models returns the lineup scoring now.
func (p *Pipeline) Models() Models {
	if lu := p.current(); lu != nil {
		return lu.models
	}
	return Models{Live: p.Path}
}

// Swap makes m the lineup every worker scores its next batch (or
// transaction) with; batches already running finish on the lineup they
// started with. Call it after New (which makes Path the first lineup). A
// model that is in the current lineup (the same *predict.Path in the same
// role) keeps its workers' state (model_info follows the lineup from the
// reloader, internal/reload); the per-version prediction series of a version that
// left the lineup are deleted at the swap after the one that retired it, so
// its last increments are still scraped.
func (p *Pipeline) Swap(m Models) error {
	if p.m == nil {
		return errors.New("pipeline: Swap before processor.New")
	}
	if m.Live == nil {
		return errors.New("pipeline: no live model")
	}
	if m.CanaryPercent < 0 || m.CanaryPercent > 100 {
		return fmt.Errorf("pipeline: canary percent %d: want 0 to 100", m.CanaryPercent)
	}
	if m.Shadow != nil && p.ShadowTopic == "" {
		return errors.New("pipeline: a shadow model needs a shadow topic (model.shadow_topic, set at start)")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.cur.Load()
	lu := &lineup{models: m, canaryBelow: uint32(m.CanaryPercent) * 100}
	lu.live = p.model(old, m.Live, predict.RoleLive)
	if old != nil && old.live == lu.live {
		lu.drift = old.drift
	} else {
		lu.drift = p.m.Quality.NewDriftMonitor(predict.DoorStream, m.Live.Drift(), p.driftWindow)
	}
	if m.Canary != nil {
		lu.canary = p.model(old, m.Canary, predict.RoleCanary)
	}
	if m.Shadow != nil {
		lu.shadow = p.model(old, m.Shadow, predict.RoleShadow)
	}
	p.cur.Store(lu)
	// The series of versions in neither this lineup nor the one before go:
	// cardinality stays bounded by two lineups.
	p.preds.Lineup(m.Live, m.Canary, m.Shadow)
	return nil
}

// model returns the lineup entry of path in role: the current lineup's when
// it is the same path, so workers keep their batches for it.
func (p *Pipeline) model(old *lineup, path *predict.Path, role predict.Role) *model {
	if old != nil {
		for _, md := range []*model{old.live, old.canary, old.shadow} {
			if md != nil && md.path == path && md.role == role {
				return md
			}
		}
	}
	md := &model{path: path, role: role, ref: []byte(path.ModelRef())}
	if role != predict.RoleShadow { // the shadow's predictions count in the shadow metrics only
		md.preds = p.preds.Model(path)
	}
	return md
}

// canaryBucket is a record key's place in 0..9999: FNV-1a (32 bit) of the
// key mod 10000. Stable across instances and restarts, so a key is scored by
// the same model for as long as the canary percent stays.
func canaryBucket(key []byte) uint32 {
	h := fnv.New32a()
	h.Write(key)
	return h.Sum32() % 10000
}

// toCanary reports whether the record with key goes to the canary.
func (lu *lineup) toCanary(key []byte) bool {
	return lu.canary != nil && len(key) > 0 && canaryBucket(key) < lu.canaryBelow
}

// output is one record to produce for one input record.
type output struct {
	rec    *kgo.Record
	src    *kgo.Record
	dlq    bool
	reason reject.Reason
	stage  reject.Stage
	// Exactly-once: a prediction's score and label, counted in preds once
	// its transaction committed, so an aborted transaction's predictions,
	// scored again, count once (at-least-once counts them when scored, and
	// leaves preds nil: it never scores a record twice in one run).
	preds *predict.ModelPredictions
	score float64
	label string
}

// worker runs micro-batches of records through the lineup's models and
// turns the results into output records. It owns scratch buffers and one
// predict.Batch per model, so one goroutine uses one worker.
type worker struct {
	p                    *Pipeline
	lu                   *lineup // the lineup the slots are for
	live, canary, shadow *slot
	events               []predict.Event
	results              []predict.Result
	by                   []*slot // with a canary: by[i] scored input i
	// Per-batch slabs for the output records and their headers: a few
	// allocations per batch instead of two per record. A slab lives until
	// every record carved from it was acknowledged.
	recSlab []kgo.Record
	hdrSlab []kgo.RecordHeader
	// deferCounts leaves the quality and drift counts of its batches to
	// addCounts or dropCounts, and the predictions to the outputs' acks:
	// exactly-once adds them when the transaction commits and drops them
	// when it aborts (its records are scored again).
	deferCounts bool
}

// slot is one model of the worker's lineup: its batch, the scratch of a
// canary split, and the counts already exported.
type slot struct {
	md      *model
	batch   *predict.Batch
	idx     []int // with a canary: the inputs this slot scores
	events  []predict.Event
	results []predict.Result

	quality   *predict.QualityExport // nil for the shadow (its outcomes count in the shadow metrics only)
	seenDrift *drift.Counts
}

func newWorker(p *Pipeline) (*worker, error) {
	w := &worker{p: p}
	if err := w.use(p.current()); err != nil {
		return nil, err
	}
	return w, nil
}

// use makes the worker score with lu from its next batch on. A model the
// worker already has keeps its batch. A shadow that cannot make a batch is
// left out (logged): the shadow never stops the output.
func (w *worker) use(lu *lineup) error {
	if lu == w.lu {
		return nil
	}
	var err error
	if w.live, err = w.slotFor(w.live, lu.live); err != nil {
		return fmt.Errorf("live model %s: %w", lu.live.ref, err)
	}
	if w.canary, err = w.slotFor(w.canary, lu.canary); err != nil {
		return fmt.Errorf("canary model %s: %w", lu.canary.ref, err)
	}
	if w.shadow, err = w.slotFor(w.shadow, lu.shadow); err != nil {
		w.p.log.Warn("shadow model left out of a worker: cannot make its decoder", "shadow", string(lu.shadow.ref), "err", err)
		w.shadow = nil
	}
	w.lu = lu
	return nil
}

func (w *worker) slotFor(have *slot, md *model) (*slot, error) {
	if md == nil {
		return nil, nil
	}
	if have != nil && have.md == md {
		return have, nil
	}
	b, err := md.path.NewBatch()
	if err != nil {
		return nil, err
	}
	s := &slot{md: md, batch: b}
	if md.role != predict.RoleShadow {
		s.quality = w.p.m.Quality.Export(predict.DoorStream, b)
	}
	return s, nil
}

// process runs one micro-batch and calls emit once per input record, in
// input order, with its prediction or its DLQ copy. It returns false if
// abort closed while a record could not be decoded for a transient reason;
// then nothing was emitted and the batch must not be committed. With a
// shadow, every record is also scored by it and its predictions produced to
// the shadow topic, outside the output's delivery.
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
		w.by = make([]*slot, n)
	}
	events, results := w.events[:n], w.results[:n]
	for i, r := range recs {
		events[i] = predict.Event{Value: r.Value, Key: r.Key, Time: r.Timestamp}
	}
	now := time.Now()
	t, ok := w.score(events, results, now, w.waiter(recs, abort))
	if !ok {
		return false // abandoned: never emitted, so never committed
	}
	m.StageDuration.WithLabelValues(string(reject.StageDecode)).Observe(t.Decode.Seconds())
	m.StageDuration.WithLabelValues(string(reject.StageFeatures)).Observe(t.Features.Seconds())
	m.StageDuration.WithLabelValues(string(reject.StageEncode)).Observe(t.Encode.Seconds())
	if !w.deferCounts {
		w.addCounts(now)
	}

	// Fresh slabs: the previous batch's records may still wait for their acks.
	w.recSlab = make([]kgo.Record, n)
	w.hdrSlab = make([]kgo.RecordHeader, 0, n+n/4+1)
	for i, r := range recs {
		emit(w.output(r, &results[i], w.modelOf(i), i, now))
	}
	if w.shadow != nil && w.p.shadow != nil {
		w.runShadow(recs, events, results, now)
	}
	clear(events) // do not keep record values alive
	return true
}

// addCounts exports the quality and drift counts of the batches processed
// since the last addCounts or dropCounts.
func (w *worker) addCounts(now time.Time) {
	w.live.quality.Add()
	w.lu.drift.Add(now, w.live.batch.Drift(), &w.live.seenDrift)
	if w.canary != nil {
		w.canary.quality.Add()
	}
}

// dropCounts forgets those counts: the batches' transaction was aborted.
func (w *worker) dropCounts() {
	w.live.quality.Skip()
	w.lu.drift.Skip(w.live.batch.Drift(), &w.live.seenDrift)
	if w.canary != nil {
		w.canary.quality.Skip()
	}
}

// score runs events through the live model, or splits them by key between
// the live model and the canary. It returns the stage durations summed over
// the models, and false when a transient decode failure was abandoned.
func (w *worker) score(events []predict.Event, results []predict.Result, now time.Time, wait func(int, error) bool) (predict.Timings, bool) {
	if w.canary == nil {
		if err := w.live.batch.Run(events, results, now, wait); err != nil {
			return predict.Timings{}, false
		}
		return w.live.batch.Timings(), true
	}
	for _, s := range []*slot{w.live, w.canary} {
		s.idx, s.events = s.idx[:0], s.events[:0]
	}
	for i := range events {
		s := w.live
		if w.lu.toCanary(events[i].Key) {
			s = w.canary
		}
		s.idx = append(s.idx, i)
		s.events = append(s.events, events[i])
		w.by[i] = s
	}
	var sum predict.Timings
	for _, s := range []*slot{w.live, w.canary} {
		if len(s.idx) == 0 {
			continue
		}
		if cap(s.results) < len(s.idx) {
			s.results = make([]predict.Result, len(s.idx))
		}
		res := s.results[:len(s.idx)]
		idx := s.idx
		err := s.batch.Run(s.events, res, now, func(j int, err error) bool { return wait(idx[j], err) })
		clear(s.events)
		if err != nil {
			return predict.Timings{}, false
		}
		for j, i := range idx {
			results[i] = res[j]
		}
		t := s.batch.Timings()
		sum.Decode += t.Decode
		sum.Features += t.Features
		sum.Encode += t.Encode
	}
	return sum, true
}

// modelOf is the model that scored input i of the last batch.
func (w *worker) modelOf(i int) *model {
	if w.canary == nil {
		return w.live.md
	}
	return w.by[i].md
}

// waiter returns the retry policy for transient decode failures (the schema
// registry unreachable): back off 100 ms doubling to 5 s, holding up only
// this partition, until abort closes (partition released or shutdown).
func (w *worker) waiter(recs []*kgo.Record, abort <-chan struct{}) func(int, error) bool {
	backoff := 100 * time.Millisecond
	return func(i int, err error) bool {
		r := recs[i]
		w.p.m.DecodeRetries.Inc()
		w.p.log.Warn("transient decode failure; retrying", "topic", r.Topic, "partition", r.Partition,
			"offset", r.Offset, "retry_in", backoff.String(), "err", err)
		select {
		case <-abort:
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
		return true
	}
}

// output turns the result for src, scored by md, into the record to produce.
func (w *worker) output(src *kgo.Record, res *predict.Result, md *model, i int, now time.Time) output {
	if res.Reject != "" {
		rec, omitted := fitDLQ(dlqRecord(w.p.DLQTopic, string(md.ref), src, res.Stage, res.Reject, res.Err, now), w.p.dlqMax, len(src.Headers))
		if omitted != "" {
			w.p.log.Warn("dead-lettered record too large for dlq.topic: parts left out; the original stays in the input topic until its retention",
				"topic", src.Topic, "partition", src.Partition, "offset", src.Offset, "omitted", omitted,
				"dlq_limit", w.p.dlqMax, "reason", string(res.Reject))
		}
		return output{src: src, dlq: true, reason: res.Reject, stage: res.Stage, rec: rec}
	}
	rec := &w.recSlab[i]
	*rec = kgo.Record{Topic: w.p.OutputTopic, Key: src.Key, Value: res.Value, Timestamp: src.Timestamp}
	h := len(w.hdrSlab)
	w.hdrSlab = append(w.hdrSlab, kgo.RecordHeader{Key: HeaderModel, Value: md.ref})
	for _, hd := range src.Headers {
		if copiedHeaders[hd.Key] {
			w.hdrSlab = append(w.hdrSlab, hd)
		}
	}
	rec.Headers = w.hdrSlab[h:len(w.hdrSlab):len(w.hdrSlab)]
	if w.deferCounts {
		return output{rec: rec, src: src, preds: md.preds, score: res.Score, label: res.Label}
	}
	md.preds.Add(res)
	return output{rec: rec, src: src}
}

// runShadow scores the batch's events with the shadow model and produces
// its predictions to the shadow topic: same key and timestamp, headers
// streamscore-model (the shadow's version) and streamscore-shadow-of (the
// version whose prediction went to the output). It compares each with the
// output's prediction. Transient decode failures are not retried for the
// shadow (they count as rejected), and nothing here can fail the batch.
func (w *worker) runShadow(recs []*kgo.Record, events []predict.Event, results []predict.Result, now time.Time) {
	s, m := w.shadow, w.p.m
	n := len(events)
	if cap(s.results) < n {
		s.results = make([]predict.Result, n)
	}
	sres := s.results[:n]
	if err := s.batch.Run(events, sres, now, nil); err != nil {
		return // only a wait can abandon a batch, and there is none
	}
	recSlab := make([]kgo.Record, n)
	hdrSlab := make([]kgo.RecordHeader, 0, 2*n+n/4)
	for i, src := range recs {
		sr, pr := &sres[i], &results[i]
		if sr.Reject != "" {
			m.ShadowPredictions.WithLabelValues(shadowRejected).Inc()
			continue
		}
		primary := w.modelOf(i)
		if pr.Reject == "" {
			if sr.Label != "" || pr.Label != "" {
				m.ShadowAgreement.WithLabelValues(agreeLabel(sr.Label == pr.Label)).Inc()
			}
			m.ShadowScoreDiff.Observe(math.Abs(sr.Score - pr.Score))
		}
		rec := &recSlab[i]
		*rec = kgo.Record{Topic: w.p.ShadowTopic, Key: src.Key, Value: sr.Value, Timestamp: src.Timestamp}
		h := len(hdrSlab)
		hdrSlab = append(hdrSlab, kgo.RecordHeader{Key: HeaderModel, Value: s.md.ref},
			kgo.RecordHeader{Key: HeaderShadowOf, Value: primary.ref})
		for _, hd := range src.Headers {
			if copiedHeaders[hd.Key] {
				hdrSlab = append(hdrSlab, hd)
			}
		}
		rec.Headers = hdrSlab[h:len(hdrSlab):len(hdrSlab)]
		w.p.shadow.produce(rec)
	}
}

func agreeLabel(agree bool) string {
	if agree {
		return "true"
	}
	return "false"
}
