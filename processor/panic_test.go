package processor

import (
	"bytes"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/internal/gen"
	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas"
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
	w := fraudWorker(t, jsonIn, func(d schemas.Decoder) schemas.Decoder { return bugDecoder{d} }, 0)
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
