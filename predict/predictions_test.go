package predict

import (
	"fmt"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamscore/streamscore/internal/metric/metrictest"
)

// versionedPath is the fraud bundle's path calling itself version v.
func versionedPath(t *testing.T, v string) *Path {
	t.Helper()
	p := fraudPath(t, nil)
	b := *p.Bundle()
	b.Version = v
	return New(&b, p.newDecoder, p.enc, false)
}

// TestPredictionsPerDoor: two doors of one process count into one family
// each (NewPredictions twice on one registry), told apart by door; rejects
// are not counted; every label of a version's policy has a series from the
// start; a door's swaps delete only its own series of a version that is in
// neither its lineup nor the one before.
func TestPredictionsPerDoor(t *testing.T) {
	reg := prometheus.NewRegistry()
	stream := NewPredictions(reg).ForDoor(DoorStream)
	http := NewPredictions(reg).ForDoor(DoorHTTP)
	v1, v2, v3 := versionedPath(t, "1"), versionedPath(t, "2"), versionedPath(t, "3")

	s1 := stream.Model(v1)
	stream.Lineup(v1, nil)
	h1 := http.Model(v1)
	http.Lineup(v1)
	s1.AddAll([]Result{{Score: .9, Label: "High Risk"}, {Score: .1, Label: "Low Risk"}, {Score: .2, Label: "Low Risk"},
		{Reject: "wrong_type"}})
	h1.Add(&Result{Score: .3, Label: "Low Risk"})
	h1.Add(&Result{Reject: "missing_field"})

	for _, c := range []struct {
		door, label string
		want        float64
	}{
		{"stream", "High Risk", 1},
		{"stream", "Low Risk", 2},
		{"http", "High Risk", 0}, // made with the model, before any prediction
		{"http", "Low Risk", 1},
	} {
		got := metrictest.MustValue(t, reg, "streamscore_predictions_by_label_total", "door", c.door, "model", "fraud", "version", "1", "label", c.label)
		if got != c.want {
			t.Errorf("predictions_by_label_total{door=%q, label=%q}: %v, want %v", c.door, c.label, got, c.want)
		}
	}
	for _, c := range []struct {
		door  string
		count uint64
		sum   float64
	}{{"stream", 3, 1.2}, {"http", 1, .3}} {
		n, sum, ok := metrictest.Histogram(t, reg, "streamscore_prediction_score", "door", c.door, "version", "1")
		if !ok || n != c.count || fmt.Sprintf("%.6f", sum) != fmt.Sprintf("%.6f", c.sum) {
			t.Errorf("prediction_score{door=%q}: count %d sum %v (found %v), want %d and %v", c.door, n, sum, ok, c.count, c.sum)
		}
	}

	// The HTTP door swaps twice; the stream stays on v1.
	versions := func(door string) []string {
		var out []string
		for _, name := range []string{"streamscore_predictions_by_label_total", "streamscore_prediction_score"} {
			for _, s := range metrictest.Series(t, reg, name, "door", door) {
				if !slices.Contains(out, s["version"]) {
					out = append(out, s["version"])
				}
			}
		}
		slices.Sort(out)
		return out
	}
	for _, step := range []struct {
		path       *Path
		http, strm []string
	}{
		{v2, []string{"1", "2"}, []string{"1"}}, // v1 is the previous lineup: kept
		{v3, []string{"2", "3"}, []string{"1"}}, // v1 two swaps back: gone, for this door only
		{v3, []string{"3"}, []string{"1"}},      // the same lineup again: v2 is two lineups back
	} {
		http.Model(step.path)
		http.Lineup(step.path)
		if got := versions("http"); !slices.Equal(got, step.http) {
			t.Errorf("after the HTTP door's swap to %s: its versions %v, want %v", step.path.Bundle().Version, got, step.http)
		}
		if got := versions("stream"); !slices.Equal(got, step.strm) {
			t.Errorf("after the HTTP door's swap to %s: the stream's versions %v, want %v", step.path.Bundle().Version, got, step.strm)
		}
	}
}

// BenchmarkModelPredictionsAdd is the per-prediction cost of the metrics
// on the stream's hot path (processor's worker.output calls Add for every
// prediction): one histogram observation and one counter increment.
func BenchmarkModelPredictionsAdd(b *testing.B) {
	p := fraudPath(b, nil)
	mp := NewPredictions(prometheus.NewRegistry()).ForDoor(DoorStream).Model(p)
	res := []Result{{Score: .93, Label: "High Risk"}, {Score: .04, Label: "Low Risk"}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		mp.Add(&res[i&1])
		i++
	}
}
