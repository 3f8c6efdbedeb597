package processor

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/drift"
	"github.com/streamscore/streamscore/internal/gen"
)

// BenchmarkWorkerProcess is the per-record cost of the pipeline without
// Kafka: JSON decode, fraud features, XGBoost, decision, JSON encode and
// building the output record, over micro-batches of 500. It is what the
// processor adds on top of a consume -> produce passthrough.
func BenchmarkWorkerProcess(b *testing.B) {
	in := jsonIn
	in.EventIDField = "transaction_id"
	w := fraudWorker(b, in, nil, drift.DefaultConfig().Window) // the default drift window, as the service runs
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
