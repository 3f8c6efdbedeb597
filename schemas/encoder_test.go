package schemas

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
)

func predictionCases() map[string]*Prediction {
	full := samplePrediction()
	minimal := &Prediction{ScoredTime: time.UnixMilli(0), Model: "m", ModelVersion: "v", Score: 0}
	regression := &Prediction{Key: []byte{}, ScoredTime: time.UnixMilli(-1), Model: "house", ModelVersion: "2",
		Score: 1e21, Label: "expensive"}
	awkward := &Prediction{Key: []byte("k\xff\x00\"\\\u2028</>"), EventID: []byte("é\t"),
		EventTime: time.Date(1969, 12, 31, 23, 59, 59, 999_999_999, time.UTC), ScoredTime: time.UnixMilli(1),
		Model: "m\n", ModelVersion: "v\x7f", Score: 5e-324, Label: "ünïcode", Classes: []string{"a", "b", "c"},
		Probs: []float64{0.1, 0.2, 0.7000000000000001}, FeatureNames: []string{}, Features: []float64{}}
	return map[string]*Prediction{"full": full, "minimal": minimal, "regression": regression, "awkward": awkward}
}

func TestJSONEncoderGolden(t *testing.T) {
	for _, name := range []string{"full", "minimal", "regression", "awkward"} {
		p := predictionCases()[name]
		for _, echo := range []bool{false, true} {
			e, err := NewEncoder(context.Background(), OutputConfig{Format: FormatJSON, EchoFeatures: echo}, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := e.Append([]byte("prefix:"), p)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !bytes.HasPrefix(b, []byte("prefix:")) {
				t.Fatalf("%s: Append dropped dst", name)
			}
			b = b[len("prefix:"):]
			if !json.Valid(b) {
				t.Fatalf("%s: invalid JSON: %s", name, b)
			}
			suffix := ""
			if echo {
				suffix = "_echo"
			}
			checkGolden(t, "encode/"+name+suffix+".json", append(b, '\n'))
		}
	}
}

// checkJSONRoundTrip decodes the JSON encoding of p with encoding/json and
// compares every value.
func checkJSONRoundTrip(t *testing.T, p *Prediction, echo bool) {
	t.Helper()
	e := &JSONEncoder{echo: echo}
	b, err := e.Append(nil, p)
	if err != nil {
		if errors.Is(err, ErrNonFinite) || errors.Is(err, ErrShape) {
			return
		}
		t.Fatalf("Append: %v", err)
	}
	var got PredictionRecord
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("encoding/json cannot read %s: %v", b, err)
	}
	text := func(b []byte) *string {
		if b == nil {
			return nil
		}
		s := perByteValidUTF8(b)
		return &s
	}
	eqStr := func(field string, got, want *string) {
		if (got == nil) != (want == nil) || (got != nil && *got != *want) {
			t.Errorf("%s = %v, want %v (json %s)", field, deref(got), deref(want), b)
		}
	}
	eqStr("key", got.Key, text(p.Key))
	eqStr("event_id", got.EventID, text(p.EventID))
	if p.EventTime.IsZero() != (got.EventTime == nil) || (got.EventTime != nil && *got.EventTime != p.EventTime.UnixMilli()) {
		t.Errorf("event_time = %v, want %v", got.EventTime, p.EventTime.UnixMilli())
	}
	if got.ScoredTime != p.ScoredTime.UnixMilli() {
		t.Errorf("scored_time = %d, want %d", got.ScoredTime, p.ScoredTime.UnixMilli())
	}
	eqStr("model", &got.Model, text([]byte(p.Model)))
	eqStr("model_version", &got.ModelVersion, text([]byte(p.ModelVersion)))
	if math.Float64bits(got.Score) != math.Float64bits(p.Score) && !(got.Score == 0 && p.Score == 0) {
		t.Errorf("score = %v, want %v", got.Score, p.Score)
	}
	var label *string
	if p.Label != "" {
		label = text([]byte(p.Label))
	}
	eqStr("label", got.Label, label)
	if len(got.Probabilities) != len(p.Classes) {
		t.Fatalf("%d probabilities, want %d", len(got.Probabilities), len(p.Classes))
	}
	for i, cp := range got.Probabilities {
		eqStr("class", &cp.Class, text([]byte(p.Classes[i])))
		if cp.Probability != p.Probs[i] {
			t.Errorf("probability %d = %v, want %v", i, cp.Probability, p.Probs[i])
		}
	}
	if !echo || p.FeatureNames == nil {
		if got.Features != nil {
			t.Errorf("features = %v, want null", *got.Features)
		}
		return
	}
	if got.Features == nil || len(*got.Features) != len(p.FeatureNames) {
		t.Fatalf("features %v, want %d", got.Features, len(p.FeatureNames))
	}
	for i, f := range *got.Features {
		eqStr("feature name", &f.Name, text([]byte(p.FeatureNames[i])))
		v := p.Features[i]
		if finite(v) != (f.Value != nil) || (f.Value != nil && *f.Value != v) {
			t.Errorf("feature %d = %v, want %v", i, f.Value, v)
		}
	}
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func TestJSONEncoderRoundTrip(t *testing.T) {
	for name, p := range predictionCases() {
		t.Run(name, func(t *testing.T) {
			checkJSONRoundTrip(t, p, false)
			checkJSONRoundTrip(t, p, true)
		})
	}
}

// TestAvroEncoderMatchesGoavro checks the hand-written Avro encoder byte for
// byte against goavro encoding the same record.
func TestAvroEncoderMatchesGoavro(t *testing.T) {
	c, err := EmbeddedCodec(PredictionSchemaName)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range predictionCases() {
		for _, echo := range []bool{false, true} {
			checkAvroMatchesGoavro(t, c, name, p, echo)
		}
	}
}

func checkAvroMatchesGoavro(t *testing.T, c *goavro.Codec, name string, p *Prediction, echo bool) {
	t.Helper()
	got, err := (&AvroEncoder{echo: echo}).Append(nil, p)
	if err != nil {
		if errors.Is(err, ErrNonFinite) || errors.Is(err, ErrShape) {
			return
		}
		t.Fatalf("%s: Append: %v", name, err)
	}
	want, err := c.BinaryFromNative(nil, predictionNative(p, echo))
	if err != nil {
		t.Fatalf("%s: goavro: %v", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s echo=%v:\n got % x\nwant % x", name, echo, got, want)
	}
}

func TestEncoderErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(p *Prediction)
		want error
	}{
		{"NaN score", func(p *Prediction) { p.Score = math.NaN() }, ErrNonFinite},
		{"infinite probability", func(p *Prediction) { p.Probs[1] = math.Inf(1) }, ErrNonFinite},
		{"classes and probabilities differ", func(p *Prediction) { p.Probs = p.Probs[:1] }, ErrShape},
		{"feature names and values differ", func(p *Prediction) { p.Features = p.Features[:2] }, ErrShape},
	}
	for _, format := range []string{FormatJSON, FormatAvro} {
		e, _ := NewEncoder(context.Background(), OutputConfig{Format: format, EchoFeatures: true}, nil)
		for _, tc := range tests {
			p := samplePrediction()
			tc.mod(p)
			dst := []byte("keep")
			got, err := e.Append(dst, p)
			if !errors.Is(err, tc.want) {
				t.Errorf("%s %s: error %v, want %v", format, tc.name, err, tc.want)
			}
			if string(got) != "keep" {
				t.Errorf("%s %s: dst changed to %q on error", format, tc.name, got)
			}
		}
	}
}

func TestEncoderZeroAllocs(t *testing.T) {
	p := samplePrediction()
	for _, format := range []string{FormatJSON, FormatAvro} {
		e, _ := NewEncoder(context.Background(), OutputConfig{Format: format, EchoFeatures: true}, nil)
		buf, _ := e.Append(nil, p)
		if a := testing.AllocsPerRun(100, func() { buf, _ = e.Append(buf[:0], p) }); a != 0 {
			t.Errorf("%s encode: %v allocs per prediction, want 0", format, a)
		}
	}
}

func TestAppendJSONFloat(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 9, 999999, -999999, 1e6, 123456.5, 1e21, 5e-324,
		0.1, 1.0 / 3, math.MaxFloat64, -math.SmallestNonzeroFloat64, 4503599627370496.5, 1e-7}
	for _, v := range vals {
		got := string(appendJSONFloat(nil, v))
		want := strconv.FormatFloat(v, 'g', -1, 64)
		if got != want {
			t.Errorf("appendJSONFloat(%v) = %s, want %s", v, got, want)
		}
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain ascii text of some length", "tab\there", "quote\"back\\slash",
		"ctl\x01\x1f", "é ü 😀 mixed with ascii after eight bytes", "bad \xff\xfe utf8", "\u2028\u2029",
		"exactly8", "sixteen bytes!!!", "trailing\x00"} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("appendJSONString(%q) = %s: not JSON: %v", s, got, err)
		}
		if want := perByteValidUTF8([]byte(s)); back != want {
			t.Errorf("appendJSONString(%q) reads back as %q, want %q", s, back, want)
		}
	}
}
