package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"runtime"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/linkedin/goavro/v2"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/internal/civil"
	"github.com/streamscore/streamscore/reject"
)

// Fuzz tests: every decoder must survive any input without panicking and
// with allocation bounded by the input size, and agree with a reference
// implementation (encoding/json, goavro) where both accept the input.
// Seeds live in testdata/fuzz/<FuzzName>/ as well as in f.Add below.
//
//	go test ./schemas -run XXX -fuzz FuzzJSONDecode -fuzztime 60s

// allocBound is the most a single Decode may allocate for an input of n
// bytes: one arena chunk, a few error values, and slack proportional to n.
func allocBound(n int) uint64 { return arenaChunk + 4096 + 4*uint64(n) }

// fuzzDecode decodes data with d into row and fails the test when that
// allocates more than allocBound or fails with an error that is not poison
// (a reject reason); what names the decoder.
func fuzzDecode(t *testing.T, what string, d Decoder, data []byte, row *features.Row) (Meta, reject.Reason, error) {
	t.Helper()
	var meta Meta
	var err error
	if n := allocatedBy(func() { meta, err = d.Decode(data, row) }); n > allocBound(len(data)) {
		t.Fatalf("Decode of %d bytes allocated %d bytes", len(data), n)
	}
	reason, poison := reject.Of(err)
	if err != nil && (!poison || reason == "") {
		t.Fatalf("non-poison error from the %s decoder: %v", what, err)
	}
	return meta, reason, err
}

func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func FuzzJSONDecode(f *testing.F) {
	for _, s := range []string{
		fraudJSON,
		`{"n":1.5,"c":"x","b":true,"ts":"2024-01-02T03:04:05Z","card":{"country":"DE"},"req":0}`,
		`{"req":"1e3","n":"NaN","c":5411,"card":null,"id":"\u0069d"}`,
		`{"c":"a\"b\\c\/d\n\u00e9\ud83d\ude00\ud800x","req":-0,"x":[[[{"y":[]}]]]}`,
		`{"req":1e400}`, `[]`, `{"req":1,}`, `{"a":tru}`,
		`{"req":1,"card":{"country":"DE"},"card":{}}`, `{"card":{"country":"DE"},"card":null,"req":1,"req":2}`,
	} {
		f.Add([]byte(s), false)
	}
	l := mustLayout(f, typesInputs())
	decs := map[bool]Decoder{}
	for _, ns := range []bool{false, true} {
		d, err := NewDecoder(InputConfig{NumericStrings: ns, EventIDField: "id", MaxDepth: 16, MaxFields: 256}, l, nil)
		if err != nil {
			f.Fatal(err)
		}
		decs[ns] = d
	}
	f.Fuzz(func(t *testing.T, data []byte, numericStrings bool) {
		d := decs[numericStrings]
		row := l.NewRow()
		_, reason, err := fuzzDecode(t, "JSON", d, data, row)
		valid := json.Valid(data) && bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{"))
		if err == nil && !valid {
			t.Fatalf("decoded %q, which encoding/json rejects", data)
		}
		if valid && reason == reject.Malformed {
			t.Fatalf("malformed %q, which encoding/json accepts: %v", data, err)
		}
		if err != nil {
			return
		}
		checkAgainstEncodingJSON(t, l, row, data, numericStrings)
	})
}

// checkAgainstEncodingJSON compares a decoded row with what encoding/json
// makes of the same text.
func checkAgainstEncodingJSON(t *testing.T, l *features.Layout, row *features.Row, data []byte, numericStrings bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return // for example a duplicate key whose first value was an object
	}
	lookup := func(path ...string) (any, bool) {
		var cur any = m
		for _, p := range path {
			obj, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = obj[p]; !ok {
				return nil, false
			}
		}
		return cur, true
	}
	for i, in := range l.Inputs {
		v, present := lookup(in.FieldPath()...)
		if !present || v == nil {
			if in.Type == features.Category && row.Cat[l.Slot(i)] != nil || in.Type != features.Category && !math.IsNaN(row.Num[l.Slot(i)]) {
				t.Fatalf("%s: absent or null in %q but set in the row", in.Name, data)
			}
			continue
		}
		switch in.Type {
		case features.Number:
			var want float64
			switch v := v.(type) {
			case json.Number:
				want, _ = strconv.ParseFloat(string(v), 64)
			case string:
				want, _ = strconv.ParseFloat(v, 64)
			}
			if got := row.Num[l.Slot(i)]; math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("%s = %v, encoding/json reads %v in %q", in.Name, got, v, data)
			}
		case features.Bool:
			want := 0.0
			if v == true {
				want = 1
			}
			if got := row.Num[l.Slot(i)]; got != want {
				t.Fatalf("%s = %v, encoding/json reads %v in %q", in.Name, got, v, data)
			}
		case features.Category:
			var want string
			switch v := v.(type) {
			case string:
				want = v
			case json.Number:
				want = string(v)
				if want == "-0" {
					want = "0"
				}
			}
			if got := perByteValidUTF8(row.Cat[l.Slot(i)]); got != want {
				t.Fatalf("%s = %q, encoding/json reads %q in %q", in.Name, got, want, data)
			}
		}
	}
}

// perByteValidUTF8 replaces each invalid byte by U+FFFD, as encoding/json does.
func perByteValidUTF8(b []byte) string {
	var out []byte
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return string(out)
}

func FuzzAvroDecode(f *testing.F) {
	// goavro materialises whole arrays; keep its blocks small so the
	// reference cannot exhaust memory on hostile counts.
	goavro.MaxBlockCount = 1 << 12
	goavro.MaxBlockSize = 1 << 16
	codec, err := goavro.NewCodec(evolvedSchema)
	if err != nil {
		f.Fatal(err)
	}
	seed, err := codec.BinaryFromNative(nil, evolvedNative())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte{})
	l := mustLayout(f, typesInputs())
	ws, err := compileSchemaText(evolvedSchema)
	if err != nil {
		f.Fatal(err)
	}
	ft, err := newFieldTree(InputConfig{}.WithDefaults(), l)
	if err != nil {
		f.Fatal(err)
	}
	d := &avroDecoder{avroRunner: avroRunner{fieldTree: ft}, plan: compilePlan(ws.parsed, ft.root)}
	f.Fuzz(func(t *testing.T, data []byte) {
		row := l.NewRow()
		_, reason, err := fuzzDecode(t, "Avro", d, data, row)
		native, rest, gerr := codec.NativeFromBinary(data)
		if gerr != nil || len(rest) != 0 {
			return
		}
		if reason == reject.Malformed || reason == reject.TooLarge {
			t.Fatalf("%s for % x, which goavro reads as %v: %v", reason, data, native, err)
		}
		if err != nil {
			return
		}
		m := native.(map[string]any)
		want := "n=" + strconv.FormatInt(int64(m["n"].(int32)), 10) + "\n" +
			"c=" + strconv.Quote(m["c"].(string)) + "\n"
		if b := m["b"]; b == nil {
			want += "b=missing\n"
		} else if b.(map[string]any)["boolean"].(bool) {
			want += "b=1\n"
		} else {
			want += "b=0\n"
		}
		us := m["ts"].(time.Time).UnixMicro()
		want += "ts=" + strconv.FormatInt(civil.FloorDiv(us, 1000), 10) + "\n"
		country := "missing"
		if card := m["card"]; card != nil {
			if c := card.(map[string]any)["t.Card"].(map[string]any)["country"]; c != nil {
				country = strconv.Quote(c.(map[string]any)["string"].(string))
			}
		}
		want += "country=" + country + "\n"
		want += "req=" + strconv.FormatFloat(float64(m["req"].(float32)), 'f', -1, 64) + "\n"
		if got := rowText(l, row); got != want {
			t.Fatalf("row:\n%s\ngoavro reads:\n%s", got, want)
		}
	})
}

func FuzzConfluentDecode(f *testing.F) {
	srv, reg := newTestRegistry(f)
	v1, _ := EmbeddedSchema("fraud_transaction")
	id1, _ := srv.Register("t-value", v1, "")
	id2, _ := srv.Register("t-value", fraudV2, "")
	body1 := goavroEncode(f, v1, fraudNative())
	body2 := goavroEncode(f, fraudV2, fraudV2Native())
	f.Add(framed(id1, body1))
	f.Add(framed(id2, body2))
	f.Add(framed(id1, body2))
	f.Add(framed(77, body1))
	f.Add([]byte{0, 0, 0})
	l := mustLayout(f, fraudInputs())
	d, err := NewDecoder(InputConfig{Format: FormatConfluent, EventIDField: "transaction_id"}, l, reg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		row := l.NewRow()
		_, err := d.Decode(data, row) // may fetch a schema: not measured
		if err != nil {
			if _, poison := reject.Of(err); !poison {
				t.Fatalf("non-poison error with a healthy registry: %v", err)
			}
		}
		var err2 error
		if n := allocatedBy(func() { _, err2 = d.Decode(data, row) }); n > allocBound(len(data)) {
			t.Fatalf("second Decode of %d bytes allocated %d bytes", len(data), n)
		}
		if describeErr(err) != describeErr(err2) {
			t.Fatalf("same record, different results: %v then %v", err, err2)
		}
	})
}

// FuzzJSONEncode is the round-trip property of the JSON encoder: what it
// writes, encoding/json reads back to the same values. The Avro encoder is
// checked against goavro on the same predictions.
func FuzzJSONEncode(f *testing.F) {
	f.Add([]byte("card-42"), []byte("tx-1"), "fraud", "High Risk", "Low Risk", 0.93, 0.07, 1.5, int64(1773480413589), true)
	f.Add([]byte(nil), []byte("\xff\x00"), "m\u2028", "", "", 5e-324, 1e308, math.NaN(), int64(-1), false)
	codec, err := EmbeddedCodec(PredictionSchemaName)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key, eventID []byte, model, label, class string, score, prob, feature float64, ms int64, echo bool) {
		ms %= 1 << 50 // keep times within what time.Time and Avro millis both hold
		p := &Prediction{Key: key, EventID: eventID, EventTime: time.UnixMilli(ms), ScoredTime: time.UnixMilli(-ms),
			Model: model, ModelVersion: class + model, Score: score, Label: label,
			Classes: []string{class, label}, Probs: []float64{prob, score},
			FeatureNames: []string{model, class}, Features: []float64{feature, prob}}
		checkJSONRoundTrip(t, p, echo)
		checkAvroMatchesGoavro(t, codec, "fuzz", p, echo)
		var err error
		e := &JSONEncoder{echo: echo}
		if _, err = e.Append(nil, p); err != nil && !errors.Is(err, ErrNonFinite) {
			t.Fatalf("unexpected encode error: %v", err)
		}
	})
}
