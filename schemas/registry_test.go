package schemas

import (
	"context"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas/srtest"
)

// The registry tests run against srtest, an in-process fake of the
// Confluent Schema Registry REST API on 127.0.0.1: no Confluent-compatible
// registry can be installed from the package registries this project uses
// (see the srtest package doc). TestRegistryWithSRFake repeats the core case
// against franz-go's own fake, a second, independent implementation.

// newTestRegistry starts the fake registry and a Registry client for it.
func newTestRegistry(tb testing.TB) (*srtest.Server, *Registry) {
	tb.Helper()
	srv := srtest.New(tb)
	reg, err := NewRegistry(RegistryConfig{URL: srv.URL()})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, reg
}

func framed(id int, body []byte) []byte {
	b := binary.BigEndian.AppendUint32([]byte{0}, uint32(id))
	return append(b, body...)
}

// fraudV2 is the fraud schema as a producer might evolve it: a new optional
// field (device) and an optional field dropped (country).
const fraudV2 = `{"type":"record","name":"FraudTransaction","namespace":"io.streamscore.events","fields":[
 {"name":"transaction_id","type":"string"},
 {"name":"card_id","type":"string"},
 {"name":"device","type":["null","string"],"default":null},
 {"name":"amount","type":"double"},
 {"name":"avg_amount_30d","type":["null","double"],"default":null},
 {"name":"merchant_category","type":["null","string"],"default":null},
 {"name":"card_present","type":["null","boolean"],"default":null},
 {"name":"distance_from_home_km","type":["null","double"],"default":null},
 {"name":"txn_count_24h","type":["null","double"],"default":null},
 {"name":"timestamp","type":"string"}
]}`

func fraudV2Native() map[string]any {
	m := fraudNative()
	delete(m, "country")
	m["device"] = goavro.Union("string", "pos-7")
	return m
}

func TestConfluentDecodeEvolution(t *testing.T) {
	srv, reg := newTestRegistry(t)
	v1, _ := EmbeddedSchema("fraud_transaction")
	id1, err := srv.Register("transactions-value", v1, "")
	if err != nil {
		t.Fatal(err)
	}
	id2, err := srv.Register("transactions-value", fraudV2, "")
	if err != nil {
		t.Fatal(err)
	}
	if id1 == id2 {
		t.Fatalf("both versions got id %d", id1)
	}
	l := mustLayout(t, fraudInputs())
	d, err := NewDecoder(InputConfig{Format: FormatConfluent, EventIDField: "transaction_id"}, l, reg)
	if err != nil {
		t.Fatal(err)
	}
	rec1 := framed(id1, fraudAvro(t))
	rec2 := framed(id2, goavroEncode(t, fraudV2, fraudV2Native()))
	want1 := rowText(l, decodeOK(t, d, l, rec1, id1))
	want2 := replaceLine(want1, "country=", "country=missing")
	for i := 0; i < 50; i++ { // alternate ids: each is fetched once
		if got := rowText(l, decodeOK(t, d, l, rec1, id1)); got != want1 {
			t.Fatalf("v1 row:\n%s\nwant:\n%s", got, want1)
		}
		if got := rowText(l, decodeOK(t, d, l, rec2, id2)); got != want2 {
			t.Fatalf("v2 row:\n%s\nwant:\n%s", got, want2)
		}
	}
	if got := srv.Requests("GET /schemas/ids/{id}"); got != 2 {
		t.Errorf("registry schema fetches = %d, want 2 (one per id, then cached)", got)
	}
	// A second decoder (another worker) shares the registry's cache.
	d2, _ := NewDecoder(InputConfig{Format: FormatConfluent}, l, reg)
	decodeOK(t, d2, l, rec2, id2)
	if got := srv.Requests("GET /schemas/ids/{id}"); got != 2 {
		t.Errorf("registry schema fetches after a second decoder = %d, want 2", got)
	}
	// Zero allocations once the schema is cached.
	row := l.NewRow()
	if a := testing.AllocsPerRun(100, func() { _, _ = d.Decode(rec1, row) }); a != 0 {
		t.Errorf("confluent decode: %v allocs per record, want 0", a)
	}
}

func replaceLine(text, prefix, line string) string {
	out := ""
	for _, l := range splitLines(text) {
		if len(l) >= len(prefix) && l[:len(prefix)] == prefix {
			l = line
		}
		out += l + "\n"
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func decodeOK(t *testing.T, d Decoder, l *features.Layout, rec []byte, id int) *features.Row {
	t.Helper()
	row := l.NewRow()
	m, err := d.Decode(rec, row)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if m.SchemaID != id {
		t.Errorf("Meta.SchemaID = %d, want %d", m.SchemaID, id)
	}
	return row
}

func TestConfluentDecodeErrors(t *testing.T) {
	srv, reg := newTestRegistry(t)
	v1, _ := EmbeddedSchema("fraud_transaction")
	id1, _ := srv.Register("t-value", v1, "")
	wrongID, _ := srv.Register("t-value", `{"type":"record","name":"W","fields":[{"name":"amount","type":"boolean"},{"name":"timestamp","type":"string"}]}`, "")
	protoID, _ := srv.Register("p-value", `syntax = "proto3"; message M { string a = 1; }`, "PROTOBUF")
	lacksID, _ := srv.Register("l-value", `{"type":"record","name":"L","fields":[{"name":"timestamp","type":"string"}]}`, "")
	l := mustLayout(t, fraudInputs())
	d, err := NewDecoder(InputConfig{Format: FormatConfluent}, l, reg)
	if err != nil {
		t.Fatal(err)
	}
	body := fraudAvro(t)
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, `malformed field=""`},
		{"short header", []byte{0, 0, 0, 1}, `malformed field=""`},
		{"bad magic byte", append([]byte{1, 0, 0, 0, byte(id1)}, body...), `malformed field=""`},
		{"unknown id", framed(9999, body), `unknown_schema_id field=""`},
		{"id beyond int32", framed(-1, body), `unknown_schema_id field=""`},
		{"protobuf schema id", framed(protoID, body), `unknown_schema_id field=""`},
		{"writer type cannot fill the input", framed(wrongID, []byte{1, 2, 'x'}), `wrong_type field="amount"`},
		{"writer lacks a required input", framed(lacksID, append([]byte{40}, "2024-01-02T03:04:05Z"...)), `missing_field field="amount"`},
		{"body truncated", framed(id1, body[:len(body)-3]), `malformed field=""`},
		{"ok", framed(id1, body), "ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Decode(tc.in, l.NewRow())
			if got := describeErr(err); got != tc.want {
				t.Errorf("Decode error = %v (%s), want %s", err, got, tc.want)
			}
		})
	}
	// Unknown ids are remembered: decoding it again asks the registry nothing.
	before := srv.Requests("GET /schemas/ids/{id}")
	d2, _ := NewDecoder(InputConfig{Format: FormatConfluent}, l, reg)
	for i := 0; i < 10; i++ {
		if _, err := d2.Decode(framed(9999, body), l.NewRow()); describeErr(err) != `unknown_schema_id field=""` {
			t.Fatalf("unknown id again: %v", err)
		}
	}
	if got := srv.Requests("GET /schemas/ids/{id}"); got != before {
		t.Errorf("requests for a remembered unknown id = %d, want 0", got-before)
	}
}

func TestRegistryNegativeCacheExpires(t *testing.T) {
	srv, reg := newTestRegistry(t)
	now := time.Unix(1000, 0)
	reg.now = func() time.Time { return now }
	ctx := context.Background()
	if _, err := reg.SchemaText(ctx, 1); !errors.Is(err, ErrSchemaNotFound) {
		t.Fatalf("SchemaText(unknown) = %v, want ErrSchemaNotFound", err)
	}
	v1, _ := EmbeddedSchema("iris")
	if _, err := srv.Register("iris-value", v1, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.SchemaText(ctx, 1); !errors.Is(err, ErrSchemaNotFound) {
		t.Fatalf("within NegativeTTL: %v, want the remembered ErrSchemaNotFound", err)
	}
	now = now.Add(NegativeTTL)
	if got, err := reg.SchemaText(ctx, 1); err != nil || got != v1 {
		t.Fatalf("after NegativeTTL: %q, %v; want the schema", got, err)
	}
}

func TestConfluentDecodeTransient(t *testing.T) {
	srv, reg := newTestRegistry(t)
	v1, _ := EmbeddedSchema("fraud_transaction")
	id, _ := srv.Register("t-value", v1, "")
	l := mustLayout(t, fraudInputs())
	d, _ := NewDecoder(InputConfig{Format: FormatConfluent}, l, reg)
	srv.FailNext(1)
	rec := framed(id, fraudAvro(t))
	_, err := d.Decode(rec, l.NewRow())
	if err == nil {
		t.Fatal("Decode with the registry failing succeeded")
	}
	if r, poison := reject.Of(err); poison {
		t.Fatalf("registry failure reported as poison %s: %v", r, err)
	}
	if !errors.Is(err, ErrRegistryRequest) {
		t.Errorf("error = %v, want ErrRegistryRequest", err)
	}
	if _, err := d.Decode(rec, l.NewRow()); err != nil {
		t.Fatalf("Decode after the registry recovered: %v", err)
	}
}

func TestRegistryBasicAuth(t *testing.T) {
	srv := srtest.New(t)
	srv.RequireBasicAuth("svc", "s3cret")
	v1, _ := EmbeddedSchema("iris")
	id, _ := srv.Register("iris-value", v1, "")
	ctx := context.Background()
	good, err := NewRegistry(RegistryConfig{URL: srv.URL(), Username: "svc", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := good.SchemaText(ctx, id); err != nil {
		t.Errorf("with credentials: %v", err)
	}
	bad, _ := NewRegistry(RegistryConfig{URL: srv.URL(), Username: "svc", Password: "wrong"})
	if _, err := bad.SchemaText(ctx, id); !errors.Is(err, ErrRegistryRequest) {
		t.Errorf("with wrong credentials: %v, want ErrRegistryRequest", err)
	}
}

func TestRegistrySingleFetch(t *testing.T) {
	srv, reg := newTestRegistry(t)
	v1, _ := EmbeddedSchema("iris")
	id, _ := srv.Register("iris-value", v1, "")
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := reg.SchemaText(context.Background(), id); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := srv.Requests("GET /schemas/ids/{id}"); got != 1 {
		t.Errorf("concurrent lookups of one id made %d requests, want 1", got)
	}
}

func TestNilRegistry(t *testing.T) {
	reg, err := NewRegistry(RegistryConfig{})
	if reg != nil || err != nil {
		t.Fatalf("NewRegistry(empty) = %v, %v; want nil, nil", reg, err)
	}
	if _, err := reg.SchemaText(context.Background(), 1); !errors.Is(err, ErrNoRegistry) {
		t.Errorf("nil registry SchemaText: %v, want ErrNoRegistry", err)
	}
	l := mustLayout(t, fraudInputs())
	if _, err := NewDecoder(InputConfig{Format: FormatConfluent}, l, nil); !errors.Is(err, ErrNoRegistry) {
		t.Errorf("confluent decoder without registry: %v, want ErrNoRegistry", err)
	}
	if _, err := NewEncoder(context.Background(), OutputConfig{Format: FormatConfluent, Topic: "p"}, nil); !errors.Is(err, ErrNoRegistry) {
		t.Errorf("confluent encoder without registry: %v, want ErrNoRegistry", err)
	}
}

func TestConfluentEncoderRegisters(t *testing.T) {
	srv, reg := newTestRegistry(t)
	ctx := context.Background()
	e, err := NewEncoder(ctx, OutputConfig{Format: FormatConfluent, Topic: "predictions", EchoFeatures: true}, reg)
	if err != nil {
		t.Fatal(err)
	}
	id := e.(*AvroEncoder).SchemaID()
	if got := srv.Requests("POST /subjects/{subject}/versions"); got != 1 {
		t.Errorf("registrations = %d, want 1", got)
	}
	// A second instance finds the schema by lookup and registers nothing.
	e2, err := NewEncoder(ctx, OutputConfig{Format: FormatConfluent, Subject: "predictions-value"}, reg)
	if err != nil {
		t.Fatal(err)
	}
	if got := e2.(*AvroEncoder).SchemaID(); got != id {
		t.Errorf("second encoder id = %d, want %d", got, id)
	}
	if got := srv.Requests("POST /subjects/{subject}/versions"); got != 1 {
		t.Errorf("registrations after a second encoder = %d, want 1", got)
	}
	// A consumer reads the record with the schema the registry holds.
	p := samplePrediction()
	b, err := e.Append(nil, p)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0 || int(binary.BigEndian.Uint32(b[1:5])) != id {
		t.Fatalf("header % x, want magic 0 and id %d", b[:5], id)
	}
	text, err := reg.SchemaText(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	c, err := goavro.NewCodec(text)
	if err != nil {
		t.Fatal(err)
	}
	got, rest, err := c.NativeFromBinary(b[5:])
	if err != nil || len(rest) != 0 {
		t.Fatalf("goavro decode: %v, %d bytes left", err, len(rest))
	}
	want, _, _ := c.NativeFromBinary(mustGoavro(t, c, predictionNative(p, true)))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded prediction:\n%v\nwant:\n%v", got, want)
	}
}

func mustGoavro(t *testing.T, c *goavro.Codec, native any) []byte {
	t.Helper()
	b, err := c.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRegistryWithSRFake repeats the evolution case against franz-go's
// srfake, so the client is not only tested against our own fake.
func TestRegistryWithSRFake(t *testing.T) {
	fake := srfake.New()
	t.Cleanup(fake.Close)
	v1, _ := EmbeddedSchema("fraud_transaction")
	fake.SeedSchema("t-value", 1, 7, sr.Schema{Schema: v1, Type: sr.TypeAvro})
	fake.SeedSchema("t-value", 2, 8, sr.Schema{Schema: fraudV2, Type: sr.TypeAvro})
	reg, err := NewRegistry(RegistryConfig{URL: fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	l := mustLayout(t, fraudInputs())
	d, _ := NewDecoder(InputConfig{Format: FormatConfluent}, l, reg)
	for _, rec := range [][]byte{framed(7, fraudAvro(t)), framed(8, goavroEncode(t, fraudV2, fraudV2Native()))} {
		if _, err := d.Decode(rec, l.NewRow()); err != nil {
			t.Errorf("Decode schema id %d: %v", binary.BigEndian.Uint32(rec[1:5]), err)
		}
	}
	if _, err := d.Decode(framed(9, fraudAvro(t)), l.NewRow()); describeErr(err) != `unknown_schema_id field=""` {
		t.Errorf("unknown id with srfake: %v", err)
	}
	e, err := NewEncoder(context.Background(), OutputConfig{Format: FormatConfluent, Topic: "p"}, reg)
	if err != nil {
		t.Fatalf("registering with srfake: %v", err)
	}
	if id := e.(*AvroEncoder).SchemaID(); id <= 0 {
		t.Errorf("schema id = %d", id)
	}
}

// TestNoValue: a record without a value is malformed in every format, and
// the message tells a tombstone (null value) from an empty one.
func TestNoValue(t *testing.T) {
	_, reg := newTestRegistry(t)
	l := mustLayout(t, fraudInputs())
	for _, cfg := range []InputConfig{
		{Format: FormatJSON},
		{Format: FormatAvro, AvroSchema: "fraud_transaction.avsc"},
		{Format: FormatConfluent},
	} {
		d, err := NewDecoder(cfg, l, reg)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			in   []byte
			want string
		}{{nil, "no value: a tombstone"}, {[]byte{}, "empty value"}} {
			_, err := d.Decode(tc.in, l.NewRow())
			if describeErr(err) != `malformed field=""` || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: Decode(%#v) = %v, want malformed saying %q", cfg.Format, tc.in, err, tc.want)
			}
		}
	}
}
