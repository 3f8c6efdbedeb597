package metric_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/streamscore/streamscore/internal/metric"
)

// TestNamesAndRegistration: every kind is registered on the factory's
// registry under streamscore_[subsystem_]name; a nil registry registers
// nothing and does not fail.
func TestNamesAndRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := metric.New(reg)
	s := f.Sub("sink")
	f.Counter("a_total", "a").Inc()
	f.Counters("b_total", "b", "l").WithLabelValues("x").Inc()
	s.Gauge("c", "c").Set(1)
	s.Gauges("d", "d", "l").WithLabelValues("x").Set(1)
	f.Histogram("e_seconds", "e", []float64{1}).Observe(1)
	s.Histograms("f_seconds", "f", []float64{1}, "l").WithLabelValues("x").Observe(1)
	want := []string{"streamscore_a_total", "streamscore_b_total", "streamscore_sink_c", "streamscore_sink_d",
		"streamscore_e_seconds", "streamscore_sink_f_seconds"}
	for _, name := range want {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 1 {
			t.Errorf("%s: %d series (err %v), want 1", name, n, err)
		}
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != len(want) {
		t.Errorf("%d series in all (err %v), want %d", n, err, len(want))
	}
	metric.New(nil).Counter("a_total", "a").Inc() // made, not registered: no duplicate error
}
