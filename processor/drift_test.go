package processor

import (
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/drift/drifttest"
	"github.com/streamscore/streamscore/internal/metric/metrictest"
	"github.com/streamscore/streamscore/scoring"
)

// driftPipeline is a worker's pipeline for bundle b with drift monitoring
// over window (0: off), its metrics on their own registry.
func driftPipeline(t *testing.T, b *scoring.Bundle, window time.Duration) (*Pipeline, *Metrics, *prometheus.Registry) {
	t.Helper()
	return testPipeline(t, jsonPath(t, b, jsonIn, nil), window)
}

// TestDriftGauges runs golden windows (train/drift_golden.py, numpy)
// through the stream's path, two workers sharing the pipeline as partitions
// do: micro-batches, exportCounts into the window, the lag loop's refresh.
// The gauges must show numpy's PSI and the window's sizes.
func TestDriftGauges(t *testing.T) {
	g := drifttest.Load(t, "..")
	b := g.LoadBundle(t)
	for _, w := range g.Windows {
		if len(w.Rows) == 0 {
			continue // the empty window: TestDriftGaugesWithoutData
		}
		t.Run(w.Name, func(t *testing.T) {
			p, _, reg := driftPipeline(t, b, time.Hour)
			workers := make([]*worker, 2)
			for i := range workers {
				var err error
				if workers[i], err = newWorker(p); err != nil {
					t.Fatal(err)
				}
			}
			values := g.Events(t, w)
			const size = 300
			predictions := 0
			for start, k := 0, 0; start < len(values); start, k = start+size, k+1 {
				var recs []*kgo.Record
				for _, v := range values[start:min(start+size, len(values))] {
					recs = append(recs, &kgo.Record{Topic: "in", Value: v, Timestamp: time.Now()})
				}
				workers[k%2].process(recs, nil, func(o output) {
					if !o.dlq {
						predictions++
					}
				})
			}
			if predictions != len(values) {
				t.Fatalf("%d predictions for %d events", predictions, len(values))
			}
			p.refreshDrift(time.Now())
			for name, want := range w.Inputs {
				if got := driftGauge(t, reg, "streamscore_feature_psi", name); !drifttest.Near(got, want.Value()) {
					t.Errorf("streamscore_feature_psi{feature=%q} = %.17g, numpy %.17g", name, got, want.Value())
				}
			}
			if got := driftGauge(t, reg, "streamscore_score_psi", ""); !drifttest.Near(got, w.Score.Value()) {
				t.Errorf("streamscore_score_psi = %.17g, numpy %.17g", got, w.Score.Value())
			}
			for _, g := range []string{"streamscore_drift_window_events", "streamscore_drift_window_scores"} {
				if got := driftGauge(t, reg, g, ""); got != float64(len(values)) {
					t.Errorf("%s = %g, want %d", g, got, len(values))
				}
			}
		})
	}
}

// driftGauge is the stream's drift gauge name{door="stream"}, with
// feature when given.
func driftGauge(t *testing.T, reg *prometheus.Registry, name, feature string) float64 {
	t.Helper()
	labels := []string{"door", "stream"}
	if feature != "" {
		labels = append(labels, "feature", feature)
	}
	return metrictest.MustValue(t, reg, name, labels...)
}

// TestDriftGaugesWithoutData: with drift statistics but no event yet, the
// PSI gauges are NaN (no verdict) and the window sizes 0; without drift
// statistics, or with monitoring off, no drift series is exported at all.
func TestDriftGaugesWithoutData(t *testing.T) {
	fraud, err := scoring.Load("../examples/fraud")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := scoring.Load("../scoring/testdata/bundles/hand-linear") // no drift object
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"streamscore_feature_psi", "streamscore_score_psi", "streamscore_drift_window_events", "streamscore_drift_window_scores"}
	tests := []struct {
		name   string
		bundle *scoring.Bundle
		window time.Duration
		series int // drift series exported
	}{
		{"drift statistics, no data", fraud, time.Hour, len(fraud.Manifest.Drift.Inputs) + 3},
		{"monitoring off", fraud, 0, 0},
		{"no drift statistics", plain, time.Hour, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _, reg := driftPipeline(t, tt.bundle, tt.window)
			p.refreshDrift(time.Now()) // a nil monitor does nothing
			if got, err := testutil.GatherAndCount(reg, names...); err != nil || got != tt.series {
				t.Fatalf("drift series exported: %d (%v), want %d", got, err, tt.series)
			}
			if tt.series == 0 {
				return
			}
			if v := driftGauge(t, reg, "streamscore_score_psi", ""); !math.IsNaN(v) {
				t.Errorf("streamscore_score_psi = %g before any event, want NaN", v)
			}
			if v := driftGauge(t, reg, "streamscore_feature_psi", "amount"); !math.IsNaN(v) {
				t.Errorf("streamscore_feature_psi{feature=amount} = %g before any event, want NaN", v)
			}
			if v := driftGauge(t, reg, "streamscore_drift_window_events", ""); v != 0 {
				t.Errorf("streamscore_drift_window_events = %g, want 0", v)
			}
		})
	}
}

// TestDriftMonitorReplaced: swapping in another live model (what a reload
// does) replaces the drift window and removes the previous bundle's series,
// and counts of a worker still on the previous lineup are not added to the
// new window.
func TestDriftMonitorReplaced(t *testing.T) {
	g := drifttest.Load(t, "..")
	p, _, reg := driftPipeline(t, g.LoadBundle(t), time.Hour)
	old, err := newWorker(p)
	if err != nil {
		t.Fatal(err)
	}
	events := g.Events(t, g.Windows[0])[:100]
	recs := make([]*kgo.Record, len(events))
	for i, v := range events {
		recs[i] = &kgo.Record{Topic: "in", Value: v, Timestamp: time.Now()}
	}
	old.process(recs, nil, func(output) {})
	p.refreshDrift(time.Now())
	windowEvents := func() float64 { return driftGauge(t, reg, "streamscore_drift_window_events", "") }
	if got := windowEvents(); got != 100 {
		t.Fatalf("window events %g, want 100", got)
	}

	plain, err := scoring.Load("../scoring/testdata/bundles/hand-linear") // no drift object
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Swap(Models{Live: jsonPath(t, plain, jsonIn, nil)}); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "streamscore_feature_psi", "streamscore_score_psi", "streamscore_drift_window_events"); err != nil || n != 0 {
		t.Fatalf("after a bundle without drift statistics: %d drift series (%v), want 0", n, err)
	}

	next := jsonPath(t, g.LoadBundle(t), jsonIn, nil) // the same statistics, another bundle
	if err := p.Swap(Models{Live: next}); err != nil {
		t.Fatal(err)
	}
	old.process(recs, nil, func(output) {}) // still the first lineup's batch
	p.refreshDrift(time.Now())
	if got := windowEvents(); got != 0 {
		t.Errorf("window events %g after a batch of the previous bundle, want 0 (not added)", got)
	}
	fresh, err := newWorker(p)
	if err != nil {
		t.Fatal(err)
	}
	fresh.process(recs, nil, func(output) {})
	p.refreshDrift(time.Now())
	if got := windowEvents(); got != 100 {
		t.Errorf("window events %g after a batch of the new bundle, want 100", got)
	}
}
