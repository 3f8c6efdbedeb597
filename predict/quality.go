package predict

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamscore/streamscore/internal/metric"
)

// Door is where events enter the path; it labels the data-quality metrics
// and the streamscore-door header of the HTTP door's logged records.
type Door string

// The doors that export metrics (`streamscore score` prints its counts).
const (
	DoorStream Door = "stream" // run: the input topic
	DoorHTTP   Door = "http"   // serve, or run with http.predict
)

// Quality is the data-quality metrics every door exports from its Batches,
// by door: bundle inputs absent or null per event (a renamed upstream
// field), values outside the training range and categories never seen in
// training per feature (QualityExport), and the drift PSI of the inputs
// and the score over a sliding window (DriftMonitor).
type Quality struct {
	missing, outOfRange, unknown *prometheus.CounterVec
	// drift (drift.go)
	featurePSI, scorePSI, windowEvents, windowScores *prometheus.GaugeVec
}

// NewQuality returns the metrics registered on reg (nil: not registered).
// Every door of a process calls it with the process's registry and gets the
// same metrics, so the stream and the HTTP door of one `run` count into
// one family each, told apart by the door label.
func NewQuality(reg prometheus.Registerer) *Quality {
	f := metric.New(nil)
	q := &Quality{
		missing: f.Counters("input_missing_total",
			"Decoded events in which a bundle input was absent or null, per door and input (a renamed upstream field shows here).", "door", "input"),
		outOfRange: f.Counters("feature_out_of_range_total",
			"Values outside the training range, per door and feature.", "door", "feature"),
		unknown: f.Counters("feature_unknown_category_total",
			"Categories never seen in training, per door and feature.", "door", "feature"),
		featurePSI: f.Gauges("feature_psi",
			"Population stability index of a bundle input over the drift window against its training histogram (docs/operations.md#drift), per door; NaN while the window is empty.", "door", "feature"),
		scorePSI: f.Gauges("score_psi",
			"Population stability index of the model score over the drift window against its training distribution, per door; NaN while the window holds no score.", "door"),
		windowEvents: f.Gauges("drift_window_events",
			"Decoded events in the drift window, per door (the sample behind streamscore_feature_psi).", "door"),
		windowScores: f.Gauges("drift_window_scores",
			"Model scores in the drift window, per door (the sample behind streamscore_score_psi).", "door"),
	}
	if reg != nil {
		q.missing = register(reg, q.missing)
		q.outOfRange = register(reg, q.outOfRange)
		q.unknown = register(reg, q.unknown)
		q.featurePSI = register(reg, q.featurePSI)
		q.scorePSI = register(reg, q.scorePSI)
		q.windowEvents = register(reg, q.windowEvents)
		q.windowScores = register(reg, q.windowScores)
	}
	return q
}

// register registers c on reg, or returns the collector another door of the
// process registered there under the same name and labels.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	switch {
	case err == nil:
		return c
	case errors.As(err, &are):
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err) // two different metrics of one name: a bug
}

// QualityExport adds one Batch's counts to Quality under one door. Like the
// Batch, it belongs to one goroutine.
type QualityExport struct {
	q       *Quality
	door    string
	b       *Batch
	missing []prometheus.Counter // per bundle input
	// per feature, made when first counted (most features never are)
	outOfRange, unknown []prometheus.Counter
	// the Batch's cumulative counts already added
	seenMissing, seenOutOfRange, seenUnknown []uint64
}

// Export returns the export of b's counts under door.
func (q *Quality) Export(door Door, b *Batch) *QualityExport {
	e := &QualityExport{q: q, door: string(door), b: b}
	for _, in := range b.layout.Inputs {
		e.missing = append(e.missing, q.missing.WithLabelValues(e.door, in.Name))
	}
	e.seenMissing = make([]uint64, len(e.missing))
	n := len(b.Counts().Names)
	e.outOfRange, e.unknown = make([]prometheus.Counter, n), make([]prometheus.Counter, n)
	e.seenOutOfRange, e.seenUnknown = make([]uint64, n), make([]uint64, n)
	return e
}

// Add adds what the Batch counted since the last Add; call it after Run.
func (e *QualityExport) Add() {
	for k, v := range e.b.inputs.Missing {
		if d := v - e.seenMissing[k]; d > 0 {
			e.missing[k].Add(float64(d))
			e.seenMissing[k] = v
		}
	}
	c := e.b.Counts()
	for i, name := range c.Names {
		addNew(e.q.outOfRange, &e.outOfRange[i], e.door, name, c.OutOfRange[i], &e.seenOutOfRange[i])
		addNew(e.q.unknown, &e.unknown[i], e.door, name, c.Unknown[i], &e.seenUnknown[i])
	}
}

// Skip forgets what the Batch counted since the last Add or Skip: those
// events were scored again (an aborted transaction) and count then.
func (e *QualityExport) Skip() {
	copy(e.seenMissing, e.b.inputs.Missing)
	c := e.b.Counts()
	copy(e.seenOutOfRange, c.OutOfRange)
	copy(e.seenUnknown, c.Unknown)
}

// addNew adds total - *seen to the counter (making it on first use).
func addNew(vec *prometheus.CounterVec, c *prometheus.Counter, door, feature string, total uint64, seen *uint64) {
	if total <= *seen {
		return
	}
	if *c == nil {
		*c = vec.WithLabelValues(door, feature)
	}
	(*c).Add(float64(total - *seen))
	*seen = total
}
