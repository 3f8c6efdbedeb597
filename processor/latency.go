package processor

import (
	"math"
	"sync/atomic"
	"time"
)

// LatencyRecorder keeps end-to-end latencies in log-spaced buckets (about 3%
// wide, 10us to ~100s) with atomic counters, so the demo and the benchmark
// can print p50/p99/p99.9 without a lock on the hot path. The Prometheus
// histogram stays coarse on purpose (few series); this one is in-process only.
type LatencyRecorder struct {
	buckets [latBuckets]atomic.Uint64
}

const (
	latMin     = 10e-6 // seconds
	latGrowth  = 1.03
	latBuckets = 560 // latMin * 1.03^560 ~ 150s
)

var latLogGrowth = math.Log(latGrowth)

// Observe records one latency.
func (r *LatencyRecorder) Observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	if s > latMin {
		i = int(math.Log(s/latMin)/latLogGrowth) + 1
	}
	if i >= latBuckets {
		i = latBuckets - 1
	}
	r.buckets[i].Add(1)
}

// LatencySnapshot is a copy of the counters at one moment.
type LatencySnapshot [latBuckets]uint64

// Snapshot copies the counters.
func (r *LatencyRecorder) Snapshot() (s LatencySnapshot) {
	for i := range r.buckets {
		s[i] = r.buckets[i].Load()
	}
	return s
}

// Sub returns the observations made between prev and s.
func (s LatencySnapshot) Sub(prev LatencySnapshot) (d LatencySnapshot) {
	for i := range s {
		d[i] = s[i] - prev[i]
	}
	return d
}

// Count is the number of observations.
func (s LatencySnapshot) Count() (n uint64) {
	for _, c := range s {
		n += c
	}
	return n
}

// Quantile returns the upper bound of the bucket holding quantile q (0..1),
// or 0 when empty.
func (s LatencySnapshot) Quantile(q float64) time.Duration {
	n := s.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for i, c := range s {
		seen += c
		if seen >= rank && c > 0 {
			upper := latMin * math.Pow(latGrowth, float64(i))
			return time.Duration(upper * float64(time.Second))
		}
	}
	return 0
}
