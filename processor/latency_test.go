package processor

import (
	"testing"
	"time"
)

func TestLatencyQuantiles(t *testing.T) {
	var r LatencyRecorder
	for i := 1; i <= 1000; i++ {
		r.Observe(time.Duration(i) * time.Millisecond)
	}
	s := r.Snapshot()
	if got := s.Count(); got != 1000 {
		t.Fatalf("count = %d, want 1000", got)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := s.Quantile(tc.q)
		if got < tc.want || float64(got) > float64(tc.want)*1.031 {
			t.Errorf("q%.2f = %s, want within 3%% above %s", tc.q, got, tc.want)
		}
	}
	if got := (LatencySnapshot{}).Quantile(0.5); got != 0 {
		t.Errorf("empty quantile = %s, want 0", got)
	}
	later := r.Snapshot()
	r.Observe(time.Hour) // clamps into the last bucket
	if d := r.Snapshot().Sub(later); d.Count() != 1 {
		t.Errorf("delta count = %d, want 1", d.Count())
	}
}
