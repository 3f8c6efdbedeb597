package schemas

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/internal/golden"
	"github.com/streamscore/streamscore/reject"
)

// fraudInputs are the inputs of the fraud example as the tests assume them.
func fraudInputs() []features.Input {
	return []features.Input{
		{Name: "amount", Type: features.Number, Required: true},
		{Name: "avg_amount_30d", Type: features.Number},
		{Name: "merchant_category", Type: features.Category},
		{Name: "country", Type: features.Category},
		{Name: "card_present", Type: features.Bool},
		{Name: "distance_from_home_km", Type: features.Number},
		{Name: "txn_count_24h", Type: features.Number},
		{Name: "timestamp", Type: features.Timestamp, Required: true},
	}
}

func mustLayout(t testing.TB, inputs []features.Input) *features.Layout {
	t.Helper()
	l, err := features.NewLayout(inputs)
	if err != nil {
		t.Fatalf("NewLayout: %v", err)
	}
	return l
}

const fraudJSON = `{"transaction_id":"tx-000123","card_id":"card-42","amount":120.5,"avg_amount_30d":48.25,` +
	`"merchant_category":"electronics","country":"DE","card_present":false,"distance_from_home_km":523.7,` +
	`"txn_count_24h":7,"timestamp":"2026-03-14T09:26:53.589Z"}`

// fraudNative is fraudJSON as goavro native data for fraud_transaction.avsc.
func fraudNative() map[string]any {
	return map[string]any{
		"transaction_id":        "tx-000123",
		"card_id":               "card-42",
		"amount":                120.5,
		"avg_amount_30d":        map[string]any{"double": 48.25},
		"merchant_category":     map[string]any{"string": "electronics"},
		"country":               map[string]any{"string": "DE"},
		"card_present":          map[string]any{"boolean": false},
		"distance_from_home_km": map[string]any{"double": 523.7},
		"txn_count_24h":         map[string]any{"double": 7.0},
		"timestamp":             "2026-03-14T09:26:53.589Z",
	}
}

func fraudAvro(t testing.TB) []byte {
	t.Helper()
	c, err := EmbeddedCodec("fraud_transaction")
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.BinaryFromNative(nil, fraudNative())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rowText renders a row by input name, one "name=value" per line, for
// comparisons and golden files: numbers with strconv 'f' -1, NaN as
// "missing", categories quoted.
func rowText(l *features.Layout, r *features.Row) string {
	var b strings.Builder
	for i, in := range l.Inputs {
		b.WriteString(in.Name)
		b.WriteByte('=')
		if in.Type == features.Category {
			if c := r.Cat[l.Slot(i)]; c == nil {
				b.WriteString("missing")
			} else {
				b.WriteString(strconv.Quote(string(c)))
			}
		} else if v := r.Num[l.Slot(i)]; math.IsNaN(v) {
			b.WriteString("missing")
		} else {
			b.WriteString(strconv.FormatFloat(v, 'f', -1, 64))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// checkGolden compares got with testdata/<name>, rewriting it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name), got)
}

// decoded is what decoding one record must give: the error as describeErr
// says it ("ok": none), then the row as rowText renders it, the event id and
// the key ("": none).
type decoded struct{ err, row, id, key string }

// checkDecode decodes in with d into a new row of l and checks it against
// want.
func checkDecode(t *testing.T, l *features.Layout, d Decoder, in []byte, want decoded) {
	t.Helper()
	row := l.NewRow()
	meta, err := d.Decode(in, row)
	if got := describeErr(err); got != want.err {
		t.Fatalf("Decode(%q) error = %v (%s), want %s", in, err, got, want.err)
	}
	if err != nil {
		return
	}
	if got := rowText(l, row); got != want.row {
		t.Errorf("Decode(%q) row:\n%s\nwant:\n%s", in, got, want.row)
	}
	if string(meta.EventID) != want.id || (want.id == "") != (meta.EventID == nil) {
		t.Errorf("event id = %q, want %q", meta.EventID, want.id)
	}
	if string(meta.Key) != want.key || (want.key == "") != (meta.Key == nil) {
		t.Errorf("key = %q, want %q", meta.Key, want.key)
	}
}

func describeErr(err error) string {
	if err == nil {
		return "ok"
	}
	if r, ok := reject.Of(err); ok {
		de := err.(*reject.Error)
		return fmt.Sprintf("%s field=%q", r, de.Field)
	}
	return "transient: " + err.Error()
}

func samplePrediction() *Prediction {
	return &Prediction{
		Key:          []byte("card-42"),
		EventID:      []byte("tx-000123"),
		EventTime:    time.UnixMilli(1773480413589).UTC(),
		ScoredTime:   time.UnixMilli(1773480413601).UTC(),
		Model:        "fraud",
		ModelVersion: "1.0.0",
		Score:        0.9312345678901234,
		Label:        "High Risk",
		Classes:      []string{"Low Risk", "High Risk"},
		Probs:        []float64{0.06876543210987657, 0.9312345678901234},
		FeatureNames: []string{"amount_scaled", "amount_ratio", "hour", "merchant_grocery", "merchant_travel", "card_present"},
		Features:     []float64{0.8631, 2.4974093264248705, 9, 0, 1, math.NaN()},
	}
}

// predictionNative is p as goavro native data for prediction.avsc: the
// reference the hand-written Avro encoder is checked against.
func predictionNative(p *Prediction, echo bool) map[string]any {
	optString := func(b []byte, present bool) any {
		if !present {
			return nil
		}
		return goavro.Union("string", perByteValidUTF8(b))
	}
	m := map[string]any{
		"key":           optString(p.Key, p.Key != nil),
		"event_id":      optString(p.EventID, p.EventID != nil),
		"event_time":    nil,
		"scored_time":   p.ScoredTime.UnixMilli(),
		"model":         perByteValidUTF8([]byte(p.Model)),
		"model_version": perByteValidUTF8([]byte(p.ModelVersion)),
		"score":         p.Score,
		"label":         optString([]byte(p.Label), p.Label != ""),
		"features":      nil,
	}
	if !p.EventTime.IsZero() {
		m["event_time"] = goavro.Union("long.timestamp-millis", p.EventTime.UnixMilli())
	}
	probs := make([]any, len(p.Classes))
	for i, c := range p.Classes {
		probs[i] = map[string]any{"class": perByteValidUTF8([]byte(c)), "probability": p.Probs[i]}
	}
	m["probabilities"] = probs
	if echo && p.FeatureNames != nil {
		fs := make([]any, len(p.FeatureNames))
		for i, n := range p.FeatureNames {
			var v any
			if finite(p.Features[i]) {
				v = goavro.Union("double", p.Features[i])
			}
			fs[i] = map[string]any{"name": perByteValidUTF8([]byte(n)), "value": v}
		}
		m["features"] = goavro.Union("array", fs)
	}
	return m
}
