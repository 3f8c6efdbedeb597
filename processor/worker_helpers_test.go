package processor

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// jsonIn is the input section of the in-process pipelines of these tests.
var jsonIn = schemas.InputConfig{Format: "json", MaxRecordBytes: 1 << 20}

// jsonPath is bundle b's prediction path, JSON in (section in) and out;
// wrap, if set, wraps each decoder.
func jsonPath(tb testing.TB, b *scoring.Bundle, in schemas.InputConfig, wrap func(schemas.Decoder) schemas.Decoder) *predict.Path {
	tb.Helper()
	enc, err := schemas.NewEncoder(context.Background(), schemas.OutputConfig{Format: "json", Topic: "out"}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return predict.New(b, func() (schemas.Decoder, error) {
		d, err := schemas.NewDecoder(in, b.Layout(), nil)
		if err == nil && wrap != nil {
			d = wrap(d)
		}
		return d, err
	}, enc, false)
}

// testPipeline is a worker's pipeline on path (topics out and dlq) with
// drift monitoring over window (0: off), its metrics on their own registry.
func testPipeline(tb testing.TB, path *predict.Path, window time.Duration) (*Pipeline, *Metrics, *prometheus.Registry) {
	tb.Helper()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	p := &Pipeline{Path: path, OutputTopic: "out", DLQTopic: "dlq"}
	if err := p.init(m, slog.New(slog.NewTextHandler(io.Discard, nil)), window); err != nil {
		tb.Fatal(err)
	}
	return p, m, reg
}

// fraudWorker is a worker of the fraud bundle's testPipeline (jsonPath with
// in and wrap, drift over window), outside Kafka.
func fraudWorker(tb testing.TB, in schemas.InputConfig, wrap func(schemas.Decoder) schemas.Decoder, window time.Duration) *worker {
	tb.Helper()
	b, err := scoring.Load("../examples/fraud")
	if err != nil {
		tb.Fatal(err)
	}
	p, _, _ := testPipeline(tb, jsonPath(tb, b, in, wrap), window)
	w, err := newWorker(p)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}
