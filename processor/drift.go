package processor

import (
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamscore/streamscore/drift"
)

// driftMonitor is the stream's drift window for one bundle: every worker
// adds its batch's new bin counts (add), and the lag loop recomputes the PSI
// gauges from the window every processor.lag_refresh (refresh), never per
// record.
type driftMonitor struct {
	h   *drift.Histograms
	win *drift.Window

	mu      sync.Mutex // guards sum and psi (refresh)
	sum     *drift.Counts
	psi     []float64
	feature []prometheus.Gauge // per input with a histogram
	score   prometheus.Gauge
	events  prometheus.Gauge
	scores  prometheus.Gauge
}

// newDriftMonitor returns the monitor of h, or nil when h is nil (no drift
// statistics) or monitoring is off (window 0). It first removes every drift
// series, so a monitor made for a new bundle (a reload) leaves none of the
// old one's behind. Its gauges start at NaN: no data, no verdict.
func newDriftMonitor(h *drift.Histograms, window time.Duration, m *Metrics) *driftMonitor {
	for _, v := range []*prometheus.GaugeVec{m.FeaturePSI, m.ScorePSI, m.DriftEvents, m.DriftScores} {
		v.Reset()
	}
	if h == nil || window <= 0 {
		return nil
	}
	d := &driftMonitor{h: h, win: drift.NewWindow(h, window), sum: h.NewCounts(), psi: make([]float64, len(h.Features())),
		score: m.ScorePSI.WithLabelValues(), events: m.DriftEvents.WithLabelValues(), scores: m.DriftScores.WithLabelValues()}
	for _, f := range h.Features() {
		d.feature = append(d.feature, m.FeaturePSI.WithLabelValues(f))
	}
	d.setAll(math.NaN())
	return d
}

func (d *driftMonitor) setAll(v float64) {
	for _, g := range d.feature {
		g.Set(v)
	}
	d.score.Set(v)
}

// add moves what cur (a worker's cumulative batch counts) counted since
// *seen into the window; *seen is the worker's, made on first use and again
// for a monitor of another bundle. Counts of another bundle than the
// monitor's (a worker still on the previous model) are not added. A nil
// monitor does nothing.
func (d *driftMonitor) add(now time.Time, cur *drift.Counts, seen **drift.Counts) {
	if d == nil || cur == nil {
		return
	}
	if *seen == nil || !(*seen).Of(d.h) {
		*seen = d.h.NewCounts()
	}
	d.win.Add(now, cur, *seen)
}

// refresh recomputes the gauges from the window as of now. A nil monitor
// does nothing.
func (d *driftMonitor) refresh(now time.Time) {
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
