package httpapi

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamscore/streamscore/internal/metric"
	"github.com/streamscore/streamscore/predict"
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
	f := metric.New(reg)
	return &metrics{
		requests: f.Counters("http_requests_total",
			"HTTP requests answered, by route pattern and status code.", "route", "code"),
		duration: f.Histograms("http_request_duration_seconds",
			"Time from a request's arrival to its answer, by route pattern.",
			[]float64{.0001, .00025, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "route"),
		inflight: f.Gauge("http_inflight_requests",
			"Prediction requests being served now (limited by http.max_concurrent)."),
		events: f.Counters("http_events_total",
			"Events scored or rejected through the HTTP door (an array request counts each element).", "outcome"),
		logged: f.Counters("http_log_records_total",
			"Records of HTTP predictions (output) and rejects (dlq) produced to Kafka with http.log_to_topic, by result.", "topic", "result"),
	}
}

// RegisterMetrics registers the HTTP door's metrics on reg, as a Server does
// (its own, the data-quality counters of predict.Quality and the prediction
// metrics of predict.Predictions), for tests and tooling that check
// dashboards and alert rules against them.
func RegisterMetrics(reg prometheus.Registerer) {
	newMetrics(reg)
	predict.NewQuality(reg)
	predict.NewPredictions(reg)
}
