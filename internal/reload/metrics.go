package reload

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamscore/streamscore/internal/metric"
	"github.com/streamscore/streamscore/predict"
)

// RoleConfig is the role label of a load failure that is not one bundle's:
// the configuration itself could not be read at a reload.
const RoleConfig = "config"

// Metrics is what a Reloader emits.
type Metrics struct {
	LoadFailures *prometheus.CounterVec // role: live, canary, shadow, config
	Swaps        prometheus.Counter
}

// NewMetrics registers the reload metrics on reg. Every role's failure
// series exists from the start at 0, so increase() sees the first failure.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := metric.New(reg)
	m := &Metrics{
		LoadFailures: f.Counters("model_load_failures_total",
			"Model bundles that failed to load, validate or match their reference rows and were not swapped in (the old model kept serving), by role; role config: the configuration could not be read at a reload.", "role"),
		Swaps: f.Counter("model_swaps_total",
			"Reloads that swapped a new lineup of models in (a bundle, the canary share or a role changed)."),
	}
	for _, r := range predict.Roles {
		m.LoadFailures.WithLabelValues(string(r))
	}
	m.LoadFailures.WithLabelValues(RoleConfig)
	return m
}
