package predict

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/streamscore/streamscore/internal/metric/metrictest"
)

// TestQualityExport: each Add exports what the Batch counted since the
// last one, under the export's door; two doors of one process share the
// counters (NewQuality twice on one registry) and stay apart by door.
func TestQualityExport(t *testing.T) {
	reg := prometheus.NewRegistry()
	stream := NewQuality(reg).Export(DoorStream, fraudPath(t, nil).mustBatch(t))
	http := NewQuality(reg).Export(DoorHTTP, fraudPath(t, nil).mustBatch(t))
	run := func(e *QualityExport, values ...string) {
		t.Helper()
		ev := make([]Event, len(values))
		for i, v := range values {
			ev[i] = Event{Value: []byte(v)}
		}
		if err := e.b.Run(ev, make([]Result, len(ev)), time.Now(), nil); err != nil {
			t.Fatal(err)
		}
		e.Add()
	}
	// amount out of the training range [2.1, 3098.52]; country never seen
	run(stream, `{"amount": 10, "country": "ZZ", "timestamp": 1}`, `{"amount": 1e9, "timestamp": 1}`)
	run(stream, `{"amount": 10, "timestamp": 1}`)
	run(http, `{"amount": 10, "country": null, "timestamp": 1}`)
	for _, c := range []struct {
		metric, door, label string
		want                float64
	}{
		{"input_missing_total", "stream", "country", 2}, // across two Adds
		{"input_missing_total", "stream", "timestamp", 0},
		{"input_missing_total", "stream", "amount", 0},
		{"input_missing_total", "http", "country", 1},
		{"feature_out_of_range_total", "stream", "amount", 1},
		{"feature_unknown_category_total", "stream", "country", 1},
	} {
		label := "input"
		if c.metric != "input_missing_total" {
			label = "feature"
		}
		if got := metrictest.MustValue(t, reg, "streamscore_"+c.metric, "door", c.door, label, c.label); got != c.want {
			t.Errorf("%s{door=%q, %s}: %v, want %v", c.metric, c.door, c.label, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(NewQuality(reg).outOfRange); n != 1 {
		t.Errorf("%d out-of-range series, want 1 (made when first counted)", n)
	}
}
