package httpapi

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamscore/streamscore/drift"
	"github.com/streamscore/streamscore/internal/doctest"
)

// TestDocsInStep keeps docs/http.md's tables of request-level reasons,
// metrics and settings equal to the code.
func TestDocsInStep(t *testing.T) {
	path := filepath.Join("..", "docs", "http.md")
	// rows are the first n cells of every row of the table under heading.
	rows := func(heading, header string, n int) []string {
		var out []string
		for _, r := range doctest.TableRows(t, path+" "+heading, doctest.Section(t, path, heading), header) {
			out = append(out, strings.Join(doctest.Cells(r)[:n], " "))
		}
		return out
	}

	var want []string
	for _, r := range RequestReasons() {
		want = append(want, fmt.Sprintf("%s %d", r.Reason, r.Status))
	}
	if got := rows("### The error object", "| reason | status |", 2); !reflect.DeepEqual(got, want) {
		t.Errorf("docs/http.md reasons table:\n got  %v\n want %v (RequestReasons)", got, want)
	}

	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	m.requests.WithLabelValues("x", "200")
	m.duration.WithLabelValues("x")
	m.events.WithLabelValues("scored")
	m.logged.WithLabelValues("output", "ok")
	// The data-quality counters, as a request with a missing input, a value
	// outside the training range and an unseen category makes them, and the
	// drift gauges of a door with monitor.drift_window.
	d := newTestDoor(t, Defaults(), Options{DriftWindow: drift.MinWindow})
	do(t, "POST", d.url+"/v1/predict", "application/json", []byte(`{"amount": 1e9, "country": "ZZ", "timestamp": 1}`))
	want = nil
	for _, r := range []*prometheus.Registry{reg, d.reg} {
		fams, err := r.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if !slices.Contains(want, f.GetName()) {
				want = append(want, f.GetName())
			}
		}
	}
	sort.Strings(want)
	got := rows("## Metrics", "| metric | labels |", 1)
	sort.Strings(got) // the table is in reading order, Gather sorts
	if !reflect.DeepEqual(got, want) {
		t.Errorf("docs/http.md metrics table:\n got  %v\n want %v", got, want)
	}

	want = nil
	v := reflect.ValueOf(Defaults())
	for i := 0; i < v.NumField(); i++ {
		def := fmt.Sprint(v.Field(i).Interface())
		if s, ok := v.Field(i).Interface().(string); ok {
			def = strconv.Quote(s)
		}
		want = append(want, "http."+v.Type().Field(i).Tag.Get("config")+" "+def)
	}
	if got := rows("## Settings", "| key | default |", 2); !reflect.DeepEqual(got, want) {
		t.Errorf("docs/http.md settings table:\n got  %v\n want %v", got, want)
	}
}
