package schemas

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/streamscore/streamscore/features"
)

// exampleSchemas pairs each example bundle (examples/<name>) with the
// embedded event schema written for it.
var exampleSchemas = map[string]string{"fraud": "fraud_transaction", "iris": "iris", "churn": "churn"}

// TestExampleSchemasMatchBundles keeps the embedded event schemas in step
// with the example bundles the training side exports: every declared input
// has a field of a type that can fill it, required inputs are not nullable
// and optional ones are; and each reference event, sent as Avro with that
// schema, decodes to the same row as the event sent as JSON.
func TestExampleSchemasMatchBundles(t *testing.T) {
	for bundle, schema := range exampleSchemas {
		t.Run(bundle, func(t *testing.T) {
			dir := filepath.Join("..", "examples", bundle)
			raw, err := os.ReadFile(filepath.Join(dir, "bundle.json"))
			if err != nil {
				t.Fatalf("example bundle: %v", err)
			}
			var manifest struct {
				Inputs []features.Input `json:"inputs"`
			}
			if err := json.Unmarshal(raw, &manifest); err != nil {
				t.Fatal(err)
			}
			l := mustLayout(t, manifest.Inputs)
			avroDec, err := NewDecoder(InputConfig{Format: FormatAvro, AvroSchema: schema}, l, nil)
			if err != nil {
				t.Fatalf("schema %s cannot feed bundle %s: %v", schema, bundle, err)
			}
			fields := fieldTypes(t, schema)
			for _, in := range manifest.Inputs {
				typ, ok := fields[in.FieldPath()[0]]
				if !ok {
					t.Errorf("input %s has no field in %s.avsc", in.Name, schema)
					continue
				}
				nullable := strings.HasPrefix(typ, `["null"`)
				if in.Required && nullable {
					t.Errorf("input %s is required but nullable in %s.avsc", in.Name, schema)
				}
				if !in.Required && !nullable {
					t.Errorf("input %s is optional but not nullable in %s.avsc", in.Name, schema)
				}
			}
			checkReferenceEvents(t, dir, schema, l, avroDec)
		})
	}
}

func checkReferenceEvents(t *testing.T, dir, schema string, l *features.Layout, avroDec Decoder) {
	f, err := os.Open(filepath.Join(dir, "reference.jsonl"))
	if os.IsNotExist(err) {
		t.Logf("%s has no reference.jsonl yet: only the schema was checked", dir)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	text, _ := EmbeddedSchema(schema)
	codec, err := goavro.NewCodecForStandardJSONFull(text)
	if err != nil {
		t.Fatal(err)
	}
	jsonDec, err := NewDecoder(InputConfig{}, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		var ref struct {
			Event json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ref); err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		jrow := l.NewRow()
		_, jerr := jsonDec.Decode(ref.Event, jrow)
		event, ok := withNulls(t, ref.Event, fieldTypes(t, schema))
		if !ok {
			continue // a non-nullable field is absent or null: a producer could not send it with this schema
		}
		native, _, err := codec.NativeFromTextual(event)
		if err != nil {
			continue // not representable with this schema (a required field absent or of another type)
		}
		bin, err := codec.BinaryFromNative(nil, native)
		if err != nil {
			t.Fatalf("line %d: goavro: %v", line, err)
		}
		arow := l.NewRow()
		_, aerr := avroDec.Decode(bin, arow)
		if describeErr(jerr) != describeErr(aerr) {
			t.Errorf("line %d: json %v, avro %v", line, jerr, aerr)
			continue
		}
		if jerr == nil && rowText(l, jrow) != rowText(l, arow) {
			t.Errorf("line %d: json row:\n%s\navro row:\n%s", line, rowText(l, jrow), rowText(l, arow))
		}
		compared++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if compared == 0 {
		t.Errorf("no reference event of %s could be sent with %s.avsc", dir, schema)
	}
	t.Logf("%d reference events decoded alike from JSON and Avro", compared)
}

// withNulls adds explicit nulls for nullable fields the event leaves out,
// since goavro's JSON reader wants every field present. It reports false
// when a non-nullable field is absent or null (goavro would read a null
// double as NaN).
func withNulls(t *testing.T, event []byte, fields map[string]string) ([]byte, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(event, &m); err != nil {
		return nil, false
	}
	for name, typ := range fields {
		v, present := m[name]
		nullable := strings.HasPrefix(typ, `["null"`)
		switch {
		case nullable && !present:
			m[name] = json.RawMessage("null")
		case !nullable && (!present || string(v) == "null"):
			return nil, false
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b, true
}
