package httpapi

import (
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/internal/metric/metrictest"
	"github.com/streamscore/streamscore/predict"
)

// answered is what the door's answers held: predictions per label, their
// number and the sum of their scores.
type answered struct {
	labels map[string]int
	n      int
	sum    float64
}

func (a *answered) add(label string, score float64) {
	a.labels[label]++
	a.n++
	a.sum += score
}

// checkPredictionMetrics checks the door's prediction metrics of version
// (door="http") against what its answers held.
func checkPredictionMetrics(t *testing.T, reg prometheus.Gatherer, version string, want answered) {
	t.Helper()
	for _, label := range loadBundle(t, "fraud").Labels() {
		got := metrictest.MustValue(t, reg, "streamscore_predictions_by_label_total",
			"door", "http", "model", "fraud", "version", version, "label", label)
		if got != float64(want.labels[label]) {
			t.Errorf("predictions_by_label_total{door=http, version=%s, label=%q} = %v, want %d (the answers')", version, label, got, want.labels[label])
		}
	}
	n, sum, ok := metrictest.Histogram(t, reg, "streamscore_prediction_score", "door", "http", "model", "fraud", "version", version)
	if !ok || n != uint64(want.n) || math.Abs(sum-want.sum) > 1e-9*float64(want.n) {
		t.Errorf("prediction_score{door=http, version=%s}: count %d sum %v (found %v), want %d and %v", version, n, sum, ok, want.n, want.sum)
	}
}

// TestPredictionMetrics: every prediction the door answers counts in
// streamscore_predictions_by_label_total and streamscore_prediction_score
// under door="http" and the version that scored it, through /v1/predict
// (one event, an array) and OIP infer (JSON and binary tensors). A
// rejected event counts nothing, nor does any row of an infer request with
// a rejected row (it answers none of them).
func TestPredictionMetrics(t *testing.T) {
	d := newTestDoor(t, Defaults(), Options{})
	b := loadBundle(t, "fraud")
	var scoredRaw, rejectedRaw []string
	var events, complete []map[string]any // for infer: timestamps as text, the rows with every input
	for _, r := range readReference(t, "fraud") {
		if r.Reject != "" {
			rejectedRaw = append(rejectedRaw, string(r.Event))
			continue
		}
		scoredRaw = append(scoredRaw, string(r.Event))
		var ev map[string]any
		if err := json.Unmarshal(r.Event, &ev); err != nil {
			t.Fatal(err)
		}
		if _, isStr := ev["timestamp"].(string); !isStr {
			continue
		}
		events = append(events, ev)
		if !slices.ContainsFunc(b.Layout().Inputs, func(in features.Input) bool { return ev[in.Name] == nil }) {
			complete = append(complete, ev)
		}
	}
	if len(rejectedRaw) == 0 || len(events) < 1000 || len(complete) < 500 {
		t.Fatalf("%d rejected, %d usable and %d complete reference events: want the bulk of the file", len(rejectedRaw), len(events), len(complete))
	}
	want := answered{labels: map[string]int{}}

	for _, ev := range scoredRaw[:10] {
		code, _, body := do(t, http.MethodPost, d.url+RoutePredict, "application/json", []byte(ev))
		var p prediction
		if err := json.Unmarshal(body, &p); code != 200 || err != nil || p.Label == nil {
			t.Fatalf("/v1/predict: %d %s (%v)", code, body, err)
		}
		want.add(*p.Label, p.Score)
	}
	code, _, body := do(t, http.MethodPost, d.url+RoutePredict, "application/json",
		[]byte("["+strings.Join(append(rejectedRaw, scoredRaw...), ",")+"]"))
	var elems []map[string]json.RawMessage
	if err := json.Unmarshal(body, &elems); code != 200 || err != nil || len(elems) != len(rejectedRaw)+len(scoredRaw) {
		t.Fatalf("/v1/predict array: %d, %d elements (%v)", code, len(elems), err)
	}
	for i, e := range elems {
		if _, isErr := e["error"]; isErr != (i < len(rejectedRaw)) {
			t.Fatalf("array element %d: %v, want a reject exactly for the reference's rejects", i, e)
		}
		var label string
		var score float64
		if e["error"] == nil {
			if json.Unmarshal(e["label"], &label) != nil || json.Unmarshal(e["score"], &score) != nil {
				t.Fatalf("array element %d: no label or score", i)
			}
			want.add(label, score)
		}
	}

	addInfer := func(res inferResult) {
		t.Helper()
		var labels []string
		var scores []float64
		for _, o := range res.Outputs {
			switch o.Name {
			case OutputLabel:
				_ = json.Unmarshal(o.Data, &labels)
			case OutputScore:
				_ = json.Unmarshal(o.Data, &scores)
			}
		}
		if len(labels) == 0 || len(labels) != len(scores) {
			t.Fatalf("infer answer: %d labels, %d scores", len(labels), len(scores))
		}
		for i := range labels {
			want.add(labels[i], scores[i])
		}
	}
	req, _ := json.Marshal(map[string]any{"inputs": tensors(t, b.Layout().Inputs, events)})
	code, _, body = do(t, http.MethodPost, d.url+"/v2/models/fraud/infer", "application/json", req)
	var res inferResult
	if err := json.Unmarshal(body, &res); code != 200 || err != nil {
		t.Fatalf("infer: %d %v", code, err)
	}
	addInfer(res)
	// Binary tensors answer binary outputs: asked as JSON ones here
	// ("binary_data": false), so the answer reads like the one above.
	hdr, bin := binaryRequest(t, b.Layout().Inputs, complete)
	var breq map[string]any
	if err := json.Unmarshal(hdr, &breq); err != nil {
		t.Fatal(err)
	}
	breq["outputs"] = []map[string]any{{"name": OutputScore, "parameters": map[string]any{"binary_data": false}},
		{"name": OutputLabel, "parameters": map[string]any{"binary_data": false}}}
	hdr, _ = json.Marshal(breq)
	code, _, body = do(t, http.MethodPost, d.url+"/v2/models/fraud/versions/1.0.0/infer", "application/octet-stream",
		append(hdr, bin...), headerInferLength, strconv.Itoa(len(hdr)))
	res = inferResult{}
	if err := json.Unmarshal(body, &res); code != 200 || err != nil {
		t.Fatalf("binary infer: %d %v %.300s", code, err, body)
	}
	addInfer(res)

	// One rejected row: the request answers 400 and none of its scored rows.
	bad := slices.Clone(events[:50])
	bad[7] = map[string]any{"amount": nil, "timestamp": events[7]["timestamp"]}
	req, _ = json.Marshal(map[string]any{"inputs": tensors(t, b.Layout().Inputs, bad)})
	if code, _, body := do(t, http.MethodPost, d.url+"/v2/models/fraud/infer", "application/json", req); code != 400 {
		t.Fatalf("infer with a rejected row: %d %s, want 400", code, body)
	}

	if want.labels["High Risk"] == 0 || want.labels["Low Risk"] == 0 {
		t.Fatalf("answers %v: want both labels", want.labels)
	}
	checkPredictionMetrics(t, d.reg, "1.0.0", want)
	for _, name := range []string{"streamscore_predictions_by_label_total", "streamscore_prediction_score"} {
		for _, s := range metrictest.Series(t, d.reg, name) {
			if s["door"] != "http" || s["version"] != "1.0.0" {
				t.Errorf("%s%v: want door=\"http\", version 1.0.0 only", name, s)
			}
		}
	}
}

// TestSwapDeletesStaleSeries: the door's lineup is its live model. After
// SetPath the predictions count under the new version; the series of a
// version two swaps back are deleted (the previous one stays, so its last
// increments are scraped), and only the door's own: the stream's series
// of that version on the same registry (run with http.predict) stay.
func TestSwapDeletesStaleSeries(t *testing.T) {
	d := newTestDoor(t, Defaults(), Options{})
	stream := predict.NewPredictions(d.reg).ForDoor(predict.DoorStream)
	stream.Model(d.Path()) // version 1.0.0, as the stream of the same process would
	stream.Lineup(d.Path())
	event := readReference(t, "fraud")[0].Event
	for _, step := range []struct {
		version string
		want    []string // the door's versions with series after a prediction
	}{
		{"1.0.0", []string{"1.0.0"}},
		{"2.0.0", []string{"1.0.0", "2.0.0"}},
		{"3.0.0", []string{"2.0.0", "3.0.0"}},
	} {
		if step.version != "1.0.0" {
			v := *loadBundle(t, "fraud")
			v.Version = step.version
			if err := d.SetPath(jsonPath(t, &v, streamInput, false)); err != nil {
				t.Fatal(err)
			}
		}
		code, _, body := do(t, http.MethodPost, d.url+RoutePredict, "application/json", event)
		var p prediction
		if err := json.Unmarshal(body, &p); code != 200 || err != nil || p.Label == nil || p.ModelVersion != step.version {
			t.Fatalf("/v1/predict after the swap to %s: %d %s", step.version, code, body)
		}
		checkPredictionMetrics(t, d.reg, step.version, answered{labels: map[string]int{*p.Label: 1}, n: 1, sum: p.Score})
		var got []string
		for _, name := range []string{"streamscore_predictions_by_label_total", "streamscore_prediction_score"} {
			for _, s := range metrictest.Series(t, d.reg, name, "door", "http") {
				if !slices.Contains(got, s["version"]) {
					got = append(got, s["version"])
				}
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, step.want) {
			t.Errorf("after the swap to %s: the door's versions %v, want %v", step.version, got, step.want)
		}
		if n := len(metrictest.Series(t, d.reg, "streamscore_predictions_by_label_total", "door", "stream", "version", "1.0.0")); n != 2 {
			t.Errorf("after the swap to %s: %d stream series of 1.0.0, want 2 (one per label): a door deletes only its own", step.version, n)
		}
	}
}
