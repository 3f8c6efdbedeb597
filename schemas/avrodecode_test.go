package schemas

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/internal/proctest"
)

// newAvroDecoder is NewDecoder for raw Avro (cfg's other settings) with the
// writer schema in a file, so NewDecoder's file path is exercised.
func newAvroDecoder(t *testing.T, cfg InputConfig, l *features.Layout, schema string) (Decoder, error) {
	t.Helper()
	cfg.Format = FormatAvro
	cfg.AvroSchema = proctest.TempFile(t, "writer.avsc", schema)
	return NewDecoder(cfg, l, nil)
}

func goavroEncode(t testing.TB, schema string, native map[string]any) []byte {
	t.Helper()
	c, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatalf("goavro codec: %v", err)
	}
	b, err := c.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatalf("goavro encode: %v", err)
	}
	return b
}

// evolvedSchema has the declared inputs among many undeclared fields of
// every Avro type, as a producer that grew its schema would send.
const evolvedSchema = `{"type":"record","name":"Evolved","namespace":"t","fields":[
 {"name":"pre_array","type":{"type":"array","items":"string"}},
 {"name":"pre_map","type":{"type":"map","values":{"type":"record","name":"Inner","fields":[{"name":"a","type":"long"},{"name":"b","type":["null","float"]}]}}},
 {"name":"n","type":"int"},
 {"name":"pre_fixed","type":{"type":"fixed","name":"F4","size":4}},
 {"name":"c","type":{"type":"enum","name":"Color","symbols":["red","green"]}},
 {"name":"pre_bytes","type":"bytes"},
 {"name":"b","type":["null","boolean"]},
 {"name":"pre_union","type":["null","long","string","Inner"]},
 {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"card","type":["null",{"type":"record","name":"Card","fields":[{"name":"brand","type":"string"},{"name":"country","type":["null","string"]}]}]},
 {"name":"req","type":"float"},
 {"name":"post_bools","type":{"type":"array","items":"boolean"}},
 {"name":"post_nulls","type":{"type":"array","items":"null"}}
]}`

func evolvedNative() map[string]any {
	inner := map[string]any{"a": int64(-7), "b": goavro.Union("float", float32(1.5))}
	return map[string]any{
		"pre_array":  []any{"x", "yy"},
		"pre_map":    map[string]any{"k1": inner, "k2": map[string]any{"a": int64(1), "b": nil}},
		"n":          int32(-42),
		"pre_fixed":  []byte{1, 2, 3, 4},
		"c":          "green",
		"pre_bytes":  []byte{0, 255},
		"b":          goavro.Union("boolean", true),
		"pre_union":  goavro.Union("t.Inner", inner),
		"ts":         int64(-1500), // 1.5 ms before the epoch: floor gives -2
		"card":       goavro.Union("t.Card", map[string]any{"brand": "visa", "country": goavro.Union("string", "NL")}),
		"req":        float32(0.25),
		"post_bools": []any{true, false, true},
		"post_nulls": []any{nil, nil},
	}
}

func TestAvroDecode(t *testing.T) {
	tests := []struct {
		name    string
		schema  string
		cfg     InputConfig
		native  map[string]any
		raw     []byte // used instead of native when set
		want    string
		wantErr string
	}{
		{name: "evolved writer: fields matched by name, the rest skipped", schema: evolvedSchema, native: evolvedNative(),
			want: "n=-42\nc=\"green\"\nb=1\nts=-2\ncountry=\"NL\"\nreq=0.25\n", wantErr: "ok"},
		{name: "optional inputs absent from the writer are missing",
			schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"double"}]}`,
			native: map[string]any{"req": 3.5},
			want:   "n=missing\nc=missing\nb=missing\nts=missing\ncountry=missing\nreq=3.5\n", wantErr: "ok"},
		{name: "nulls are missing",
			schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"long"},{"name":"c","type":["null","string"]},{"name":"card","type":["null",{"type":"record","name":"C","fields":[{"name":"country","type":"string"}]}]}]}`,
			native: map[string]any{"req": int64(1), "c": nil, "card": nil},
			want:   "n=missing\nc=missing\nb=missing\nts=missing\ncountry=missing\nreq=1\n", wantErr: "ok"},
		{name: "conversions: long category, date, RFC 3339 string, bytes category",
			schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"long"},{"name":"c","type":"long"},{"name":"ts","type":{"type":"int","logicalType":"date"}},{"name":"card","type":{"type":"record","name":"C","fields":[{"name":"country","type":"bytes"}]}}]}`,
			native: map[string]any{"req": int64(9), "c": int64(-5411), "ts": int32(19000), "card": map[string]any{"country": []byte("DE")}},
			want:   "n=missing\nc=\"-5411\"\nb=missing\nts=1641600000000\ncountry=\"DE\"\nreq=9\n", wantErr: "ok"},
		{name: "timestamp string",
			schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"double"},{"name":"ts","type":"string"}]}`,
			native: map[string]any{"req": 1.0, "ts": "2024-01-02T03:04:05.5Z"},
			want:   "n=missing\nc=missing\nb=missing\nts=1704164645500\ncountry=missing\nreq=1\n", wantErr: "ok"},
		{name: "numeric strings", cfg: InputConfig{NumericStrings: true},
			schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"string"}]}`,
			native: map[string]any{"req": "1.5e2"},
			want:   "n=missing\nc=missing\nb=missing\nts=missing\ncountry=missing\nreq=150\n", wantErr: "ok"},
		{name: "numeric string that is not a number", cfg: InputConfig{NumericStrings: true},
			schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"string"}]}`,
			native: map[string]any{"req": "abc"}, wantErr: `wrong_type field="req"`},
		{name: "NaN double", schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"double"}]}`,
			native: map[string]any{"req": math.NaN()}, wantErr: `not_finite field="req"`},
		{name: "bad timestamp string",
			schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"double"},{"name":"ts","type":"string"}]}`,
			native: map[string]any{"req": 1.0, "ts": "yesterday"}, wantErr: `wrong_type field="ts"`},

		{name: "truncated", schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"double"}]}`,
			raw: []byte{0, 0, 0}, wantErr: `malformed field=""`},
		{name: "trailing bytes", schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"long"}]}`,
			raw: []byte{2, 0}, wantErr: `malformed field=""`},
		{name: "union index out of range", schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"long"},{"name":"c","type":["null","string"]}]}`,
			raw: []byte{2, 4}, wantErr: `malformed field=""`},
		{name: "negative union index", schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"long"},{"name":"c","type":["null","string"]}]}`,
			raw: []byte{2, 1}, wantErr: `malformed field=""`},
		{name: "union index out of range in a skipped field", schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"long"},{"name":"x","type":["null","long"]}]}`,
			raw: []byte{2, 4}, wantErr: `malformed field=""`},
		{name: "enum index out of range", schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"long"},{"name":"c","type":{"type":"enum","name":"E","symbols":["a","b"]}}]}`,
			raw: []byte{2, 4}, wantErr: `malformed field=""`},
		{name: "enum index out of range in a skipped field", schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"long"},{"name":"x","type":{"type":"enum","name":"E","symbols":["a","b"]}}]}`,
			raw: []byte{2, 4}, wantErr: `malformed field=""`},
		{name: "enum symbol", schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"long"},{"name":"c","type":{"type":"enum","name":"E","symbols":["a","b"]}},{"name":"x","type":{"type":"enum","name":"F","symbols":["p","q"]}}]}`,
			raw: []byte{2, 2, 2}, want: "n=missing\nc=\"b\"\nb=missing\nts=missing\ncountry=missing\nreq=1\n", wantErr: "ok"},
		{name: "boolean byte not 0 or 1", schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"long"},{"name":"b","type":"boolean"}]}`,
			raw: []byte{2, 7}, wantErr: `malformed field=""`},
		{name: "negative string length", schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"long"},{"name":"x","type":"string"}]}`,
			raw: []byte{2, 1}, wantErr: `malformed field=""`},
		{name: "array count larger than the record", schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"long"},{"name":"x","type":{"type":"array","items":"long"}}]}`,
			raw: []byte{2, 0xfe, 0xff, 0xff, 0xff, 0x0f, 0}, wantErr: `malformed field=""`},
		{name: "varint too long", schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"long"}]}`,
			raw: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, wantErr: `malformed field=""`},
		{name: "int out of range", schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"int"}]}`,
			raw: []byte{0xfe, 0xff, 0xff, 0xff, 0x7f}, wantErr: `malformed field=""`},
		{name: "recursive writer schema nested too deep", schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"long"},{"name":"next","type":["null","R"]}]}`,
			raw: append(append([]byte{2}, bytes.Repeat([]byte{2, 2}, 100)...), 0), wantErr: `too_large field=""`},
		{name: "recursive writer schema within the depth limit", schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"long"},{"name":"next","type":["null","R"]}]}`,
			raw: append(append([]byte{2}, bytes.Repeat([]byte{2, 2}, 10)...), 0), want: "n=missing\nc=missing\nb=missing\nts=missing\ncountry=missing\nreq=1\n", wantErr: "ok"},
		{name: "too large", cfg: InputConfig{MaxRecordBytes: 4}, schema: `{"type":"record","name":"R","fields":[{"name":"req","type":"double"}]}`,
			native: map[string]any{"req": 1.0}, wantErr: `too_large field=""`},
	}
	l := mustLayout(t, typesInputs())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := newAvroDecoder(t, tc.cfg, l, tc.schema)
			if err != nil {
				t.Fatalf("NewDecoder: %v", err)
			}
			in := tc.raw
			if in == nil {
				in = goavroEncode(t, tc.schema, tc.native)
			}
			checkDecode(t, l, d, in, decoded{err: tc.wantErr, row: tc.want})
		})
	}
}

func TestAvroDecoderStartupCheck(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		cfg    InputConfig
	}{
		{"required input not in the writer schema", `{"type":"record","name":"R","fields":[{"name":"n","type":"double"}]}`, InputConfig{}},
		{"boolean for a number", `{"type":"record","name":"R","fields":[{"name":"req","type":"boolean"}]}`, InputConfig{}},
		{"string for a number without numeric strings", `{"type":"record","name":"R","fields":[{"name":"req","type":"string"}]}`, InputConfig{}},
		{"double for a category", `{"type":"record","name":"R","fields":[{"name":"req","type":"long"},{"name":"c","type":["null","double"]}]}`, InputConfig{}},
		{"scalar where a record is declared", `{"type":"record","name":"R","fields":[{"name":"req","type":"long"},{"name":"card","type":"string"}]}`, InputConfig{}},
	}
	l := mustLayout(t, typesInputs())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newAvroDecoder(t, tc.cfg, l, tc.schema)
			if !errors.Is(err, ErrIncompatible) {
				t.Errorf("NewDecoder error = %v, want ErrIncompatible", err)
			}
		})
	}
}

func TestAvroDecodeFraudEmbedded(t *testing.T) {
	l := mustLayout(t, fraudInputs())
	d, err := NewDecoder(InputConfig{Format: FormatAvro, AvroSchema: "fraud_transaction.avsc", EventIDField: "transaction_id"}, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	row := l.NewRow()
	m, err := d.Decode(fraudAvro(t), row)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.EventID) != "tx-000123" {
		t.Errorf("event id = %q, want tx-000123", m.EventID)
	}
	// The same event in JSON must give the same row.
	jd, err := NewDecoder(InputConfig{}, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	jrow := l.NewRow()
	if _, err := jd.Decode([]byte(fraudJSON), jrow); err != nil {
		t.Fatal(err)
	}
	if got, want := rowText(l, row), rowText(l, jrow); got != want {
		t.Errorf("avro row:\n%s\njson row:\n%s", got, want)
	}
	checkGolden(t, "decode/fraud_row.golden", []byte(rowText(l, row)))
	in := fraudAvro(t)
	if a := testing.AllocsPerRun(200, func() {
		if _, err := d.Decode(in, row); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("avro decode: %v allocs per record, want 0", a)
	}
}

func TestAvroDecoderUnknownSchema(t *testing.T) {
	l := mustLayout(t, []features.Input{{Name: "x", Type: features.Number}})
	_, err := NewDecoder(InputConfig{Format: FormatAvro, AvroSchema: "no_such_schema"}, l, nil)
	if err == nil {
		t.Fatal("NewDecoder with an unknown schema name succeeded")
	}
}
