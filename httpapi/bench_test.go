package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/drift"
)

// The handlers' own cost per request, without a network: what the door adds
// to the path (reading the body, splitting arrays, building OIP rows,
// writing the answer). docs/BENCHMARKS.md, "HTTP door".

const irisEvent = `{"sepal_length":6.6,"sepal_width":3.0,"petal_length":4.4,"petal_width":1.4}`

// benchServer is the door on examples/<bundle> as serve runs it by default:
// drift monitoring on (monitor.drift_window's default).
func benchServer(b *testing.B, bundle string) http.Handler {
	s, err := New(Defaults(), jsonPath(b, loadBundle(b, bundle), streamInput, false), nil, nil,
		Options{DriftWindow: drift.DefaultConfig().Window})
	if err != nil {
		b.Fatal(err)
	}
	return s.Handler()
}

func benchPost(b *testing.B, h http.Handler, path string, body []byte, rows int) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r := httptest.NewRequest("POST", path, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body.Bytes())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows), "ns/event")
}

func BenchmarkPredictOne(b *testing.B) {
	benchPost(b, benchServer(b, "iris"), RoutePredict, []byte(irisEvent), 1)
}

func BenchmarkPredictArray100(b *testing.B) {
	body := "[" + strings.Repeat(irisEvent+",", 99) + irisEvent + "]"
	benchPost(b, benchServer(b, "iris"), RoutePredict, []byte(body), 100)
}

func irisInfer(n int) []byte {
	cols := []struct {
		name string
		v    float64
	}{{"sepal_length", 6.6}, {"sepal_width", 3.0}, {"petal_length", 4.4}, {"petal_width", 1.4}}
	var ins []map[string]any
	for _, c := range cols {
		data := make([]float64, n)
		for i := range data {
			data[i] = c.v
		}
		ins = append(ins, map[string]any{"name": c.name, "datatype": "FP64", "shape": []int{n}, "data": data})
	}
	b, _ := json.Marshal(map[string]any{"id": strconv.Itoa(n), "inputs": ins})
	return b
}

func BenchmarkInferOne(b *testing.B) {
	benchPost(b, benchServer(b, "iris"), "/v2/models/iris/infer", irisInfer(1), 1)
}

func BenchmarkInfer100(b *testing.B) {
	benchPost(b, benchServer(b, "iris"), "/v2/models/iris/infer", irisInfer(100), 100)
}

// BenchmarkTooManyElements is the event-limit scan over a 1000-event array
// (225 KB): what a body long enough to be scanned pays before it is split.
func BenchmarkTooManyElements(b *testing.B) {
	body := []byte("[" + strings.TrimSuffix(strings.Repeat(goodEvent+",", 1000), ",") + "]")
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if tooManyElements(body, Defaults().MaxEvents) {
			b.Fatal("1000 events past the default limit")
		}
	}
}
