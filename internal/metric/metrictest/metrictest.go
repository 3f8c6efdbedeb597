// Package metrictest reads series from a Prometheus registry in tests: the
// value of a counter or gauge, or a histogram's count and sum, picked by
// its name and some of its labels, and the label sets of a family's series.
package metrictest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Value is the value of the series of family name whose labels include
// labels (name, value pairs), and whether there is one. A counter's or a
// gauge's value; the first match when several series match.
func Value(t testing.TB, g prometheus.Gatherer, name string, labels ...string) (float64, bool) {
	t.Helper()
	m := find(t, g, name, labels)
	if m == nil {
		return 0, false
	}
	if c := m.GetCounter(); c != nil {
		return c.GetValue(), true
	}
	return m.GetGauge().GetValue(), true
}

// MustValue is Value that fails the test when there is no such series.
func MustValue(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	v, ok := Value(t, g, name, labels...)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	return v
}

// Histogram is the sample count and sum of the histogram series of family
// name whose labels include labels (name, value pairs), and whether there
// is one; the first match when several series match.
func Histogram(t testing.TB, g prometheus.Gatherer, name string, labels ...string) (count uint64, sum float64, ok bool) {
	t.Helper()
	m := find(t, g, name, labels)
	if m == nil || m.GetHistogram() == nil {
		return 0, 0, false
	}
	h := m.GetHistogram()
	return h.GetSampleCount(), h.GetSampleSum(), true
}

// Series is the label set of every series of family name whose labels
// include labels (name, value pairs).
func Series(t testing.TB, g prometheus.Gatherer, name string, labels ...string) []map[string]string {
	t.Helper()
	var out []map[string]string
	each(t, g, name, labels, func(m *dto.Metric, have map[string]string) bool {
		out = append(out, have)
		return true
	})
	return out
}

// find is the first series of family name whose labels include labels.
func find(t testing.TB, g prometheus.Gatherer, name string, labels []string) *dto.Metric {
	t.Helper()
	var found *dto.Metric
	each(t, g, name, labels, func(m *dto.Metric, _ map[string]string) bool {
		found = m
		return false
	})
	return found
}

// each calls fn with every series of family name whose labels include
// labels, and its labels, until fn returns false.
func each(t testing.TB, g prometheus.Gatherer, name string, labels []string, fn func(*dto.Metric, map[string]string) bool) {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			if !fn(m, have) {
				return
			}
		}
	}
}
