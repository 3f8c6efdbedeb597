package predict

import (
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamscore/streamscore/drift"
)

// DriftMonitor is one door's drift window for one bundle: every Batch of
// the door adds its new bin counts (Add), and a loop of the door recomputes
// the PSI gauges from the window (Refresh), never per record. Add and
// Refresh are safe for concurrent use; a nil monitor does nothing.
type DriftMonitor struct {
	h   *drift.Histograms
	win *drift.Window

	mu      sync.Mutex // guards sum and psi (Refresh)
	sum     *drift.Counts
	psi     []float64
	feature []prometheus.Gauge // per input with a histogram
	score   prometheus.Gauge
	events  prometheus.Gauge
	scores  prometheus.Gauge
}

// NewDriftMonitor returns door's monitor of h, or nil when h is nil (no
// drift statistics) or monitoring is off (window 0). It first removes the
// door's drift series, so a monitor made for a new bundle (a reload) leaves
// none of the old one's behind, and the other door's stay. Its gauges start
// at NaN: no data, no verdict.
func (q *Quality) NewDriftMonitor(door Door, h *drift.Histograms, window time.Duration) *DriftMonitor {
	only := prometheus.Labels{"door": string(door)}
	for _, v := range []*prometheus.GaugeVec{q.featurePSI, q.scorePSI, q.windowEvents, q.windowScores} {
		v.DeletePartialMatch(only)
	}
	if h == nil || window <= 0 {
		return nil
	}
	d := &DriftMonitor{h: h, win: drift.NewWindow(h, window), sum: h.NewCounts(), psi: make([]float64, len(h.Features())),
		score: q.scorePSI.WithLabelValues(string(door)), events: q.windowEvents.WithLabelValues(string(door)),
		scores: q.windowScores.WithLabelValues(string(door))}
	for _, f := range h.Features() {
		d.feature = append(d.feature, q.featurePSI.WithLabelValues(string(door), f))
	}
	d.setAll(math.NaN())
	return d
}

func (d *DriftMonitor) setAll(v float64) {
	for _, g := range d.feature {
		g.Set(v)
	}
	d.score.Set(v)
}

// Add moves what cur (a Batch's cumulative counts, Batch.Drift) counted
// since *seen into the window; *seen belongs to the Batch's goroutine, made
// on first use and again for a monitor of another bundle. Counts of another
// bundle than the monitor's (a Batch still on the previous model) are not
// added.
func (d *DriftMonitor) Add(now time.Time, cur *drift.Counts, seen **drift.Counts) {
	if d == nil || cur == nil {
		return
	}
	if *seen == nil || !(*seen).Of(d.h) {
		*seen = d.h.NewCounts()
	}
	d.win.Add(now, cur, *seen)
}

// Skip forgets what cur counted since *seen, as Add would have added it:
// those events are scored again (an aborted transaction) and count then.
func (d *DriftMonitor) Skip(cur *drift.Counts, seen **drift.Counts) {
	if d == nil || cur == nil {
		return
	}
	if *seen == nil || !(*seen).Of(d.h) {
		*seen = d.h.NewCounts()
	}
	d.win.Skip(cur, *seen)
}

// Refresh recomputes the gauges from the window as of now.
func (d *DriftMonitor) Refresh(now time.Time) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.win.Sum(now, d.sum)
	score := d.h.PSI(d.sum, d.psi)
	for i, g := range d.feature {
		g.Set(d.psi[i])
	}
	d.score.Set(score)
	d.events.Set(float64(d.sum.Rows))
	d.scores.Set(float64(d.sum.Scores))
}
