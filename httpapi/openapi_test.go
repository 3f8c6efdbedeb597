package httpapi

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/streamscore/streamscore/internal/golden"
)

// TestOpenAPIDocument keeps docs/openapi-fraud.json equal to the document
// served for the fraud bundle (`go test ./httpapi -run OpenAPI -update`
// rewrites it) and checks it against the bundle and a real record.
func TestOpenAPIDocument(t *testing.T) {
	d := newTestDoor(t, Defaults(), Options{})
	code, _, served := do(t, "GET", d.url+"/openapi.json", "", nil)
	if code != 200 {
		t.Fatalf("GET /openapi.json: %d", code)
	}
	golden.Check(t, filepath.Join("..", "docs", "openapi-fraud.json"), served)

	var doc struct {
		OpenAPI    string `json:"openapi"`
		Paths      map[string]map[string]any
		Components struct {
			Schemas map[string]struct {
				Required   []string       `json:"required"`
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(served, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	var paths []string
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	routes := []string{RoutePredict, RouteOpenAPI, RouteLive, RouteReady, RouteServerMeta, RouteModelMeta, RouteModelVerMeta,
		RouteModelReady, RouteModelVerReady, RouteInfer, RouteModelVerInfer}
	sort.Strings(paths)
	sort.Strings(routes)
	if !slices.Equal(paths, routes) {
		t.Errorf("paths %v, want every route %v", paths, routes)
	}
	b := loadBundle(t, "fraud")
	ev := doc.Components.Schemas["Event"]
	var req []string
	for _, in := range b.Layout().Inputs {
		if _, ok := ev.Properties[in.Name]; !ok {
			t.Errorf("Event has no property %s", in.Name)
		}
		if in.Required {
			req = append(req, in.Name)
		}
	}
	if !slices.Equal(ev.Required, req) {
		t.Errorf("Event required %v, want %v", ev.Required, req)
	}
	// The Prediction schema names exactly the fields of a real record.
	_, _, rec := do(t, "POST", d.url+"/v1/predict", "application/json", []byte(goodEvent))
	var fields map[string]any
	if err := json.Unmarshal(rec, &fields); err != nil {
		t.Fatal(err)
	}
	ps := doc.Components.Schemas["Prediction"]
	if len(ps.Properties) != len(fields) || len(ps.Required) != len(fields) {
		t.Errorf("Prediction has %d properties (%d required), a record %d fields", len(ps.Properties), len(ps.Required), len(fields))
	}
	for f := range fields {
		if _, ok := ps.Properties[f]; !ok {
			t.Errorf("record field %s is not in the Prediction schema", f)
		}
	}
}

// TestRouteLabelsAreBounded: the route label is the route pattern, never
// the raw path or a model name from the URL.
func TestRouteLabelsAreBounded(t *testing.T) {
	d := newTestDoor(t, Defaults(), Options{})
	for _, p := range []string{"/v2/models/a1/ready", "/v2/models/b2/ready", "/v2/models/fraud/versions/x/infer", "/random/1", "/random/2"} {
		do(t, "GET", d.url+p, "", nil)
	}
	if n := testutil.ToFloat64(d.m.requests.WithLabelValues(RouteModelReady, "404")); n != 2 {
		t.Errorf("requests_total{route=%q,code=404} = %v, want 2", RouteModelReady, n)
	}
	if n := testutil.ToFloat64(d.m.requests.WithLabelValues(routeOther, "404")); n != 2 {
		t.Errorf("requests_total{route=other,code=404} = %v, want 2", n)
	}
	if n := testutil.ToFloat64(d.m.requests.WithLabelValues(RouteModelVerInfer, "405")); n != 1 {
		t.Errorf("requests_total{route=%q,code=405} = %v, want 1", RouteModelVerInfer, n)
	}
	fams, err := d.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{routeOther: true}
	for _, r := range []string{RoutePredict, RouteOpenAPI, RouteLive, RouteReady, RouteServerMeta, RouteModelMeta, RouteModelVerMeta,
		RouteModelReady, RouteModelVerReady, RouteInfer, RouteModelVerInfer} {
		allowed[r] = true
	}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && !allowed[l.GetValue()] {
					t.Errorf("%s has route label %q", f.GetName(), l.GetValue())
				}
			}
		}
	}
}
