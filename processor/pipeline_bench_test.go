package processor

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/drift"
	"github.com/streamscore/streamscore/internal/gen"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// BenchmarkWorkerProcess is the per-record cost of the pipeline without
// Kafka: JSON decode, fraud features, XGBoost, decision, JSON encode and
// building the output record, over micro-batches of 500. It is what the
// processor adds on top of a consume -> produce passthrough.
func BenchmarkWorkerProcess(b *testing.B) {
	bundle, err := scoring.Load("../examples/fraud")
	if err != nil {
		b.Fatal(err)
	}
	in := schemas.InputConfig{Format: "json", MaxRecordBytes: 1 << 20, EventIDField: "transaction_id"}
	enc, err := schemas.NewEncoder(context.Background(), schemas.OutputConfig{Format: "json", Topic: "out"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	newDecoder := func() (schemas.Decoder, error) { return schemas.NewDecoder(in, bundle.Layout(), nil) }
	p := &Pipeline{Path: predict.New(bundle, newDecoder, enc, false), OutputTopic: "out", DLQTopic: "dlq"}
	if err := p.init(NewMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)), drift.DefaultConfig().Window); err != nil { // the default drift window, as the service runs
		b.Fatal(err)
	}
	w, err := newWorker(p)
	if err != nil {
		b.Fatal(err)
	}
	g := gen.NewFraud(5, 1000)
	const batch = 500
	recs := make([]*kgo.Record, batch)
	now := time.Now()
	for i := range recs {
		k, v := g.Next(nil, now)
		recs[i] = &kgo.Record{Topic: "in", Key: k, Value: v, Timestamp: now}
	}
	outputs := 0
	emit := func(o output) {
		if !o.dlq {
			outputs++
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.process(recs, nil, emit)
	}
	b.StopTimer()
	if outputs != b.N*batch {
		b.Fatalf("predictions = %d, want %d", outputs, b.N*batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/record")
	b.ReportMetric(0, "ns/op")
}
