package httpapi

import (
	"fmt"
	"sync"
	"time"

	"github.com/streamscore/streamscore/drift"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/scoring"
)

// model is one loaded path with what the door derives from it once: a pool
// of Batches (a Batch belongs to one goroutine, so each request takes one),
// its prediction counters, the OpenAPI document and the OIP metadata.
type model struct {
	path    *predict.Path
	bundle  *scoring.Bundle
	quality *predict.Quality
	preds   *predict.ModelPredictions // the door's series of this version
	drift   *predict.DriftMonitor     // nil: no drift statistics or monitoring off
	pool    sync.Pool                 // *work
	openapi []byte
	oip     *oipModel
}

// work is one request's scratch: a Batch, the export of its data-quality
// counts and the buffers around them.
type work struct {
	batch     *predict.Batch
	quality   *predict.QualityExport
	drift     *predict.DriftMonitor
	seenDrift *drift.Counts // the batch's drift counts already in the window
	events    []predict.Event
	results   []predict.Result
	body      []byte
	out       []byte
}

func newModel(path *predict.Path, cfg Config, q *predict.Quality, preds *predict.DoorPredictions, driftWindow time.Duration) (*model, error) {
	md := &model{path: path, bundle: path.Bundle(), quality: q,
		drift: q.NewDriftMonitor(predict.DoorHTTP, path.Drift(), driftWindow)}
	w, err := md.newWork()
	if err != nil {
		return nil, fmt.Errorf("http door: %w", err)
	}
	md.pool.Put(w)
	if md.openapi, err = OpenAPI(path.Bundle(), cfg); err != nil {
		return nil, err
	}
	md.oip = newOIPModel(path)
	md.preds = preds.Model(path) // made last: a model that fails leaves no series
	return md, nil
}

func (md *model) newWork() (*work, error) {
	b, err := md.path.NewBatch()
	if err != nil {
		return nil, fmt.Errorf("new batch: %w", err)
	}
	return &work{batch: b, quality: md.quality.Export(predict.DoorHTTP, b), drift: md.drift}, nil
}

// get takes a work from the pool, or makes one.
func (md *model) get() (*work, error) {
	if w, ok := md.pool.Get().(*work); ok {
		return w, nil
	}
	return md.newWork()
}

// put returns w to the pool. Results of its last score are invalid after.
func (md *model) put(w *work) {
	clear(w.events) // do not keep request bodies alive
	if cap(w.body) > maxPooledBuffer {
		w.body = nil // a rare large request does not pin its buffer
	}
	if cap(w.out) > maxPooledBuffer {
		w.out = nil
	}
	if cap(w.events) > maxPooledEvents {
		w.events, w.results = nil, nil // nor its per-event slices (a 4 MiB array of {} holds 1.4 M)
	}
	md.pool.Put(w)
}

// maxPooledBuffer is the largest body or answer buffer a pooled work keeps,
// maxPooledEvents the most events its slices keep room for.
const (
	maxPooledBuffer = 256 << 10
	maxPooledEvents = 8 * chunkEvents
)

// prepare sizes w.events for n events and returns them.
func (w *work) prepare(n int) []predict.Event {
	if cap(w.events) < n {
		w.events = make([]predict.Event, n)
		w.results = make([]predict.Result, n)
	}
	w.events = w.events[:n]
	w.results = w.results[:n]
	return w.events
}

// score runs the prepared events through the path in chunks, so one large
// array does not grow a pooled Batch without bound, and adds their
// data-quality counts to the door's metrics and their drift counts to the
// model's window. The results live until the next score or put.
func (w *work) score(now time.Time) ([]predict.Result, error) {
	for i := 0; i < len(w.events); i += chunkEvents {
		j := min(i+chunkEvents, len(w.events))
		if err := w.batch.Run(w.events[i:j], w.results[i:j], now, nil); err != nil {
			return nil, err
		}
	}
	w.quality.Add()
	w.drift.Add(now, w.batch.Drift(), &w.seenDrift)
	return w.results, nil
}
