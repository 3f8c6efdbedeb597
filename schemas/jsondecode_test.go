package schemas

import (
	"strings"
	"testing"

	"github.com/streamscore/streamscore/features"
)

// typesInputs covers every input type, a nested path and a required input.
func typesInputs() []features.Input {
	return []features.Input{
		{Name: "n", Type: features.Number},
		{Name: "c", Type: features.Category},
		{Name: "b", Type: features.Bool},
		{Name: "ts", Type: features.Timestamp},
		{Name: "country", Type: features.Category, Path: "card.country"},
		{Name: "req", Type: features.Number, Required: true},
	}
}

func TestJSONDecode(t *testing.T) {
	const allMissing = "n=missing\nc=missing\nb=missing\nts=missing\ncountry=missing\n"
	tests := []struct {
		name    string
		cfg     InputConfig
		in      string
		want    string // rowText of the result when wantErr is "ok"
		wantErr string // describeErr
		wantID  string
	}{
		{name: "all types", in: `{"n":1.5,"c":"x","b":true,"ts":"2024-01-02T03:04:05Z","card":{"country":"DE"},"req":0}`,
			want: "n=1.5\nc=\"x\"\nb=1\nts=1704164645000\ncountry=\"DE\"\nreq=0\n", wantErr: "ok"},
		{name: "field order free, unknown fields skipped", in: ` { "zzz" : [1,{"a":[]},"s",null,true,false,-0.5e3] , "req" : 2 , "card":{"x":{}, "country":"FR"}, "b":false, "other": {"n": 9} }`,
			want: "n=missing\nc=missing\nb=0\nts=missing\ncountry=\"FR\"\nreq=2\n", wantErr: "ok"},
		{name: "null and absent are missing", in: `{"n":null,"c":null,"b":null,"ts":null,"card":null,"req":1}`,
			want: allMissing + "req=1\n", wantErr: "ok"},
		{name: "duplicate key last wins", in: `{"req":1,"n":2,"n":3,"c":"a","c":null}`,
			want: "n=3\nc=missing\nb=missing\nts=missing\ncountry=missing\nreq=1\n", wantErr: "ok"},
		{name: "duplicate object key replaces the whole object", in: `{"req":1,"card":{"country":"DE"},"card":{}}`,
			want: allMissing + "req=1\n", wantErr: "ok"},
		{name: "duplicate object key then null", in: `{"req":1,"card":{"country":"DE"},"card":null}`,
			want: allMissing + "req=1\n", wantErr: "ok"},
		{name: "escapes unescaped", in: `{"req":1,"c":"a\"b\\c\/d\n\u00e9\ud83d\ude00\ud800x"}`,
			want: "n=missing\nc=\"a\\\"b\\\\c/d\\né😀\ufffdx\"\nb=missing\nts=missing\ncountry=missing\nreq=1\n", wantErr: "ok"},
		{name: "escaped key matches", in: `{"r\u0065q":1,"\u0063":"k"}`,
			want: "n=missing\nc=\"k\"\nb=missing\nts=missing\ncountry=missing\nreq=1\n", wantErr: "ok"},
		{name: "empty string category is not missing", in: `{"req":1,"c":""}`,
			want: "n=missing\nc=\"\"\nb=missing\nts=missing\ncountry=missing\nreq=1\n", wantErr: "ok"},
		{name: "integer number as category", in: `{"req":1,"c":5411,"card":{"country":-0}}`,
			want: "n=missing\nc=\"5411\"\nb=missing\nts=missing\ncountry=\"0\"\nreq=1\n", wantErr: "ok"},
		{name: "epoch millis timestamp", in: `{"req":1,"ts":1704164645123}`,
			want: "n=missing\nc=missing\nb=missing\nts=1704164645123\ncountry=missing\nreq=1\n", wantErr: "ok"},
		{name: "timestamp with offset and fraction", in: `{"req":1,"ts":"2024-01-02T05:04:05.1239+02:00"}`,
			want: "n=missing\nc=missing\nb=missing\nts=1704164645123\ncountry=missing\nreq=1\n", wantErr: "ok"},
		{name: "numeric strings on", cfg: InputConfig{NumericStrings: true}, in: `{"req":"1e3","n":"-2.5","ts":"1704164645000"}`,
			want: "n=-2.5\nc=missing\nb=missing\nts=1704164645000\ncountry=missing\nreq=1000\n", wantErr: "ok"},
		{name: "event id string", cfg: InputConfig{EventIDField: "meta.id"}, in: `{"req":1,"meta":{"id":"ev-1"}}`,
			want: allMissing + "req=1\n", wantErr: "ok", wantID: "ev-1"},
		{name: "event id integer", cfg: InputConfig{EventIDField: "id"}, in: `{"req":1,"id":12345678901234567890}`,
			want: allMissing + "req=1\n", wantErr: "ok", wantID: "12345678901234567890"},
		{name: "event id of other type ignored", cfg: InputConfig{EventIDField: "id"}, in: `{"req":1,"id":{"a":1}}`,
			want: allMissing + "req=1\n", wantErr: "ok"},
		{name: "event id is also an input", cfg: InputConfig{EventIDField: "c"}, in: `{"req":1,"c":"tx-1"}`,
			want: "n=missing\nc=\"tx-1\"\nb=missing\nts=missing\ncountry=missing\nreq=1\n", wantErr: "ok", wantID: "tx-1"},

		{name: "required absent", in: `{"n":1}`, wantErr: `missing_field field="req"`},
		{name: "required null", in: `{"req":null}`, wantErr: `missing_field field="req"`},
		{name: "string for number", in: `{"req":"1"}`, wantErr: `wrong_type field="req"`},
		// Every value of a key that appears twice must fit its input, not only the last (docs/formats.md).
		{name: "duplicate key, a bad value before the last", in: `{"req":1,"n":"x","n":2}`, wantErr: `wrong_type field="n"`},
		{name: "bool for number", in: `{"req":true}`, wantErr: `wrong_type field="req"`},
		{name: "number for bool", in: `{"req":1,"b":1}`, wantErr: `wrong_type field="b"`},
		{name: "string for bool", in: `{"req":1,"b":"true"}`, wantErr: `wrong_type field="b"`},
		{name: "object for number", in: `{"req":{"v":1}}`, wantErr: `wrong_type field="req"`},
		{name: "array for category", in: `{"req":1,"c":["a"]}`, wantErr: `wrong_type field="c"`},
		{name: "fraction for category", in: `{"req":1,"c":1.5}`, wantErr: `wrong_type field="c"`},
		{name: "bool for category", in: `{"req":1,"c":false}`, wantErr: `wrong_type field="c"`},
		{name: "bad timestamp text", in: `{"req":1,"ts":"2024-13-01T00:00:00Z"}`, wantErr: `wrong_type field="ts"`},
		{name: "scalar where object declared", in: `{"req":1,"card":"DE"}`, wantErr: `wrong_type field="card"`},
		{name: "NaN numeric string", cfg: InputConfig{NumericStrings: true}, in: `{"req":"NaN"}`, wantErr: `not_finite field="req"`},
		{name: "Infinity numeric string", cfg: InputConfig{NumericStrings: true}, in: `{"req":"-Infinity"}`, wantErr: `not_finite field="req"`},
		{name: "overflow", in: `{"req":1e400}`, wantErr: `not_finite field="req"`},
		{name: "numeric string not a number", cfg: InputConfig{NumericStrings: true}, in: `{"req":"12abc"}`, wantErr: `wrong_type field="req"`},
		{name: "NaN string without numeric strings", in: `{"req":"NaN"}`, wantErr: `wrong_type field="req"`},

		{name: "empty", in: ``, wantErr: `malformed field=""`},
		{name: "not an object", in: `[1]`, wantErr: `malformed field=""`},
		{name: "trailing data", in: `{"req":1} x`, wantErr: `malformed field=""`},
		{name: "two objects", in: `{"req":1}{}`, wantErr: `malformed field=""`},
		{name: "unterminated", in: `{"req":1`, wantErr: `malformed field=""`},
		{name: "trailing comma", in: `{"req":1,}`, wantErr: `malformed field=""`},
		{name: "single quotes", in: `{'req':1}`, wantErr: `malformed field=""`},
		{name: "leading zero", in: `{"req":01}`, wantErr: `malformed field=""`},
		{name: "bad number in skipped field", in: `{"req":1,"x":1.}`, wantErr: `malformed field=""`},
		{name: "NaN literal", in: `{"req":NaN}`, wantErr: `malformed field=""`},
		{name: "control char in string", in: "{\"req\":1,\"c\":\"a\tb\"}", wantErr: `malformed field=""`},
		{name: "bad escape", in: `{"req":1,"c":"\x"}`, wantErr: `malformed field=""`},
		{name: "short unicode escape", in: `{"req":1,"c":"\u12"}`, wantErr: `malformed field=""`},
		{name: "bad literal", in: `{"req":1,"x":nul}`, wantErr: `malformed field=""`},
		{name: "too large", cfg: InputConfig{MaxRecordBytes: 16}, in: `{"req":1,"xxxxxxxxx":1}`, wantErr: `too_large field=""`},
		{name: "too deep", cfg: InputConfig{MaxDepth: 3}, in: `{"req":1,"x":{"y":[{"z":1}]}}`, wantErr: `too_large field=""`},
		{name: "depth at the limit", cfg: InputConfig{MaxDepth: 3}, in: `{"req":1,"x":{"y":[1]}}`,
			want: allMissing + "req=1\n", wantErr: "ok"},
		{name: "too many keys", cfg: InputConfig{MaxFields: 3}, in: `{"req":1,"a":1,"x":{"y":1}}`, wantErr: `too_large field=""`},
	}
	l := mustLayout(t, typesInputs())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Format = FormatJSON
			d, err := NewDecoder(cfg, l, nil)
			if err != nil {
				t.Fatalf("NewDecoder: %v", err)
			}
			checkDecode(t, l, d, []byte(tc.in), decoded{err: tc.wantErr, row: tc.want, id: tc.wantID})
		})
	}
}

// TestJSONDecodeBatchKeepsRows checks that rows decoded earlier keep their
// bytes while later records are decoded (the processor decodes a whole
// micro-batch before scoring).
func TestJSONDecodeBatchKeepsRows(t *testing.T) {
	l := mustLayout(t, typesInputs())
	d, err := NewDecoder(InputConfig{EventIDField: "id"}, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000 // enough escaped text to fill several arena chunks
	rows := make([]*features.Row, n)
	ids := make([][]byte, n)
	long := strings.Repeat(`\u00e9`, 40)
	for i := range rows {
		rows[i] = l.NewRow()
		in := []byte(`{"req":1,"c":"` + long + itoa(i) + `","id":"\u0069d` + itoa(i) + `"}`)
		m, err := d.Decode(in, rows[i])
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = m.EventID
	}
	wantLong := strings.Repeat("é", 40)
	for i := range rows {
		if got, want := string(rows[i].Cat[0]), wantLong+itoa(i); got != want {
			t.Fatalf("row %d category = %q, want %q", i, got, want)
		}
		if got, want := string(ids[i]), "id"+itoa(i); got != want {
			t.Fatalf("row %d event id = %q, want %q", i, got, want)
		}
	}
}

func itoa(i int) string {
	return strings.TrimSpace(strings.Repeat(" ", 0) + string(rune('0'+i/1000%10)) + string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10)))
}

func TestJSONDecodeZeroAllocs(t *testing.T) {
	l := mustLayout(t, fraudInputs())
	d, err := NewDecoder(InputConfig{EventIDField: "transaction_id"}, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	row := l.NewRow()
	in := []byte(fraudJSON)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := d.Decode(in, row); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("JSON decode of the fraud event: %v allocs per record, want 0", allocs)
	}
}
