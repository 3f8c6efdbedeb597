package httpapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/streamscore/streamscore/internal/metric/metrictest"
	"github.com/streamscore/streamscore/internal/proctest"
)

const goodEvent = `{"transaction_id":"t-1","card_id":"c-9","amount":39.69,"avg_amount_30d":45.17,"merchant_category":"grocery","country":"US","card_present":true,"distance_from_home_km":6.3,"txn_count_24h":2,"timestamp":"2026-02-07T19:26:47Z"}`

// prediction is the stream's prediction record.
type prediction struct {
	Key           *string `json:"key"`
	EventID       *string `json:"event_id"`
	EventTime     *int64  `json:"event_time"`
	ScoredTime    int64   `json:"scored_time"`
	Model         string  `json:"model"`
	ModelVersion  string  `json:"model_version"`
	Score         float64 `json:"score"`
	Label         *string `json:"label"`
	Probabilities []struct {
		Class       string  `json:"class"`
		Probability float64 `json:"probability"`
	} `json:"probabilities"`
	Features any `json:"features"`
}

// checkShape says what is wrong with body for the want shape: "prediction",
// "error:<reason>:<stage>:<field>" or "array:<elem>,<elem>...".
func checkShape(body []byte, want string) error {
	switch {
	case want == "prediction":
		var p prediction
		if err := decodeStrict(body, &p); err != nil {
			return fmt.Errorf("not a prediction record: %v", err)
		}
		if p.Model != "fraud" || len(p.Probabilities) != 2 || p.Label == nil {
			return fmt.Errorf("not a fraud prediction: %+v", p)
		}
		return nil
	case strings.HasPrefix(want, "error:"):
		var e errorObject
		if err := decodeStrict(body, &e); err != nil {
			return fmt.Errorf("not an error object: %v", err)
		}
		parts := strings.SplitN(want, ":", 4)
		field := ""
		if e.Error.Field != nil {
			field = *e.Error.Field
		}
		if e.Error.Reason != parts[1] || e.Error.Stage != parts[2] || field != parts[3] || e.Error.Message == "" {
			return fmt.Errorf("error %+v (field %q), want reason %s stage %s field %q and a message", e.Error, field, parts[1], parts[2], parts[3])
		}
		return nil
	case strings.HasPrefix(want, "array:"):
		var elems []json.RawMessage
		if err := json.Unmarshal(body, &elems); err != nil {
			return fmt.Errorf("not an array: %v", err)
		}
		wants := strings.Split(strings.TrimPrefix(want, "array:"), ",")
		if want == "array:" {
			wants = nil
		}
		if len(elems) != len(wants) {
			return fmt.Errorf("%d elements, want %d", len(elems), len(wants))
		}
		for i, e := range elems {
			if err := checkShape(e, strings.ReplaceAll(wants[i], ";", ":")); err != nil {
				return fmt.Errorf("element %d: %v", i, err)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown shape %q", want)
}

func TestPredictStatusAndShape(t *testing.T) {
	cfg := Defaults()
	cfg.MaxBodyBytes = 4096
	d := newTestDoor(t, cfg, Options{})
	big := `{"amount":1,"pad":"` + strings.Repeat("x", 5000) + `"}`
	for _, tc := range []struct {
		name, method, ctype, body string
		code                      int
		shape                     string
		header                    string // a response header that must be set
	}{
		{"one event", "POST", "application/json", goodEvent, 200, "prediction", ""},
		{"content type with charset", "POST", "application/json; charset=utf-8", goodEvent, 200, "prediction", ""},
		{"no content type", "POST", "", goodEvent, 200, "prediction", ""},
		{"one rejected event", "POST", "application/json", `{"amount":"12","timestamp":1}`, 400, "error:wrong_type:decode:amount", ""},
		{"required input missing", "POST", "application/json", `{"timestamp":1}`, 400, "error:missing_field:decode:amount", ""},
		{"not an object", "POST", "application/json", `42`, 400, "error:malformed:decode:", ""},
		{"not JSON", "POST", "application/json", `{"amount":`, 400, "error:malformed:decode:", ""},
		{"empty body", "POST", "application/json", ``, 400, "error:malformed:decode:", ""},
		{"array", "POST", "application/json", "[" + goodEvent + `,{"amount":"x"},7,{"timestamp":1}]`, 200,
			"array:prediction,error;wrong_type;decode;amount,error;malformed;decode;,error;missing_field;decode;amount", ""},
		{"empty array", "POST", "application/json", `[]`, 200, "array:", ""},
		{"array that is not JSON", "POST", "application/json", `[` + goodEvent + `,`, 400, "error:malformed:decode:", ""},
		{"body too large", "POST", "application/json", big, 413, "error:too_large:request:", ""},
		{"wrong content type", "POST", "text/plain", goodEvent, 415, "error:unsupported_media_type:request:", ""},
		{"form content type (curl -d)", "POST", "application/x-www-form-urlencoded", goodEvent, 415, "error:unsupported_media_type:request:", ""},
		{"GET", "GET", "", "", 405, "error:method_not_allowed:request:", "Allow"},
		{"PUT", "PUT", "application/json", goodEvent, 405, "error:method_not_allowed:request:", "Allow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := do(t, tc.method, d.url+"/v1/predict", tc.ctype, []byte(tc.body))
			if code != tc.code {
				t.Fatalf("status %d, want %d: %s", code, tc.code, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if err := checkShape(body, tc.shape); err != nil {
				t.Errorf("%v\nbody: %s", err, body)
			}
			if tc.header != "" && hdr.Get(tc.header) == "" {
				t.Errorf("no %s header", tc.header)
			}
		})
	}
	// A chunked body (no Content-Length) is cut while reading.
	resp, chunked := proctest.HTTP(t, nil, "POST", d.url+"/v1/predict", io.NopCloser(strings.NewReader(big)), "Content-Type", "application/json")
	if resp.StatusCode != 413 || checkShape(chunked, "error:too_large:request:") != nil {
		t.Errorf("chunked body too large: %d %s, want 413", resp.StatusCode, chunked)
	}
	code, _, body := do(t, "GET", d.url+"/v1/nothing", "", nil)
	if code != 404 || checkShape(body, "error:not_found:request:") != nil {
		t.Errorf("unknown path: %d %s, want 404 with the error object", code, body)
	}
}

func TestPredictNotReady(t *testing.T) {
	d := newTestDoor(t, Defaults(), Options{})
	if err := d.SetPath(nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/v1/predict", goodEvent},
		{"POST", "/v2/models/fraud/infer", `{"inputs":[]}`},
		{"GET", "/v2/health/ready", ""},
		{"GET", "/v2/models/fraud", ""},
		{"GET", "/openapi.json", ""},
	} {
		code, hdr, body := do(t, tc.method, d.url+tc.path, "application/json", []byte(tc.body))
		if code != http.StatusServiceUnavailable {
			t.Errorf("%s %s without a model: %d %s, want 503", tc.method, tc.path, code, body)
		}
		if tc.path == "/v1/predict" && (checkShape(body, "error:unavailable:request:") != nil || hdr.Get("Retry-After") == "") {
			t.Errorf("%s: %s (Retry-After %q), want the unavailable error object and Retry-After", tc.path, body, hdr.Get("Retry-After"))
		}
	}
	if code, _, _ := do(t, "GET", d.url+"/v2/health/live", "", nil); code != 200 {
		t.Errorf("live without a model: %d, want 200 (the process answers)", code)
	}
}

// TestPredictInternalErrorIs500: a decoder that panics (a bug) rejects the
// event as internal_error (predict recovers per record): 500 for one event,
// an error element in an array.
func TestPredictInternalErrorIs500(t *testing.T) {
	s, err := New(Defaults(), panickyPath(t), testLogger(), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, newRequest("POST", "/v1/predict", goodEvent))
	if rec.Code != 500 || checkShape(rec.Body.Bytes(), "error:internal_error:decode:") != nil {
		t.Errorf("one event: %d %s, want 500 internal_error", rec.Code, rec.Body.Bytes())
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, newRequest("POST", "/v1/predict", "["+goodEvent+"]"))
	if rec.Code != 200 || checkShape(rec.Body.Bytes(), "array:error;internal_error;decode;") != nil {
		t.Errorf("array: %d %s, want 200 with an internal_error element", rec.Code, rec.Body.Bytes())
	}
}

// TestHandlerPanicIs500: a panic in the door itself answers 500 and is
// counted; the server goes on.
func TestHandlerPanicIs500(t *testing.T) {
	s, err := New(Defaults(), nil, testLogger(), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	bug := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("door bug") })
	rec := httptest.NewRecorder()
	s.instrument("test", false, bug).ServeHTTP(rec, newRequest("GET", "/x", ""))
	if rec.Code != 500 || checkShape(rec.Body.Bytes(), "error:internal_error:request:") != nil {
		t.Errorf("got %d %s, want 500 internal_error", rec.Code, rec.Body.Bytes())
	}
	if n := testutil.ToFloat64(s.m.requests.WithLabelValues("test", "500")); n != 1 {
		t.Errorf("requests_total{route=test,code=500} = %v, want 1", n)
	}
	// On an OIP route the 500 has the protocol's error shape, as its other errors.
	rec = httptest.NewRecorder()
	s.instrument("oip", true, bug).ServeHTTP(rec, newRequest("GET", "/x", ""))
	var e struct{ Error string }
	if err := decodeStrict(rec.Body.Bytes(), &e); rec.Code != 500 || err != nil || !strings.Contains(e.Error, "door bug") {
		t.Errorf("OIP route: %d %s (%v), want 500 with {\"error\": message}", rec.Code, rec.Body.Bytes(), err)
	}
}

func TestPredictKeyField(t *testing.T) {
	in := streamInput
	in.KeyField = "card_id"
	d := newTestDoorIn(t, Defaults(), in, Options{})
	for _, tc := range []struct{ event, want string }{
		{goodEvent, `"c-9"`},
		{strings.Replace(goodEvent, `"card_id":"c-9"`, `"card_id":1234`, 1), `"1234"`},
		{strings.Replace(goodEvent, `"card_id":"c-9",`, ``, 1), `null`},
	} {
		code, _, body := do(t, "POST", d.url+"/v1/predict", "application/json", []byte(tc.event))
		var p prediction
		if code != 200 || json.Unmarshal(body, &p) != nil {
			t.Fatalf("%d %s", code, body)
		}
		got := "null"
		if p.Key != nil {
			got = fmt.Sprintf("%q", *p.Key)
		}
		if got != tc.want {
			t.Errorf("key %s, want %s (event %s)", got, tc.want, tc.event)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"body", func(c *Config) { c.MaxBodyBytes = 0 }, "http.max_body_bytes 0"},
		{"events", func(c *Config) { c.MaxEvents = 0 }, "http.max_events 0"},
		{"timeout", func(c *Config) { c.RequestTimeout = -1 }, "http.request_timeout -1ns"},
		{"idle", func(c *Config) { c.IdleTimeout = 0 }, "http.idle_timeout 0s"},
		{"concurrency", func(c *Config) { c.MaxConcurrent = -3 }, "http.max_concurrent -3"},
		{"shutdown", func(c *Config) { c.ShutdownTimeout = 0 }, "http.shutdown_timeout 0s"},
	} {
		c := Defaults()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	c := Defaults()
	c.LogToTopic = true
	if _, err := New(c, nil, nil, nil, Options{}); err == nil || !strings.Contains(err.Error(), "http.log_to_topic") {
		t.Errorf("log_to_topic without a client: got %v, want an error naming http.log_to_topic", err)
	}
}

// TestContentEncodingIs415: the door does not decompress bodies, so a
// compressed one answers 415 naming the encoding rather than being parsed
// as JSON (it was: 400 malformed for a valid gzipped event).
func TestContentEncodingIs415(t *testing.T) {
	d := newTestDoor(t, Defaults(), Options{})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write([]byte(goodEvent)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, encoding string
		code           int
	}{
		{"/v1/predict", "gzip", 415},
		{"/v2/models/fraud/infer", "gzip", 415},
		{"/v1/predict", "identity", 200},
	} {
		body := gz.Bytes()
		if tc.encoding == "identity" {
			body = []byte(goodEvent)
		}
		code, _, got := do(t, "POST", d.url+tc.path, "application/json", body, "Content-Encoding", tc.encoding)
		if code != tc.code {
			t.Errorf("%s with Content-Encoding %s: %d %s, want %d", tc.path, tc.encoding, code, got, tc.code)
			continue
		}
		if code == 415 && !strings.Contains(string(got), `content encoding \"gzip\"`) {
			t.Errorf("%s: %s, want a message naming the encoding", tc.path, got)
		}
	}
}

// TestPooledWorkKeepsNoLargeArrays: a rare large array request does not
// leave its per-event slices (and the rejects' messages they point at) in
// the pool, as it does not leave its body buffer.
func TestPooledWorkKeepsNoLargeArrays(t *testing.T) {
	md := newTestDoor(t, Defaults(), Options{}).model.Load()
	for _, tc := range []struct {
		events int
		kept   bool
	}{{chunkEvents, true}, {maxPooledEvents + 1, false}} {
		w, err := md.newWork()
		if err != nil {
			t.Fatal(err)
		}
		w.prepare(tc.events)
		md.put(w)
		if kept := w.events != nil && w.results != nil; kept != tc.kept {
			t.Errorf("after a request of %d events the pooled work kept its slices: %v, want %v", tc.events, kept, tc.kept)
		}
	}
}

// TestEventLimitIs413: a request of more than http.max_events events, as a
// /v1/predict array or as infer rows, answers 413 naming the setting, and
// no event of it is scored; one of exactly max_events is served.
func TestEventLimitIs413(t *testing.T) {
	cfg := Defaults()
	cfg.MaxEvents = 3
	d := newTestDoor(t, cfg, Options{})
	array := func(n int) []byte {
		return []byte("[" + strings.TrimSuffix(strings.Repeat(goodEvent+",", n), ",") + "]")
	}
	infer := func(n int) []byte {
		return []byte(`{"inputs":[{"name":"amount","datatype":"FP64","shape":[` + strconv.Itoa(n) + `],"data":[` +
			strings.TrimSuffix(strings.Repeat("1,", n), ",") + `]}]}`)
	}
	for _, tc := range []struct {
		path string
		body []byte
		code int
	}{
		{"/v1/predict", array(3), 200},
		{"/v1/predict", array(4), 413},
		{"/v2/models/fraud/infer", infer(4), 413},
	} {
		code, _, got := do(t, "POST", d.url+tc.path, "application/json", tc.body)
		if code != tc.code {
			t.Errorf("%s, %d bytes: %d %s, want %d", tc.path, len(tc.body), code, got, tc.code)
			continue
		}
		if code == 413 && !strings.Contains(string(got), "more than http.max_events (3) events in one request") {
			t.Errorf("%s: %s, want a message naming the count and http.max_events", tc.path, got)
		}
	}
	if got := metrictest.MustValue(t, d.reg, "streamscore_http_events_total", "outcome", "scored"); got != 3 {
		t.Errorf("events scored %v, want 3 (the 413 requests score none)", got)
	}
}

func TestTooManyElements(t *testing.T) {
	for _, tc := range []struct {
		array string
		max   int
		want  bool
	}{
		{`[1,2,3]`, 3, false},
		{`[1,2,3,4]`, 3, true},
		{`[ 1 , 2 , 3 , 4 ]`, 3, true},
		{`[{"a":[1,2,3,4]},"x,y,z,w"]`, 3, false},
		{`["a\",b","c\\",1,2]`, 3, true},
		{`[[1,2],[3,4],{"k":"v,w"}]`, 2, true},
		{`[[1,2],[3,4],{"k":"v,w"}]`, 3, false},
		{`[]`, 1, false},
	} {
		if got := tooManyElements([]byte(tc.array), tc.max); got != tc.want {
			t.Errorf("tooManyElements(%s, %d) = %v, want %v", tc.array, tc.max, got, tc.want)
		}
	}
}
