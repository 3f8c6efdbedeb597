package httpapi

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics is what the HTTP door emits. Route labels are the route patterns
// of this package (a fixed set), never raw paths or model names from a URL.
type metrics struct {
	requests *prometheus.CounterVec   // route, code
	duration *prometheus.HistogramVec // route
	inflight prometheus.Gauge
	events   *prometheus.CounterVec // outcome: scored, rejected
	logged   *prometheus.CounterVec // topic kind (output, dlq), result (ok, error)
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "streamscore", Name: "http_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "streamscore", Name: "http_request_duration_seconds",
			Help:    "Time from a request's arrival to its answer, by route pattern.",
			Buckets: []float64{.0001, .00025, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "streamscore", Name: "http_inflight_requests",
			Help: "Prediction requests being served now (limited by http.max_concurrent).",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "streamscore", Name: "http_events_total",
			Help: "Events scored or rejected through the HTTP door (an array request counts each element).",
		}, []string{"outcome"}),
		logged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "streamscore", Name: "http_log_records_total",
			Help: "Records of HTTP predictions (output) and rejects (dlq) produced to Kafka with http.log_to_topic, by result.",
		}, []string{"topic", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.inflight, m.events, m.logged)
	}
	return m
}

// RegisterMetrics registers the HTTP door's metrics on reg, as a Server does, for
// tests and tooling that check dashboards and alert rules against them.
func RegisterMetrics(reg prometheus.Registerer) { newMetrics(reg) }
