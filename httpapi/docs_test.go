package httpapi

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestDocsInStep keeps docs/http.md's tables of request-level reasons,
// metrics and settings equal to the code.
func TestDocsInStep(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "http.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := func(re string) [][]string {
		return regexp.MustCompile(`(?m)`+re).FindAllStringSubmatch(string(doc), -1)
	}

	var want, got []string
	for _, r := range RequestReasons() {
		want = append(want, fmt.Sprintf("%s %d", r.Reason, r.Status))
	}
	for _, m := range rows("^\\| `([a-z_]+)` \\| (\\d{3}) \\|") {
		got = append(got, m[1]+" "+m[2])
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("docs/http.md reasons table:\n got  %v\n want %v (RequestReasons)", got, want)
	}

	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	m.requests.WithLabelValues("x", "200")
	m.duration.WithLabelValues("x")
	m.events.WithLabelValues("scored")
	m.logged.WithLabelValues("output", "ok")
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want, got = nil, nil
	for _, f := range fams {
		want = append(want, f.GetName())
	}
	for _, m := range rows("^\\| `(streamscore_http_[a-z_]+)` \\|") {
		got = append(got, m[1])
	}
	sort.Strings(got) // the table is in reading order, Gather sorts
	if !reflect.DeepEqual(got, want) {
		t.Errorf("docs/http.md metrics table:\n got  %v\n want %v", got, want)
	}

	want, got = nil, nil
	v := reflect.ValueOf(Defaults())
	for i := 0; i < v.NumField(); i++ {
		def := fmt.Sprint(v.Field(i).Interface())
		if s, ok := v.Field(i).Interface().(string); ok {
			def = strconv.Quote(s)
		}
		want = append(want, "http."+v.Type().Field(i).Tag.Get("config")+" "+def)
	}
	for _, m := range rows("^\\| `(http\\.[a-z_]+)` \\| `([^`]*)` \\|") {
		got = append(got, m[1]+" "+m[2])
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("docs/http.md settings table:\n got  %v\n want %v", got, want)
	}
}
