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
	LoadFailing  *prometheus.GaugeVec   // role: 1 while the role's configured bundle fails at every attempt
	Swaps        prometheus.Counter
	ModelInfo    *prometheus.GaugeVec // model, version, role: the lineup serving now (every door: run and serve)
	ModelLoaded  *prometheus.GaugeVec // role: unix seconds when that role's bundle was loaded
}

// NewMetrics registers the reload metrics on reg. Every role's failure
// series exists from the start at 0, so increase() sees the first failure.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := metric.New(reg)
	m := &Metrics{
		LoadFailures: f.Counters("model_load_failures_total",
			"Model bundles refused at a load attempt (did not load, fit the input format, match their reference rows or fit the live model) and not swapped in (the old model kept serving), by role; role config: the configuration could not be read at a reload.", "role"),
		LoadFailing: f.Gauges("model_load_failing",
			"1 while the bundle configured for a role failed at the last attempt to load it (the old model keeps serving), 0 once it loads or the role is no longer configured; role config: the configuration could not be read.", "role"),
		Swaps: f.Counter("model_swaps_total",
			"Reloads that swapped a new lineup of models in (a bundle, the canary share or a role changed)."),
		ModelInfo: f.Gauges("model_info",
			"The model bundles serving now, by role: live, canary, shadow (always 1).", "model", "version", "role"),
		ModelLoaded: f.Gauges("model_loaded_timestamp_seconds",
			"When the bundle now in each role was loaded (unix seconds).", "role"),
	}
	for _, r := range failureRoles() {
		m.LoadFailures.WithLabelValues(r)
		m.LoadFailing.WithLabelValues(r)
	}
	return m
}

// export sets model_info and model_loaded_timestamp_seconds to next, the
// lineup the doors took, deleting only the series of prev that left it (a
// scrape never sees an empty lineup).
func (m *Metrics) export(prev, next *Lineup) {
	keep := map[[3]string]bool{}
	for _, role := range predict.Roles {
		md := next.model(role)
		if md == nil {
			m.ModelLoaded.DeleteLabelValues(string(role))
			continue
		}
		b := md.Bundle
		keep[[3]string{b.Name, b.Version, string(role)}] = true
		m.ModelInfo.WithLabelValues(b.Name, b.Version, string(role)).Set(1)
		m.ModelLoaded.WithLabelValues(string(role)).Set(float64(md.Origin.LoadedAt.UnixNano()) / 1e9)
	}
	if prev == nil {
		return
	}
	for _, role := range predict.Roles {
		if md := prev.model(role); md != nil && !keep[[3]string{md.Bundle.Name, md.Bundle.Version, string(role)}] {
			m.ModelInfo.DeleteLabelValues(md.Bundle.Name, md.Bundle.Version, string(role))
		}
	}
}

// failureRoles are the role labels of the load-failure metrics.
func failureRoles() []string {
	out := []string{RoleConfig}
	for _, r := range predict.Roles {
		out = append(out, string(r))
	}
	return out
}

// failing sets model_load_failing from one attempt's failures. A
// configuration that could not be read says nothing of the bundles (none
// was tried), so they keep their state; otherwise every role was tried or
// is not configured.
func (m *Metrics) failing(fails []Failure) {
	now := map[string]bool{}
	for _, f := range fails {
		now[f.Role] = true
	}
	if now[RoleConfig] {
		m.LoadFailing.WithLabelValues(RoleConfig).Set(1)
		return
	}
	for _, r := range failureRoles() {
		v := 0.0
		if now[r] {
			v = 1
		}
		m.LoadFailing.WithLabelValues(r).Set(v)
	}
}
