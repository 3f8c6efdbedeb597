package processor

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/internal/gen"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// bugDecoder wraps the real JSON decoder and panics on values containing
// "boom", standing in for a decoder bug on one odd record.
type bugDecoder struct{ schemas.Decoder }

func (d bugDecoder) Decode(v []byte, row *features.Row) (schemas.Meta, error) {
	if bytes.Contains(v, []byte("boom")) {
		var fields [][]byte
		_ = fields[len(v)] // index out of range: a real runtime panic
	}
	return d.Decoder.Decode(v, row)
}

// TestPanicOnOneRecordGoesToDLQ: a bug that panics on one record sends that
// record to the DLQ (internal_error) and the rest of the batch is scored.
func TestPanicOnOneRecordGoesToDLQ(t *testing.T) {
	bundle, err := scoring.Load("../examples/fraud")
	if err != nil {
		t.Fatal(err)
	}
	in := schemas.InputConfig{Format: "json", MaxRecordBytes: 1 << 20}
	enc, err := schemas.NewEncoder(context.Background(), schemas.OutputConfig{Format: "json", Topic: "out"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	newDecoder := func() (schemas.Decoder, error) {
		d, err := schemas.NewDecoder(in, bundle.Layout(), nil)
		return bugDecoder{d}, err
	}
	p := &Pipeline{Path: predict.New(bundle, newDecoder, enc, false), OutputTopic: "out", DLQTopic: "dlq"}
	p.init(NewMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	w, err := newWorker(p)
	if err != nil {
		t.Fatal(err)
	}
	g := gen.NewFraud(9, 10)
	var recs []*kgo.Record
	for i := 0; i < 5; i++ {
		_, v := g.Next(nil, time.Now())
		if i == 2 {
			v = append(v[:len(v)-1], []byte(`,"note":"boom"}`)...)
		}
		recs = append(recs, &kgo.Record{Topic: "in", Offset: int64(i), Value: v})
	}
	var got []output
	if !w.process(recs, nil, func(o output) { got = append(got, o) }) {
		t.Fatal("process aborted")
	}
	if len(got) != 5 {
		t.Fatalf("outputs = %d, want 5 (one per input)", len(got))
	}
	for i, o := range got {
		if o.src.Offset != int64(i) {
			t.Errorf("output %d is for offset %d: order lost", i, o.src.Offset)
		}
		wantDLQ := i == 2
		if o.dlq != wantDLQ || (wantDLQ && o.reason != reject.Internal) {
			t.Errorf("output %d: dlq=%v reason=%q, want dlq=%v reason %q", i, o.dlq, o.reason, wantDLQ, reject.Internal)
		}
	}
}
