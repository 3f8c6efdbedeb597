// Package metric makes the service's Prometheus metrics. Every metric is
// in the streamscore namespace and registered where it is made, so a
// package declares one as its name, help, labels and buckets, and the
// namespace is stated once.
package metric

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Namespace prefixes every metric name (streamscore_...).
const Namespace = "streamscore"

// Factory makes metrics named Namespace_[subsystem_]name and registers
// them on its registerer.
type Factory struct {
	f   promauto.Factory
	sub string
}

// New returns a Factory that registers on reg; with a nil reg the metrics
// are made but not registered.
func New(reg prometheus.Registerer) Factory { return Factory{f: promauto.With(reg)} }

// Sub returns a Factory whose names carry subsystem: streamscore_<subsystem>_<name>.
func (f Factory) Sub(subsystem string) Factory { return Factory{f: f.f, sub: subsystem} }

// Counter makes a counter without labels.
func (f Factory) Counter(name, help string) prometheus.Counter {
	return f.f.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: f.sub, Name: name, Help: help})
}

// Counters makes a counter with labels.
func (f Factory) Counters(name, help string, labels ...string) *prometheus.CounterVec {
	return f.f.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: f.sub, Name: name, Help: help}, labels)
}

// Gauge makes a gauge without labels.
func (f Factory) Gauge(name, help string) prometheus.Gauge {
	return f.f.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: f.sub, Name: name, Help: help})
}

// Gauges makes a gauge with labels (none: a vector whose one series is
// made by WithLabelValues()).
func (f Factory) Gauges(name, help string, labels ...string) *prometheus.GaugeVec {
	return f.f.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: f.sub, Name: name, Help: help}, labels)
}

// Histogram makes a histogram without labels.
func (f Factory) Histogram(name, help string, buckets []float64) prometheus.Histogram {
	return f.f.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: f.sub, Name: name, Help: help, Buckets: buckets})
}

// Histograms makes a histogram with labels.
func (f Factory) Histograms(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return f.f.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: f.sub, Name: name, Help: help, Buckets: buckets}, labels)
}
