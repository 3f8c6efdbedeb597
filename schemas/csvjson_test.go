package schemas

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/features"
)

// The tests in this file feed the same events to the JSON decoder and, as
// CSV, to the CSV decoder, and want the same row (and event id) or the same
// reject reason and field.

// csvCellOf is how a CSV file carries the JSON value v of a field feeding
// an input of type typ (or the event id, when typ is ""). ok is false when
// CSV cannot say the same thing: every cell is text, so a JSON string
// holding a number, a bool word or nan (which JSON rejects for a number and
// CSV reads as one), an empty string category (an empty cell is missing),
// a non-integer number or a bool for a category (JSON rejects them, CSV
// reads any text as a category), an object or an array.
func csvCellOf(v any, present bool, typ features.InputType) (cell string, ok bool) {
	if !present || v == nil {
		return "", true
	}
	numeric := func(s string) bool {
		_, err := strconv.ParseFloat(s, 64) // nan, inf and hex floats included
		return err == nil || strings.Contains(err.Error(), "range")
	}
	switch v := v.(type) {
	case json.Number:
		s := string(v)
		integer := !strings.ContainsAny(s, ".eE")
		switch {
		case typ == features.Category && (!integer || s == "-0"):
			return "", false // JSON: wrong_type, or the text "0"
		case typ == "" && !integer:
			return "", true // JSON ignores such an event id: an empty cell
		case typ == "" && s == "-0":
			return "", false // JSON: the text "0"
		}
		return s, true
	case bool:
		if typ == features.Category {
			return "", false
		}
		if typ == "" {
			return "", true
		}
		return strconv.FormatBool(v), true
	case string:
		switch typ {
		case features.Category, "":
			return v, v != ""
		case features.Bool:
			lower := strings.ToLower(v)
			return v, v != "" && lower != "true" && lower != "false" && !numeric(v)
		default:
			return v, v != "" && !numeric(v)
		}
	}
	if typ == "" {
		return "", true // an object or array event id is ignored
	}
	return "", false
}

// jsonField finds a dotted path in a decoded JSON object. ok is false when
// an object on the way is something else (JSON says wrong_type, CSV has no
// way to say it).
func jsonField(m map[string]any, path []string) (v any, present, ok bool) {
	var cur any = m
	for _, p := range path {
		if cur == nil {
			return nil, false, true
		}
		obj, isObj := cur.(map[string]any)
		if !isObj {
			return nil, false, false
		}
		if cur, present = obj[p]; !present {
			return nil, false, true
		}
	}
	return cur, true, true
}

// csvColumn says which input (or the event id, input -1) a test header
// column carries.
type csvColumn struct {
	name  string
	path  []string
	input int
}

func csvColumns(l *features.Layout, eventID string) []csvColumn {
	var cols []csvColumn
	for i, in := range l.Inputs {
		cols = append(cols, csvColumn{name: strings.Join(in.FieldPath(), "."), path: in.FieldPath(), input: i})
	}
	if eventID != "" {
		cols = append(cols, csvColumn{name: eventID, path: strings.Split(eventID, "."), input: -1})
	}
	return cols
}

// csvRecordOf turns one JSON event into the cells of a CSV record under
// cols, or reports that CSV cannot express it.
func csvRecordOf(t *testing.T, l *features.Layout, cols []csvColumn, event []byte) ([]string, bool) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("event %s: %v", event, err)
	}
	cells := make([]string, len(cols))
	for k, c := range cols {
		v, present, ok := jsonField(m, c.path)
		if !ok {
			return nil, false
		}
		var typ features.InputType
		if c.input >= 0 {
			typ = l.Inputs[c.input].Type
		}
		if cells[k], ok = csvCellOf(v, present, typ); !ok {
			return nil, false
		}
	}
	return cells, true
}

// writeCSV is a file of these records under cols, written by encoding/csv
// (which quotes cells as needed) with CRLF line breaks when crlf.
func writeCSV(t *testing.T, cols []csvColumn, records [][]string, crlf bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = crlf
	header := make([]string, len(cols))
	for k, c := range cols {
		header[k] = c.name
	}
	if err := w.Write(header); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAll(records); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// compareCSVWithJSON decodes every event as JSON and its record of file as
// CSV, and reports any difference.
func compareCSVWithJSON(t *testing.T, l *features.Layout, cfg InputConfig, events [][]byte, file []byte) {
	t.Helper()
	jsonDec, err := NewDecoder(cfg, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewCSVReader(bytes.NewReader(file), cfg)
	if err != nil {
		t.Fatal(err)
	}
	csvDec, err := NewCSVDecoder(cfg, l, r.Header())
	if err != nil {
		t.Fatal(err)
	}
	for k, event := range events {
		rec, line, err := r.Next()
		if err != nil {
			t.Fatalf("CSV record for event %d (%s): %v", k, event, err)
		}
		jrow, crow := l.NewRow(), l.NewRow()
		jmeta, jerr := jsonDec.Decode(event, jrow)
		cmeta, cerr := csvDec.Decode(rec, crow)
		if describeErr(jerr) != describeErr(cerr) {
			t.Errorf("%s\nas JSON: %v\nas CSV (line %d %q): %v", event, jerr, line, rec, cerr)
			continue
		}
		if jerr != nil {
			continue
		}
		if j, c := rowText(l, jrow), rowText(l, crow); j != c {
			t.Errorf("%s\nas JSON:\n%s\nas CSV (line %d %q):\n%s", event, j, line, rec, c)
		}
		if !bytes.Equal(jmeta.EventID, cmeta.EventID) || (jmeta.EventID == nil) != (cmeta.EventID == nil) {
			t.Errorf("%s: event id %q as JSON, %q as CSV", event, jmeta.EventID, cmeta.EventID)
		}
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last event: %v, want io.EOF", err)
	}
}

func TestCSVDecodeMatchesJSON(t *testing.T) {
	events := []string{
		`{"n":1.5,"c":"x","b":true,"ts":"2024-01-02T03:04:05Z","card":{"country":"DE"},"req":0,"id":"ev-1"}`,
		`{"req":1}`,
		`{"n":null,"c":null,"b":null,"ts":null,"card":null,"req":1,"id":null}`,
		`{"req":1,"card":{}}`,
		`{"req":1,"c":5411,"card":{"country":"5411"},"id":12345678901234567890}`,
		`{"req":1,"id":1.5}`,
		`{"req":1,"id":{"a":1}}`,
		`{"req":1,"ts":1704164645123}`,
		`{"req":1,"ts":1.5e12}`,
		`{"req":1,"ts":"2024-01-02T05:04:05.1239+02:00"}`,
		`{"req":1,"ts":"2026-02-07T19:26:47-01:00"}`,
		`{"req":0.1,"n":1e-05}`,
		`{"req":-0,"n":-0.0}`,
		`{"req":123456789012345678901234567890}`,
		`{"req":5e-324,"n":1.7976931348623157e308}`,
		`{"req":1,"c":"a,\"b\"\nc","card":{"country":" DE "}}`,
		`{"req":1,"c":"é😀"}`,
		`{"req":1,"n":2,"n":3}`,
		`{"req":1,"b":false}`,
		// rejected alike
		`{"req":1e999}`,
		`{"req":-1e400}`,
		`{"req":1,"n":1e309}`,
		`{"n":1}`,
		`{"req":null}`,
		`{"req":1,"b":1}`,
		`{"req":1,"b":0}`,
		`{"req":"abc"}`,
		`{"req":true}`,
		`{"req":1,"b":"yes"}`,
		`{"req":1,"ts":"2024-13-01T00:00:00Z"}`,
		`{"req":1,"ts":"2024-01-02 03:04:05"}`,
		`{"req":1,"ts":"yesterday"}`,
		`{"req":1,"ts":true}`,
		`{"req":1,"ts":1e999}`,
		`{"n":"x","req":1}`,
	}
	l := mustLayout(t, typesInputs())
	cfg := InputConfig{EventIDField: "id"}
	cols := csvColumns(l, cfg.EventIDField)
	var jsonEvents [][]byte
	var records [][]string
	for _, e := range events {
		rec, ok := csvRecordOf(t, l, cols, []byte(e))
		if !ok {
			t.Fatalf("test event %s cannot be written as CSV: take it out of this table", e)
		}
		jsonEvents = append(jsonEvents, []byte(e))
		records = append(records, rec)
	}
	for _, crlf := range []bool{false, true} {
		compareCSVWithJSON(t, l, cfg, jsonEvents, writeCSV(t, cols, records, crlf))
	}
}

// TestCSVDecodeReferenceEvents writes the reference events of example
// bundles as a CSV file and decodes it: every event CSV can express gives
// the row (or reason) its JSON gives.
func TestCSVDecodeReferenceEvents(t *testing.T) {
	for _, ex := range []struct{ bundle, eventID string }{{"fraud", "transaction_id"}, {"iris", ""}} {
		t.Run(ex.bundle, func(t *testing.T) {
			dir := filepath.Join("..", "examples", ex.bundle)
			raw, err := os.ReadFile(filepath.Join(dir, "bundle.json"))
			if err != nil {
				t.Fatal(err)
			}
			var manifest struct {
				Inputs []features.Input `json:"inputs"`
			}
			if err := json.Unmarshal(raw, &manifest); err != nil {
				t.Fatal(err)
			}
			l := mustLayout(t, manifest.Inputs)
			cols := csvColumns(l, ex.eventID)
			f, err := os.Open(filepath.Join(dir, "reference.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var events [][]byte
			var records [][]string
			var skipped []string
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var ref struct {
					Event json.RawMessage `json:"event"`
					Note  string          `json:"note"`
				}
				if err := json.Unmarshal(sc.Bytes(), &ref); err != nil {
					t.Fatal(err)
				}
				rec, ok := csvRecordOf(t, l, cols, ref.Event)
				if !ok {
					skipped = append(skipped, ref.Note)
					continue
				}
				events = append(events, ref.Event)
				records = append(records, rec)
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			if len(events) < 1000 || len(skipped) > 2 {
				t.Errorf("%d reference events compared, %d cannot be written as CSV (%q): want nearly all compared",
					len(events), len(skipped), skipped)
			}
			compareCSVWithJSON(t, l, InputConfig{EventIDField: ex.eventID}, events, writeCSV(t, cols, records, false))
			t.Logf("%d reference events decoded alike from JSON and CSV; not expressible in CSV: %q", len(events), skipped)
		})
	}
}
