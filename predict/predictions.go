package predict

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamscore/streamscore/internal/metric"
)

// Predictions is the per-model prediction metrics every door exports: the
// distribution of the scores and the decided labels, by door and by the
// model version that scored them. Like Quality, every door of a process
// gets the same families from the process's registry, so the stream and the
// HTTP door of one `run` count into one family each, told apart by door.
type Predictions struct {
	score  *prometheus.HistogramVec // door, model, version
	labels *prometheus.CounterVec   // door, model, version, label
}

// NewPredictions returns the metrics registered on reg (nil: not
// registered), or those another door of the process registered there.
func NewPredictions(reg prometheus.Registerer) *Predictions {
	f := metric.New(nil)
	p := &Predictions{
		score: f.Histograms("prediction_score",
			"Distribution of prediction scores, per door and the model version that scored them (a version's series are deleted at the door's next swap after the one that took it out).",
			prometheus.LinearBuckets(0.1, 0.1, 9), "door", "model", "version"),
		labels: f.Counters("predictions_by_label_total",
			"Predictions per decided label, per door and the model version that scored them (a version's series are deleted at the door's next swap after the one that took it out).", "door", "model", "version", "label"),
	}
	if reg != nil {
		p.score = register(reg, p.score)
		p.labels = register(reg, p.labels)
	}
	return p
}

// modelVersion is a model version with prediction series.
type modelVersion struct{ model, version string }

func versionOf(path *Path) modelVersion {
	b := path.Bundle()
	return modelVersion{b.Name, b.Version}
}

// DoorPredictions is one door's series of Predictions. It makes the series
// of each model version the door scores with (Model) and deletes those of
// versions that left the door's lineup (Lineup), so a door's series stay
// bounded by two lineups however often models are swapped. Make one per
// door and process: two for one door would delete each other's series.
// Safe for concurrent use.
type DoorPredictions struct {
	p    *Predictions
	door string

	mu       sync.Mutex
	cur, old map[modelVersion]bool // the versions of the last lineup and of the one before
	series   map[modelVersion]bool // every version with series under door
}

// ForDoor returns door's series of p.
func (p *Predictions) ForDoor(door Door) *DoorPredictions {
	return &DoorPredictions{p: p, door: string(door), series: map[modelVersion]bool{}}
}

// ModelPredictions counts the predictions of one model version through
// one door. Safe for concurrent use.
type ModelPredictions struct {
	score  prometheus.Observer
	labels map[string]prometheus.Counter // every label of the bundle's policy
}

// Model returns the counters of path's model version, making its series
// (each label of its policy at zero, so rates and ratios see them).
func (d *DoorPredictions) Model(path *Path) *ModelPredictions {
	b := path.Bundle()
	mp := &ModelPredictions{
		score:  d.p.score.WithLabelValues(d.door, b.Name, b.Version),
		labels: make(map[string]prometheus.Counter),
	}
	for _, l := range b.Labels() {
		mp.labels[l] = d.p.labels.WithLabelValues(d.door, b.Name, b.Version, l)
	}
	d.mu.Lock()
	d.series[versionOf(path)] = true
	d.mu.Unlock()
	return mp
}

// Lineup records the door's models now (nil entries are skipped) and
// deletes the series of every version in neither them nor the lineup of
// the call before: a version that left is deleted at the swap after the
// one that retired it, so its last increments are still scraped. Call it
// after Model for each of them, at every swap.
func (d *DoorPredictions) Lineup(paths ...*Path) {
	cur := map[modelVersion]bool{}
	for _, p := range paths {
		if p != nil {
			cur[versionOf(p)] = true
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.old, d.cur = d.cur, cur
	for v := range d.series {
		if d.cur[v] || d.old[v] {
			continue
		}
		match := prometheus.Labels{"door": d.door, "model": v.model, "version": v.version}
		d.p.labels.DeletePartialMatch(match)
		d.p.score.DeletePartialMatch(match)
		delete(d.series, v)
	}
}

// Add counts res when it is a prediction (a rejected event is not one).
func (mp *ModelPredictions) Add(res *Result) {
	if res.Reject != "" {
		return
	}
	mp.Count(res.Score, res.Label)
}

// Count counts one prediction; a nil mp (the shadow's) counts nothing.
func (mp *ModelPredictions) Count(score float64, label string) {
	if mp == nil {
		return
	}
	mp.score.Observe(score)
	if c := mp.labels[label]; c != nil {
		c.Inc()
	}
}

// AddAll counts every prediction among results.
func (mp *ModelPredictions) AddAll(results []Result) {
	for i := range results {
		mp.Add(&results[i])
	}
}
