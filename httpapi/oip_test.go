package httpapi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/features"
)

func TestOIPHealthAndMetadata(t *testing.T) {
	d := newTestDoor(t, Defaults(), Options{Version: "v9.9.9"})
	b := loadBundle(t, "fraud")
	get := func(path string) (int, map[string]any) {
		t.Helper()
		code, _, body := do(t, "GET", d.url+path, "", nil)
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("GET %s: %d %s: %v", path, code, body, err)
		}
		return code, m
	}
	for _, tc := range []struct {
		path string
		code int
		want map[string]any
	}{
		{"/v2/health/live", 200, map[string]any{"live": true}},
		{"/v2/health/ready", 200, map[string]any{"ready": true}},
		{"/v2", 200, map[string]any{"name": "streamscore", "version": "v9.9.9"}},
		{"/v2/models/fraud/ready", 200, map[string]any{"name": "fraud", "ready": true}},
		{"/v2/models/fraud/versions/1.0.0/ready", 200, map[string]any{"name": "fraud", "ready": true}},
		{"/v2/models/fraud", 200, map[string]any{"name": "fraud", "platform": "streamscore"}},
		{"/v2/models/fraud/versions/1.0.0", 200, map[string]any{"name": "fraud"}},
		{"/v2/models/iris", 404, nil},
		{"/v2/models/fraud/versions/2.0.0", 404, nil},
		{"/v2/models/fraud/versions/2.0.0/ready", 404, nil},
	} {
		code, m := get(tc.path)
		if code != tc.code {
			t.Errorf("GET %s: %d %v, want %d", tc.path, code, m, tc.code)
			continue
		}
		if tc.code != 200 {
			if msg, _ := m["error"].(string); msg == "" || len(m) != 1 {
				t.Errorf("GET %s: %v, want the OIP error object {\"error\": message}", tc.path, m)
			}
			continue
		}
		for k, v := range tc.want {
			if m[k] != v {
				t.Errorf("GET %s: %s = %v, want %v", tc.path, k, m[k], v)
			}
		}
	}

	var meta struct {
		Versions []string    `json:"versions"`
		Inputs   []oipTensor `json:"inputs"`
		Outputs  []oipTensor `json:"outputs"`
	}
	_, _, body := do(t, "GET", d.url+"/v2/models/fraud", "", nil)
	if err := json.Unmarshal(body, &meta); err != nil {
		t.Fatal(err)
	}
	wantDT := map[features.InputType]string{features.Number: "FP64", features.Category: "BYTES", features.Bool: "BOOL", features.Timestamp: "INT64"}
	if len(meta.Inputs) != len(b.Layout().Inputs) {
		t.Fatalf("%d inputs, want %d", len(meta.Inputs), len(b.Layout().Inputs))
	}
	for i, in := range b.Layout().Inputs {
		got := meta.Inputs[i]
		if got.Name != in.Name || got.Datatype != wantDT[in.Type] || fmt.Sprint(got.Shape) != "[-1]" {
			t.Errorf("input %d: %+v, want %s %s [-1]", i, got, in.Name, wantDT[in.Type])
		}
	}
	if got := fmt.Sprint(meta.Outputs); got != "[{score FP64 [-1]} {probabilities FP64 [-1 2]} {label BYTES [-1]}]" {
		t.Errorf("outputs %s", got)
	}
	if fmt.Sprint(meta.Versions) != "[1.0.0]" {
		t.Errorf("versions %v", meta.Versions)
	}
	code, _, body := do(t, "POST", d.url+"/v2/models/fraud", "application/json", []byte(`{}`))
	if code != 405 || !strings.HasPrefix(string(body), `{"error":"method POST`) {
		t.Errorf("POST metadata: %d %s, want 405 with the OIP error", code, body)
	}
}

// tensors turns events (decoded JSON objects) into one OIP input tensor per
// bundle input: numbers FP64, categories BYTES, bools BOOL, timestamps BYTES
// (RFC 3339), JSON null for a missing value.
func tensors(t testing.TB, inputs []features.Input, events []map[string]any) []map[string]any {
	t.Helper()
	dt := map[features.InputType]string{features.Number: "FP64", features.Category: "BYTES", features.Bool: "BOOL", features.Timestamp: "BYTES"}
	var out []map[string]any
	for _, in := range inputs {
		data := make([]any, len(events))
		for i, ev := range events {
			data[i] = ev[in.Name]
		}
		out = append(out, map[string]any{"name": in.Name, "datatype": dt[in.Type], "shape": []int{len(events)}, "data": data})
	}
	return out
}

type inferOutput struct {
	Name       string          `json:"name"`
	Datatype   string          `json:"datatype"`
	Shape      []int           `json:"shape"`
	Parameters map[string]int  `json:"parameters"`
	Data       json.RawMessage `json:"data"`
}

type inferResult struct {
	ModelName    string        `json:"model_name"`
	ModelVersion string        `json:"model_version"`
	ID           string        `json:"id"`
	Outputs      []inferOutput `json:"outputs"`
}

// TestInferMatchesPredict: the scored reference events as OIP tensors (JSON
// and binary) give the scores, probabilities and labels /v1/predict gives
// for the same events, exactly.
func TestInferMatchesPredict(t *testing.T) {
	d := newTestDoor(t, Defaults(), Options{})
	b := loadBundle(t, "fraud")
	var raw []string
	var events, complete []map[string]any
	for _, r := range readReference(t, "fraud") {
		var ev map[string]any
		if err := json.Unmarshal(r.Event, &ev); err != nil {
			t.Fatal(err)
		}
		if _, isStr := ev["timestamp"].(string); r.Reject != "" || !isStr {
			continue
		}
		raw = append(raw, string(r.Event))
		events = append(events, ev)
	}
	code, _, body := do(t, "POST", d.url+"/v1/predict", "application/json", []byte("["+strings.Join(raw, ",")+"]"))
	var want []prediction
	if err := json.Unmarshal(body, &want); code != 200 || err != nil {
		t.Fatalf("/v1/predict: %d %v", code, err)
	}
	var wantComplete []prediction
	for i, ev := range events {
		full := true
		for _, in := range b.Layout().Inputs {
			if ev[in.Name] == nil {
				full = false
			}
		}
		if full {
			complete = append(complete, ev)
			wantComplete = append(wantComplete, want[i])
		}
	}
	if len(events) < 1000 || len(complete) < 500 {
		t.Fatalf("%d usable reference events (%d complete), want the bulk of the file", len(events), len(complete))
	}

	t.Run("json", func(t *testing.T) {
		req, _ := json.Marshal(map[string]any{"id": "req-1", "inputs": tensors(t, b.Layout().Inputs, events)})
		code, _, body := do(t, "POST", d.url+"/v2/models/fraud/infer", "application/json", req)
		var res inferResult
		if err := decodeStrict(body, &res); code != 200 || err != nil {
			t.Fatalf("infer: %d %v %s", code, err, body[:min(len(body), 300)])
		}
		if res.ModelName != "fraud" || res.ModelVersion != "1.0.0" || res.ID != "req-1" {
			t.Errorf("model_name %q model_version %q id %q", res.ModelName, res.ModelVersion, res.ID)
		}
		checkOutputs(t, res, nil, want)
	})
	t.Run("binary", func(t *testing.T) {
		req, bin := binaryRequest(t, b.Layout().Inputs, complete)
		body := append(req, bin...)
		code, hdr, resp := do(t, "POST", d.url+"/v2/models/fraud/versions/1.0.0/infer", "application/octet-stream", body,
			headerInferLength, strconv.Itoa(len(req)))
		if code != 200 {
			t.Fatalf("binary infer: %d %s", code, resp)
		}
		hl, err := strconv.Atoi(hdr.Get(headerInferLength))
		if err != nil || hl > len(resp) {
			t.Fatalf("%s %q (body %d bytes)", headerInferLength, hdr.Get(headerInferLength), len(resp))
		}
		var res inferResult
		if err := decodeStrict(resp[:hl], &res); err != nil {
			t.Fatalf("binary infer header: %v", err)
		}
		checkOutputs(t, res, resp[hl:], wantComplete)
	})
}

// binaryRequest is the binary tensor form of events (every input present).
func binaryRequest(t testing.TB, inputs []features.Input, events []map[string]any) (header, bin []byte) {
	t.Helper()
	var ins []map[string]any
	le := binary.LittleEndian
	for _, in := range inputs {
		start := len(bin)
		dt := ""
		for _, ev := range events {
			switch in.Type {
			case features.Number:
				dt = "FP64"
				bin = le.AppendUint64(bin, math.Float64bits(ev[in.Name].(float64)))
			case features.Bool:
				dt = "BOOL"
				v := byte(0)
				if ev[in.Name].(bool) {
					v = 1
				}
				bin = append(bin, v)
			default: // categories, RFC 3339 timestamps
				dt = "BYTES"
				s := ev[in.Name].(string)
				bin = le.AppendUint32(bin, uint32(len(s)))
				bin = append(bin, s...)
			}
		}
		ins = append(ins, map[string]any{"name": in.Name, "datatype": dt, "shape": []int{len(events), 1},
			"parameters": map[string]any{"binary_data_size": len(bin) - start}})
	}
	header, err := json.Marshal(map[string]any{"inputs": ins, "parameters": map[string]any{"binary_data_output": true}})
	if err != nil {
		t.Fatal(err)
	}
	return header, bin
}

// checkOutputs compares the outputs (JSON data, or binary data in bin) with
// the prediction records want.
func checkOutputs(t *testing.T, res inferResult, bin []byte, want []prediction) {
	t.Helper()
	n := len(want)
	if len(res.Outputs) != 3 {
		t.Fatalf("%d outputs, want score, probabilities, label", len(res.Outputs))
	}
	var scores, probs []float64
	var labels []string
	le := binary.LittleEndian
	for _, o := range res.Outputs {
		var data []byte
		if size, ok := o.Parameters["binary_data_size"]; ok {
			if bin == nil || size > len(bin) {
				t.Fatalf("output %s: binary_data_size %d, %d bytes left", o.Name, size, len(bin))
			}
			data, bin = bin[:size], bin[size:]
		} else if bin != nil {
			t.Fatalf("output %s has no binary data in a binary answer", o.Name)
		}
		switch o.Name {
		case OutputScore, OutputProbabilities:
			var vals []float64
			if data != nil {
				for i := 0; i+8 <= len(data); i += 8 {
					vals = append(vals, math.Float64frombits(le.Uint64(data[i:])))
				}
			} else if err := json.Unmarshal(o.Data, &vals); err != nil {
				t.Fatal(err)
			}
			if o.Name == OutputScore {
				scores = vals
				if o.Datatype != "FP64" || fmt.Sprint(o.Shape) != fmt.Sprint([]int{n}) {
					t.Errorf("score: %s %v", o.Datatype, o.Shape)
				}
			} else {
				probs = vals
				if o.Datatype != "FP64" || fmt.Sprint(o.Shape) != fmt.Sprint([]int{n, 2}) {
					t.Errorf("probabilities: %s %v", o.Datatype, o.Shape)
				}
			}
		case OutputLabel:
			if data != nil {
				for len(data) >= 4 {
					l := int(le.Uint32(data))
					labels = append(labels, string(data[4:4+l]))
					data = data[4+l:]
				}
			} else if err := json.Unmarshal(o.Data, &labels); err != nil {
				t.Fatal(err)
			}
			if o.Datatype != "BYTES" || fmt.Sprint(o.Shape) != fmt.Sprint([]int{n}) {
				t.Errorf("label: %s %v", o.Datatype, o.Shape)
			}
		}
	}
	if len(scores) != n || len(probs) != 2*n || len(labels) != n {
		t.Fatalf("%d scores, %d probabilities, %d labels for %d rows", len(scores), len(probs), len(labels), n)
	}
	bad := 0
	for i, w := range want {
		if scores[i] != w.Score || probs[2*i] != w.Probabilities[0].Probability || probs[2*i+1] != w.Probabilities[1].Probability || labels[i] != *w.Label {
			if bad++; bad <= 5 {
				t.Errorf("row %d: score %v probs %v label %q; /v1/predict: %v %v %v %q", i, scores[i], probs[2*i:2*i+2], labels[i],
					w.Score, w.Probabilities[0].Probability, w.Probabilities[1].Probability, *w.Label)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d rows differ from /v1/predict", bad, n)
	}
}

func TestInferErrors(t *testing.T) {
	d := newTestDoor(t, Defaults(), Options{})
	ts := `{"name":"timestamp","datatype":"BYTES","shape":[1],"data":["2026-02-07T19:26:47Z"]}`
	amount := `{"name":"amount","datatype":"FP64","shape":[1],"data":[12.5]}`
	req := func(inputs ...string) string { return `{"inputs":[` + strings.Join(inputs, ",") + `]}` }
	for _, tc := range []struct {
		name, path, body string
		code             int
		msg              string // part of the error message
	}{
		{"ok", "fraud/infer", req(amount, ts), 200, ""},
		{"nested data [n,1]", "fraud/infer", req(`{"name":"amount","datatype":"FP64","shape":[1,1],"data":[[12.5]]}`, ts), 200, ""},
		{"integer datatype", "fraud/infer", req(`{"name":"amount","datatype":"INT32","shape":[1],"data":[12]}`, ts), 200, ""},
		{"timestamp as epoch ms", "fraud/infer", req(amount, `{"name":"timestamp","datatype":"INT64","shape":[1],"data":[1770492407000]}`), 200, ""},
		{"escaped string, spaced nesting", "fraud/infer", req(amount, ts, `{"name":"country","datatype":"BYTES","shape":[1,1],"data":[ [ "D\u0045\"" ] ]}`), 200, ""},
		{"integer tensor for a category (its decimal text)", "fraud/infer", req(amount, ts, `{"name":"merchant_category","datatype":"INT64","shape":[1],"data":[5411]}`), 200, ""},
		{"FP64 integer with a fraction part for a category: the value, as binary FP64", "fraud/infer", req(amount, ts, `{"name":"merchant_category","datatype":"FP64","shape":[1],"data":[5411.0]}`), 200, ""},
		{"rejected row: fraction for a category", "fraud/infer", req(amount, ts, `{"name":"merchant_category","datatype":"FP64","shape":[1],"data":[1.5]}`), 400, "wrong_type: field merchant_category"},
		{"rejected row: BYTES for a bool", "fraud/infer", req(amount, ts, `{"name":"card_present","datatype":"BYTES","shape":[1],"data":["true"]}`), 400, "wrong_type: field card_present"},
		{"scalar data", "fraud/infer", req(`{"name":"amount","datatype":"FP64","shape":[1],"data":12.5}`, ts), 400, "not an array"},
		{"unknown model", "iris/infer", req(amount, ts), 404, `unknown model "iris"`},
		{"unknown version", "fraud/versions/7/infer", req(amount, ts), 404, `no version "7"`},
		{"not JSON", "fraud/infer", `{"inputs":`, 400, "not an inference request"},
		{"output twice", "fraud/infer", `{"inputs":[` + amount + `,` + ts + `],"outputs":[{"name":"score"},{"name":"score"}]}`, 400, `output "score" is asked for twice`},
		{"id not a string", "fraud/infer", `{"id":5,"inputs":[]}`, 400, `field "id" is a JSON number, the protocol has a string there`},
		{"inputs not an array", "fraud/infer", `{"inputs":{"a":1}}`, 400, `field "inputs" is a JSON object, the protocol has an array there`},
		{"shape not integers", "fraud/infer", `{"inputs":[{"name":"amount","datatype":"FP64","shape":["1"],"data":[1]}]}`, 400, `field "inputs.shape" is a JSON string, the protocol has a number there`},
		{"no inputs", "fraud/infer", `{"inputs":[]}`, 400, "no inputs"},
		{"unknown input", "fraud/infer", req(amount, ts, `{"name":"zip","datatype":"BYTES","shape":[1],"data":["x"]}`), 400, `input "zip"`},
		{"input twice", "fraud/infer", req(amount, amount, ts), 400, "given twice"},
		{"bad shape", "fraud/infer", req(`{"name":"amount","datatype":"FP64","shape":[1,2],"data":[1,2]}`, ts), 400, "want [n] or [n, 1]"},
		{"shape and data disagree", "fraud/infer", req(`{"name":"amount","datatype":"FP64","shape":[2],"data":[1]}`, ts), 400, "says 2 values, data has 1"},
		{"rows disagree", "fraud/infer", req(`{"name":"amount","datatype":"FP64","shape":[2],"data":[1,2]}`, ts), 400, "every input needs one value per row"},
		{"unsupported datatype", "fraud/infer", req(`{"name":"amount","datatype":"FP16","shape":[1],"data":[1]}`, ts), 400, "FP16"},
		{"string in FP64", "fraud/infer", req(`{"name":"amount","datatype":"FP64","shape":[1],"data":["1"]}`, ts), 400, "holds a string"},
		{"fraction in INT64", "fraud/infer", req(`{"name":"amount","datatype":"INT64","shape":[1],"data":[1.5]}`, ts), 400, "not an INT64"},
		{"object in data", "fraud/infer", req(`{"name":"amount","datatype":"FP64","shape":[1],"data":[{"a":1}]}`, ts), 400, "holds an object"},
		{"rejected row: wrong type", "fraud/infer", req(`{"name":"amount","datatype":"BYTES","shape":[1],"data":["x"]}`, ts), 400, "row 0 of 1: wrong_type: field amount"},
		{"rejected row: required input absent", "fraud/infer", req(ts), 400, "row 0 of 1: missing_field: field amount"},
		{"rejected row: null", "fraud/infer", req(`{"name":"amount","datatype":"FP64","shape":[1],"data":[null]}`, ts), 400, "missing_field"},
		{"rejected row: FP32 overflow", "fraud/infer", req(`{"name":"amount","datatype":"FP32","shape":[1],"data":[1e39]}`, ts), 400, "not_finite"},
		{"unknown output", "fraud/infer", `{"inputs":[` + amount + "," + ts + `],"outputs":[{"name":"logits"}]}`, 400, `output "logits"`},
		{"binary size past the body", "fraud/infer", req(`{"name":"amount","datatype":"FP64","shape":[1],"parameters":{"binary_data_size":8}}`, ts), 400, "binary_data_size"},
		{"no data", "fraud/infer", req(`{"name":"amount","datatype":"FP64","shape":[1]}`, ts), 400, "no data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := do(t, "POST", d.url+"/v2/models/"+tc.path, "application/json", []byte(tc.body))
			if code != tc.code {
				t.Fatalf("status %d, want %d: %s", code, tc.code, body)
			}
			if tc.code == 200 {
				var res inferResult
				if err := decodeStrict(body, &res); err != nil || len(res.Outputs) != 3 {
					t.Errorf("%v: %s", err, body)
				}
				return
			}
			var e struct{ Error string }
			if err := decodeStrict(body, &e); err != nil || !strings.Contains(e.Error, tc.msg) {
				t.Errorf("body %s (%v), want an OIP error containing %q", body, err, tc.msg)
			}
		})
	}
	// Outputs can be chosen, in the order asked.
	code, _, body := do(t, "POST", d.url+"/v2/models/fraud/infer", "application/json",
		[]byte(`{"inputs":[`+amount+","+ts+`],"outputs":[{"name":"label"},{"name":"score"}]}`))
	var res inferResult
	if err := json.Unmarshal(body, &res); code != 200 || err != nil || len(res.Outputs) != 2 || res.Outputs[0].Name != "label" || res.Outputs[1].Name != "score" {
		t.Errorf("chosen outputs: %d %s", code, body)
	}
	code, _, body = do(t, "GET", d.url+"/v2/models/fraud/infer", "", nil)
	if code != 405 || !bytes.HasPrefix(body, []byte(`{"error":`)) {
		t.Errorf("GET infer: %d %s, want 405 with the OIP error", code, body)
	}
	code, _, body = do(t, "POST", d.url+"/v2/models/fraud/infer", "text/csv", []byte(req(amount, ts)))
	if code != 415 {
		t.Errorf("text/csv infer: %d %s, want 415", code, body)
	}
}

// TestInferShapeDoesNotAllocate: a tensor's shape is a claim, not a size to
// allocate. A 150-byte request saying shape [2^31-1] once made the door
// reserve 16 GiB per input before it looked at the data (the kernel's OOM
// killer ended `serve`); the door may allocate only what the body holds.
func TestInferShapeDoesNotAllocate(t *testing.T) {
	md := newTestDoor(t, Defaults(), Options{}).model.Load()
	for _, tc := range []struct{ name, tensor string }{
		{"json data", `{"name":"amount","datatype":"FP64","shape":[16777216],"data":[1]}`},
		{"binary data", `{"name":"amount","datatype":"FP64","shape":[16777216],"parameters":{"binary_data_size":8}}`},
		{"binary bytes", `{"name":"country","datatype":"BYTES","shape":[16777216],"parameters":{"binary_data_size":5}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := `{"inputs":[` + tc.tensor + `]}`
			body := append([]byte(hdr), 1, 0, 0, 0, 'x', 0, 0, 0) // one FP64, or one BYTES element "x" (and 3 bytes no input claims)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _, _, _, err := parseInfer(md.oip, body, strconv.Itoa(len(hdr)))
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), "16777216") {
				t.Errorf("parseInfer: %v, want an error naming the shape", err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
				t.Errorf("parseInfer allocated %d bytes for a %d-byte request, want at most 1 MiB", got, len(body))
			}
		})
	}
}

// TestInferFloatForCategory: a float tensor for a category input answers
// alike as JSON and as binary data, and as /v1/predict answers the JSON
// integer: an integral value is the category of its decimal text (5411.0,
// and 1234567.0 too, which the shortest float form writes 1.234567e+06),
// a fraction is wrong_type.
func TestInferFloatForCategory(t *testing.T) {
	d := newTestDoor(t, Defaults(), Options{})
	const fixed = `"amount":12.5,"timestamp":1770492407000`
	prefix := `{"name":"amount","datatype":"FP64","shape":[1],"data":[12.5]},{"name":"timestamp","datatype":"INT64","shape":[1],"data":[1770492407000]},`
	for _, tc := range []struct {
		v    float64
		text string // the JSON literal sent, and what /v1/predict gets
		code int
	}{
		{5411, "5411.0", 200},
		{1234567, "1234567.0", 200},
		{-3e15, "-3000000000000000", 200},
		{1.5, "1.5", 400},
	} {
		var want []byte
		if tc.code == 200 {
			intText := strconv.FormatFloat(tc.v, 'f', -1, 64)
			_, _, rec := do(t, "POST", d.url+"/v1/predict", "application/json", []byte(`{`+fixed+`,"merchant_category":`+intText+`}`))
			var p prediction
			if err := json.Unmarshal(rec, &p); err != nil {
				t.Fatalf("/v1/predict with merchant_category %s: %s", intText, rec)
			}
			want = strconv.AppendFloat(nil, p.Score, 'g', -1, 64)
		}
		jsonReq := `{"inputs":[` + prefix + `{"name":"merchant_category","datatype":"FP64","shape":[1],"data":[` + tc.text + `]}]}`
		hdr := `{"inputs":[` + prefix + `{"name":"merchant_category","datatype":"FP64","shape":[1],"parameters":{"binary_data_size":8}}]}`
		binReq := binary.LittleEndian.AppendUint64([]byte(hdr), math.Float64bits(tc.v))
		for _, form := range []struct {
			name  string
			body  []byte
			ctype string
			hdr   []string
		}{
			{"json", []byte(jsonReq), "application/json", nil},
			{"binary", binReq, "application/octet-stream", []string{headerInferLength, strconv.Itoa(len(hdr))}},
		} {
			code, _, body := do(t, "POST", d.url+"/v2/models/fraud/infer", form.ctype, form.body, form.hdr...)
			if code != tc.code {
				t.Errorf("%s FP64 %s for a category: %d %s, want %d", form.name, tc.text, code, body, tc.code)
				continue
			}
			if tc.code == 200 && !bytes.Contains(body, append(append([]byte(`"name":"score","datatype":"FP64","shape":[1],"data":[`), want...), ']')) {
				t.Errorf("%s FP64 %s for a category: %s, want the score /v1/predict gives (%s)", form.name, tc.text, body, want)
			}
		}
	}
}
