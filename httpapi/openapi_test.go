package httpapi

import (
	"encoding/json"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
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

// timeoutBody is a request body whose read times out, as a body that does
// not arrive within the read deadline does.
type timeoutBody struct{}

func (timeoutBody) Read([]byte) (int, error) { return 0, timeoutErr{} }

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestOpenAPIDeclaresEveryAnswer: each answer of the door, by route and
// status, is declared in /openapi.json with its content type, so a client
// generated from the document knows every answer it can get.
func TestOpenAPIDeclaresEveryAnswer(t *testing.T) {
	cfg := Defaults()
	cfg.MaxBodyBytes = 4096
	cfg.MaxConcurrent = 1
	d := newTestDoor(t, cfg, Options{})
	_, _, served := do(t, "GET", d.url+"/openapi.json", "", nil)
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]any `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(served, &doc); err != nil {
		t.Fatal(err)
	}
	notReady, err := New(cfg, nil, testLogger(), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	panicky, err := New(cfg, panickyPath(t), testLogger(), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	amount := `{"name":"amount","datatype":"FP64","shape":[1],"data":[12.5]}`
	ts := `{"name":"timestamp","datatype":"INT64","shape":[1],"data":[1770492407000]}`
	infer := `{"inputs":[` + amount + "," + ts + `]}`
	big := strings.Repeat(" ", 5000)
	type request struct {
		route, method, path, ctype, body string
		notReady, timeout                bool
		panicky                          bool // a decoder bug: 500
	}
	reqs := []request{
		{RoutePredict, "POST", "/v1/predict", "application/json", goodEvent, false, false, false},
		{RoutePredict, "POST", "/v1/predict", "application/json", `{"amount":"x"}`, false, false, false},
		{RoutePredict, "POST", "/v1/predict", "application/json", big, false, false, false},
		{RoutePredict, "POST", "/v1/predict", "text/plain", goodEvent, false, false, false},
		{RoutePredict, "POST", "/v1/predict", "application/json", "", false, true, false},
		{RoutePredict, "POST", "/v1/predict", "application/json", goodEvent, true, false, false},
		{RouteInfer, "POST", "/v2/models/fraud/infer", "application/json", infer, false, false, false},
		{RouteInfer, "POST", "/v2/models/fraud/infer", "application/json", `{"parameters":{"binary_data_output":true},"inputs":[` + amount + "," + ts + `]}`, false, false, false},
		{RouteInfer, "POST", "/v2/models/fraud/infer", "application/json", `{"inputs":[]}`, false, false, false},
		{RouteInfer, "POST", "/v2/models/iris/infer", "application/json", infer, false, false, false},
		{RouteInfer, "POST", "/v2/models/fraud/infer", "application/json", big, false, false, false},
		{RouteInfer, "POST", "/v2/models/fraud/infer", "text/plain", infer, false, false, false},
		{RouteInfer, "POST", "/v2/models/fraud/infer", "application/json", "", false, true, false},
		{RouteInfer, "POST", "/v2/models/fraud/infer", "application/json", infer, true, false, false},
		{RoutePredict, "POST", "/v1/predict", "application/json", goodEvent, false, false, true},
		{RouteInfer, "POST", "/v2/models/fraud/infer", "application/json", infer, false, false, true},
		{RouteModelVerInfer, "POST", "/v2/models/fraud/versions/1.0.0/infer", "application/json", infer, false, false, false},
		{RouteModelVerInfer, "POST", "/v2/models/fraud/versions/9/infer", "application/json", infer, false, false, false},
		{RouteModelMeta, "GET", "/v2/models/fraud", "", "", false, false, false},
		{RouteModelMeta, "GET", "/v2/models/iris", "", "", false, false, false},
		{RouteModelMeta, "GET", "/v2/models/fraud", "", "", true, false, false},
		{RouteModelVerMeta, "GET", "/v2/models/fraud/versions/9", "", "", false, false, false},
		{RouteModelVerMeta, "GET", "/v2/models/fraud/versions/1.0.0", "", "", true, false, false},
		{RouteModelReady, "GET", "/v2/models/fraud/ready", "", "", false, false, false},
		{RouteModelReady, "GET", "/v2/models/iris/ready", "", "", false, false, false},
		{RouteModelReady, "GET", "/v2/models/fraud/ready", "", "", true, false, false},
		{RouteModelVerReady, "GET", "/v2/models/fraud/versions/1.0.0/ready", "", "", true, false, false},
		{RouteReady, "GET", "/v2/health/ready", "", "", false, false, false},
		{RouteReady, "GET", "/v2/health/ready", "", "", true, false, false},
		{RouteLive, "GET", "/v2/health/live", "", "", false, false, false},
		{RouteServerMeta, "GET", "/v2", "", "", false, false, false},
		{RouteOpenAPI, "GET", "/openapi.json", "", "", false, false, false},
		{RouteOpenAPI, "GET", "/openapi.json", "", "", true, false, false},
	}
	check := func(r request, code int, hdr http.Header) {
		t.Helper()
		op, ok := doc.Paths[r.route][strings.ToLower(r.method)]
		if !ok {
			t.Errorf("%s %s: the document has no operation %s %s", r.method, r.path, r.method, r.route)
			return
		}
		resp, ok := op.Responses[strconv.Itoa(code)]
		if !ok {
			t.Errorf("%s %s answered %d, which %s %s does not declare", r.method, r.path, code, r.method, r.route)
			return
		}
		ct, _, _ := mime.ParseMediaType(hdr.Get("Content-Type"))
		if _, ok := resp.Content[ct]; !ok {
			t.Errorf("%s %s answered %d with %s; the document declares %v", r.method, r.path, code, ct, slices.Collect(maps.Keys(resp.Content)))
		}
	}
	for _, r := range reqs {
		s := d.Server
		switch {
		case r.notReady:
			s = notReady
		case r.panicky:
			s = panicky
		}
		req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
		if r.timeout {
			req = httptest.NewRequest(r.method, r.path, timeoutBody{})
		}
		if r.ctype != "" {
			req.Header.Set("Content-Type", r.ctype)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		check(r, rec.Code, rec.Header())
	}
	// 429: one request in flight at max_concurrent 1.
	held := holdRequest(t, d.url)
	waitInflight(t, d.Server, 1)
	for _, r := range []request{
		{route: RoutePredict, method: "POST", path: "/v1/predict", ctype: "application/json", body: goodEvent},
		{route: RouteInfer, method: "POST", path: "/v2/models/fraud/infer", ctype: "application/json", body: infer},
	} {
		code, hdr, _ := do(t, r.method, d.url+r.path, r.ctype, []byte(r.body))
		if code != http.StatusTooManyRequests {
			t.Errorf("%s at the limit: %d, want 429", r.path, code)
		}
		check(r, code, hdr)
	}
	held.release(t)
}
