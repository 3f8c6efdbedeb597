package httpapi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The doors answer whatever a client sends: a prediction, or a 4xx with the
// error object; never a 5xx (instrument turns a panic into a 500, so a bug
// that panics fails these targets too). `make fuzz` runs them; `go test`
// runs the seeds.

// fuzzHandler is the fraud bundle's door as an http.Handler, served in
// process (no listener), with a small body limit so inputs stay quick.
func fuzzHandler(f *testing.F) http.Handler {
	f.Helper()
	cfg := Defaults()
	cfg.MaxBodyBytes = 64 << 10
	s, err := New(cfg, jsonPath(f, loadBundle(f, "fraud"), streamInput, false), testLogger(), prometheus.NewRegistry(), Options{})
	if err != nil {
		f.Fatal(err)
	}
	return s.Handler()
}

// serve sends one POST and returns the recorded answer.
func serve(h http.Handler, path, ctype string, body []byte, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// FuzzPredict: POST /v1/predict with any body. 200 is a prediction record
// (or an array of records and error objects, one per element); 4xx is the
// error object.
func FuzzPredict(f *testing.F) {
	for _, s := range []string{
		`{"transaction_id":"t1","amount":12.5,"timestamp":"2026-02-07T19:26:47Z","merchant_category":"5411","country":"DE","card_present":true}`,
		`[{"amount":1,"timestamp":1770492407000},{"amount":"x"},null,[],{}]`,
		`{"amount":1e999}`, `{"amount":12.5,"timestamp":"1704164645000"}`, `[`, `[]`, ``, `"x"`, `{"amount":1,"amount":2}`,
		"{\"country\":\"\xff\"}", `{"merchant":{"country":{"a":[1,{"b":null}]}}}`,
	} {
		f.Add([]byte(s))
	}
	h := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		w := serve(h, "/v1/predict", "application/json", body)
		got := w.Body.Bytes()
		if w.Code >= 500 {
			t.Fatalf("status %d for %q: %s", w.Code, body, got)
		}
		if !json.Valid(got) {
			t.Fatalf("status %d, the answer is not JSON: %q", w.Code, got)
		}
		if w.Code == http.StatusOK {
			checkPredictions(t, body, got)
			return
		}
		var e errorObject
		if err := decodeStrict(got, &e); err != nil || e.Error.Reason == "" || e.Error.Message == "" {
			t.Fatalf("status %d without the error object (%v): %s", w.Code, err, got)
		}
	})
}

// checkPredictions checks a 200 answer of /v1/predict: one prediction
// record for an object, an array as long as the request's for an array.
func checkPredictions(t *testing.T, body, got []byte) {
	t.Helper()
	var elems []json.RawMessage
	if json.Unmarshal(body, &elems) == nil {
		var answers []json.RawMessage
		if err := json.Unmarshal(got, &answers); err != nil || len(answers) != len(elems) {
			t.Fatalf("%d events, answer (%v): %s", len(elems), err, got)
		}
		return
	}
	var rec struct {
		Model *string  `json:"model"`
		Score *float64 `json:"score"`
	}
	if err := json.Unmarshal(got, &rec); err != nil || rec.Model == nil || rec.Score == nil {
		t.Fatalf("200 without a prediction record (%v): %s", err, got)
	}
}

// FuzzInfer: POST /v2/models/fraud/infer with any body, as JSON or, when
// headerLen >= 0, as the binary tensor extension with that
// Inference-Header-Content-Length. 200 carries the outputs, all of the same
// number of rows; 4xx is the OIP error object.
func FuzzInfer(f *testing.F) {
	amount := `{"name":"amount","datatype":"FP64","shape":[2],"data":[12.5,3]}`
	ts := `{"name":"timestamp","datatype":"INT64","shape":[2,1],"data":[[1770492407000],[1770492408000]]}`
	country := `{"name":"country","datatype":"BYTES","shape":[2],"data":["DE","\u00ff"]}`
	f.Add([]byte(`{"inputs":[`+amount+`,`+ts+`,`+country+`]}`), -1)
	f.Add([]byte(`{"id":"r","inputs":[`+amount+`,`+ts+`],"outputs":[{"name":"label"}],"parameters":{"binary_data_output":true}}`), -1)
	f.Add([]byte(`{"inputs":[{"name":"amount","datatype":"FP32","shape":[1],"data":[1e39]}]}`), -1)
	f.Add([]byte(`{"inputs":[{"name":"amount","datatype":"UINT64","shape":[1],"data":[18446744073709551615]}]}`), -1)
	le := binary.LittleEndian
	bin := []byte(`{"inputs":[{"name":"amount","datatype":"FP64","shape":[1],"parameters":{"binary_data_size":8}},` +
		`{"name":"timestamp","datatype":"INT64","shape":[1],"parameters":{"binary_data_size":8}},` +
		`{"name":"country","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":6}},` +
		`{"name":"card_present","datatype":"BOOL","shape":[1],"parameters":{"binary_data_size":1}}]}`)
	hl := len(bin)
	bin = le.AppendUint64(bin, math.Float64bits(12.5))
	bin = le.AppendUint64(bin, 1770492407000)
	bin = append(le.AppendUint32(bin, 2), "DE"...)
	bin = append(bin, 1)
	f.Add(bin, hl)
	f.Add(bin, hl-1)
	h := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, body []byte, headerLen int) {
		ctype, hdr := "application/json", []string(nil)
		if headerLen >= 0 {
			ctype, hdr = "application/octet-stream", []string{headerInferLength, strconv.Itoa(headerLen)}
		}
		w := serve(h, "/v2/models/fraud/infer", ctype, body, hdr...)
		got := w.Body.Bytes()
		if w.Code >= 500 {
			t.Fatalf("status %d for %q (header length %d): %s", w.Code, body, headerLen, got)
		}
		if w.Code != http.StatusOK {
			var e struct{ Error string }
			if err := decodeStrict(got, &e); err != nil || e.Error == "" {
				t.Fatalf("status %d without the OIP error (%v): %s", w.Code, err, got)
			}
			return
		}
		if n := w.Header().Get(headerInferLength); n != "" {
			l, err := strconv.Atoi(n)
			if err != nil || l < 0 || l > len(got) {
				t.Fatalf("answer's %s %q, body %d bytes", headerInferLength, n, len(got))
			}
			got = got[:l]
		}
		var res inferResult
		if err := decodeStrict(got, &res); err != nil || len(res.Outputs) == 0 {
			t.Fatalf("200 without outputs (%v): %s", err, got)
		}
		rows := -1
		for _, o := range res.Outputs {
			if len(o.Shape) == 0 || o.Shape[0] < 1 || (rows >= 0 && o.Shape[0] != rows) {
				t.Fatalf("output %s has shape %v (rows %d): %s", o.Name, o.Shape, rows, got)
			}
			rows = o.Shape[0]
		}
	})
}
