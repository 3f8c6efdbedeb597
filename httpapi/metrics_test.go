package httpapi

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/streamscore/streamscore/drift/drifttest"
	"github.com/streamscore/streamscore/internal/metric/metrictest"
	"github.com/streamscore/streamscore/schemas"
)

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	// Touch every vector so each family is gathered.
	m.requests.WithLabelValues(RoutePredict, "200")
	m.duration.WithLabelValues(RoutePredict)
	m.events.WithLabelValues("scored")
	m.logged.WithLabelValues("output", "ok")
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 5 {
		t.Fatalf("%d families, want 5", len(fams))
	}
	problems, err := promlint.NewWithMetricFamilies(fams).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestDriftGauges runs numpy's golden windows (train/drift_golden.py)
// through /v1/predict in arrays of 300 events: after RefreshDrift the
// door's gauges (door="http") show numpy's PSI and the window's sizes, as
// the stream's do (processor.TestDriftGauges). Before any request they are
// NaN and 0; without monitor.drift_window there are none.
func TestDriftGauges(t *testing.T) {
	g := drifttest.Load(t, "..")
	b := g.LoadBundle(t)
	door := func(t *testing.T, window time.Duration) (*Server, *prometheus.Registry) {
		t.Helper()
		reg := prometheus.NewRegistry()
		s, err := New(Defaults(), jsonPath(t, b, schemas.InputConfig{Format: schemas.FormatJSON}, false), testLogger(), reg, Options{DriftWindow: window})
		if err != nil {
			t.Fatal(err)
		}
		return s, reg
	}
	gauge := func(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
		t.Helper()
		return metrictest.MustValue(t, reg, name, append([]string{"door", "http"}, labels...)...)
	}
	for _, w := range g.Windows {
		if len(w.Rows) == 0 {
			continue
		}
		t.Run(w.Name, func(t *testing.T) {
			s, reg := door(t, time.Hour)
			if v := gauge(t, reg, "streamscore_score_psi"); !math.IsNaN(v) {
				t.Errorf("score_psi %g before any request, want NaN", v)
			}
			values := g.Events(t, w)
			for start := 0; start < len(values); start += 300 {
				body := append([]byte{'['}, bytes.Join(values[start:min(start+300, len(values))], []byte{','})...)
				if rec := serve(s.Handler(), "/v1/predict", "application/json", append(body, ']')); rec.Code != http.StatusOK {
					t.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
				}
			}
			s.RefreshDrift(time.Now())
			for name, want := range w.Inputs {
				if got := gauge(t, reg, "streamscore_feature_psi", "feature", name); !drifttest.Near(got, want.Value()) {
					t.Errorf("feature_psi{feature=%q} = %.17g, numpy %.17g", name, got, want.Value())
				}
			}
			if got := gauge(t, reg, "streamscore_score_psi"); !drifttest.Near(got, w.Score.Value()) {
				t.Errorf("score_psi = %.17g, numpy %.17g", got, w.Score.Value())
			}
			for _, name := range []string{"streamscore_drift_window_events", "streamscore_drift_window_scores"} {
				if got := gauge(t, reg, name); got != float64(len(values)) {
					t.Errorf("%s = %g, want %d", name, got, len(values))
				}
			}
		})
	}
	t.Run("monitoring off", func(t *testing.T) {
		_, reg := door(t, 0)
		if _, ok := metrictest.Value(t, reg, "streamscore_score_psi"); ok {
			t.Error("score_psi exported with monitor.drift_window 0")
		}
	})
}

// TestRunDriftStops: RunDrift refreshes until its context ends, then
// returns nil (goleak in TestMain checks that nothing is left running).
func TestRunDriftStops(t *testing.T) {
	s, err := New(Defaults(), jsonPath(t, loadBundle(t, "fraud"), streamInput, false), testLogger(), nil, Options{DriftWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.RunDrift(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunDrift: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunDrift still running 10s after its context ended")
	}
}
