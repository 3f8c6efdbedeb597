package httpapi

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
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
