package gen_test

import (
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/gen"
	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// TestEventsFitTheFraudBundle: every generated event decodes into the fraud
// bundle's inputs and is scored, and every poison kind is rejected with the
// DLQ reason it is named after. The demo, the load generator and the fault
// tests rely on both.
func TestEventsFitTheFraudBundle(t *testing.T) {
	b, err := scoring.Load("../../examples/fraud")
	if err != nil {
		t.Fatal(err)
	}
	dec, err := schemas.NewDecoder(schemas.InputConfig{Format: "json", MaxRecordBytes: 1 << 20, EventIDField: "transaction_id"}, b.Layout(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := b.NewScorer()
	g := gen.NewFraud(1, 100)
	now := time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC)
	high := 0
	for i := 0; i < 2000; i++ {
		key, v := g.Next(nil, now)
		row := b.Layout().NewRow()
		meta, err := dec.Decode(v, row)
		if err != nil {
			t.Fatalf("event %d does not decode: %v: %s", i, err, v)
		}
		if len(key) == 0 || len(meta.EventID) == 0 {
			t.Fatalf("event %d: key %q, event id %q", i, key, meta.EventID)
		}
		p := sc.ScoreOne(row)
		if p.Reject != "" {
			t.Fatalf("event %d rejected (%s %s): %s", i, p.Reject, p.RejectFeature, v)
		}
		if p.Label == "High Risk" {
			high++
		}
	}
	if high == 0 || high > 400 {
		t.Errorf("%d of 2000 events High Risk, want some but a minority", high)
	}

	for _, kind := range gen.PoisonKinds {
		_, v := g.Poison(kind, now, 2<<20)
		row := b.Layout().NewRow()
		_, err := dec.Decode(v, row) // too_large: 2 MiB against the 1 MiB limit
		reason, poison := reject.Of(err)
		if !poison {
			t.Errorf("poison %s: decoded without a poison error (err %v)", kind, err)
			continue
		}
		if string(reason) != kind {
			t.Errorf("poison %s: reason %q (%v)", kind, reason, err)
		}
	}
}
