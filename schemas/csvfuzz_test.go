package schemas

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/internal/civil"
	"github.com/streamscore/streamscore/reject"
)

// csvOracle is one record as encoding/csv reads it: its start line and its
// fields, or a syntax error.
type csvOracle struct {
	line   int
	fields []string
	err    bool
}

// readWithEncodingCSV is the reference for CSVReader and splitCSV: the
// standard library's reader with default settings (any field count), after
// the byte order mark CSVReader drops.
func readWithEncodingCSV(t *testing.T, data []byte) []csvOracle {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, utf8BOM)))
	r.FieldsPerRecord = -1
	var out []csvOracle
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			out = append(out, csvOracle{line: pe.StartLine, err: true})
			continue
		}
		if err != nil {
			t.Fatalf("encoding/csv: %v", err)
		}
		line, _ := r.FieldPos(0)
		out = append(out, csvOracle{line: line, fields: slices.Clone(rec)})
	}
}

// FuzzCSVDecode reads any input as a CSV file and decodes its records. The
// reader must split it as encoding/csv does (same records, start lines and
// fields; a syntax error where encoding/csv has one), never hand out a
// record over the limit, and the decoder must never panic, allocate more
// than the record's size bounds, return a non-poison error, or fill a row
// other than strconv and time read the cells.
//
//	go test ./schemas -run '^$' -fuzz FuzzCSVDecode -fuzztime 60s
func FuzzCSVDecode(f *testing.F) {
	for _, s := range []string{
		typesHeader + ",id\n1.5,x,true,2024-01-02T03:04:05Z,DE,0,ev-1\n",
		"\xEF\xBB\xBF" + typesHeader + "\r\n,,,,,1,\r\nnan,\"a,\"\"b\"\"\r\nc\",True,1704164645123,,-0.0,7\r\n",
		"req,c\n1e999,x\n1,x\"y\n\"1\"x,\n\"1\n2\n",
		"req\n\n\"\"\n1\r\n\r",
		"a,b\n" + strings.Repeat("x", 300) + ",1\n1,2\n",
		"req,b,ts\n1,1,2024-01-02 03:04:05\n-inf,False,1.5e12\n",
		"\"req\nx\",\"b\"\n\"1\"\"\",\"\"\r\r\n",
	} {
		f.Add([]byte(s), uint8(0), uint8(0))
		f.Add([]byte(s), uint8(40), uint8(5))
	}
	l := mustLayout(f, typesInputs())
	fixed, err := NewCSVDecoder(InputConfig{EventIDField: "id"}, l, strings.Split(typesHeader+",id", ","))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, limit, chunk uint8) {
		max := 8 + int(limit)
		var src io.Reader = bytes.NewReader(data)
		if chunk%2 == 1 {
			src = iotest.OneByteReader(src)
		}
		oracle := readWithEncodingCSV(t, data)
		r, err := newCSVReaderChunk(src, max, 1+int(chunk)%97)
		if err != nil {
			checkCSVHeaderError(t, data, err, oracle)
			return
		}
		if len(oracle) == 0 || oracle[0].err {
			t.Fatalf("header %q accepted, which encoding/csv rejects", r.Header())
		}
		if !slices.Equal(r.Header(), oracle[0].fields) || r.HeaderLine() != oracle[0].line {
			t.Fatalf("header %q on line %d, encoding/csv reads %q on line %d", r.Header(), r.HeaderLine(), oracle[0].fields, oracle[0].line)
		}
		own, err := NewCSVDecoder(InputConfig{EventIDField: "id"}, l, r.Header())
		if err != nil && !errors.Is(err, ErrCSVHeader) {
			t.Fatalf("NewCSVDecoder(%q): %v, not a header error", r.Header(), err)
		}
		k := 1
		for ; ; k++ {
			rec, line, err := r.Next()
			if err == io.EOF {
				break
			}
			if k >= len(oracle) {
				t.Fatalf("record %d on line %d (%q, %v): encoding/csv has %d records", k, line, rec, err, len(oracle))
			}
			o := oracle[k]
			if line != o.line {
				t.Fatalf("record %d on line %d, encoding/csv says line %d", k, line, o.line)
			}
			if reason, _ := reject.Of(err); reason == reject.TooLarge {
				if rec != nil {
					t.Fatalf("too_large record %d handed out", k)
				}
				continue
			}
			if err != nil {
				t.Fatalf("record %d: %v", k, err)
			}
			if len(rec) > max {
				t.Fatalf("record %d is %d bytes, over the limit %d", k, len(rec), max)
			}
			checkCSVRecord(t, l, fixed, rec, o)
			if own != nil {
				row := l.NewRow()
				if _, err := own.Decode(rec, row); err != nil {
					if _, poison := reject.Of(err); !poison {
						t.Fatalf("non-poison error from the CSV decoder: %v", err)
					}
				}
			}
		}
		if k != len(oracle) {
			t.Fatalf("%d records read, encoding/csv reads %d", k, len(oracle))
		}
	})
}

// checkCSVHeaderError checks that the reader refused a header for a reason
// encoding/csv agrees with.
func checkCSVHeaderError(t *testing.T, data []byte, err error, oracle []csvOracle) {
	t.Helper()
	if !errors.Is(err, ErrCSVHeader) {
		t.Fatalf("NewCSVReader(%q): %v, not a header error", data, err)
	}
	switch msg := err.Error(); {
	case strings.Contains(msg, "is empty"):
		if len(oracle) != 0 {
			t.Fatalf("%q: empty, encoding/csv reads %d records", data, len(oracle))
		}
	case strings.Contains(msg, "malformed"):
		if len(oracle) == 0 || !oracle[0].err {
			t.Fatalf("%q: header %v, encoding/csv reads %+v", data, err, oracle)
		}
	case !strings.Contains(msg, "longer than"):
		t.Fatalf("%q: unexpected header error %v", data, err)
	}
}

// checkCSVRecord splits and decodes one record and compares the result with
// encoding/csv's reading of it, and the row with strconv's and time's.
func checkCSVRecord(t *testing.T, l *features.Layout, d *CSVDecoder, rec []byte, o csvOracle) {
	t.Helper()
	cells, serr := splitCSV(rec, nil, -1)
	if (serr != nil) != o.err {
		t.Fatalf("%q: split error %v, encoding/csv error %v", rec, serr, o.err)
	}
	if serr == nil {
		got := make([]string, len(cells))
		for i, c := range cells {
			got[i] = string(c.text(rec, nil))
		}
		if !slices.Equal(got, o.fields) {
			t.Fatalf("%q: fields %q, encoding/csv reads %q", rec, got, o.fields)
		}
	}
	row := l.NewRow()
	meta, reason, err := fuzzDecode(t, "CSV", d, rec, row)
	if wantMalformed := o.err || len(o.fields) != len(d.cols); (reason == reject.Malformed) != wantMalformed {
		t.Fatalf("%q: %v, encoding/csv reads %+v", rec, err, o)
	}
	if err != nil {
		return
	}
	f := o.fields // n, c, b, ts, card.country, req, id
	checkCSVNumber(t, rec, "n", row.Num[l.Slot(0)], f[0])
	checkCSVText(t, rec, "c", row.Cat[l.Slot(1)], f[1])
	checkCSVBool(t, rec, row.Num[l.Slot(2)], f[2])
	checkCSVTimestamp(t, rec, row.Num[l.Slot(3)], f[3])
	checkCSVText(t, rec, "country", row.Cat[l.Slot(4)], f[4])
	checkCSVNumber(t, rec, "req", row.Num[l.Slot(5)], f[5])
	checkCSVText(t, rec, "id", meta.EventID, f[6])
	if math.IsNaN(row.Num[l.Slot(5)]) {
		t.Fatalf("%q: required req missing without missing_field", rec)
	}
}

func csvMissing(cell string) bool { return cell == "" || strings.EqualFold(cell, "nan") }

func checkCSVNumber(t *testing.T, rec []byte, name string, got float64, cell string) {
	t.Helper()
	if csvMissing(cell) {
		if !math.IsNaN(got) {
			t.Fatalf("%q: %s = %v from the missing cell %q", rec, name, got, cell)
		}
		return
	}
	want, err := strconv.ParseFloat(cell, 64)
	if err != nil || math.Float64bits(got) != math.Float64bits(want) || math.IsInf(got, 0) {
		t.Fatalf("%q: %s = %v, strconv reads %q as %v (%v)", rec, name, got, cell, want, err)
	}
}

func checkCSVText(t *testing.T, rec []byte, name string, got []byte, cell string) {
	t.Helper()
	if cell == "" {
		if got != nil {
			t.Fatalf("%q: %s = %q from an empty cell", rec, name, got)
		}
		return
	}
	if string(got) != cell {
		t.Fatalf("%q: %s = %q, encoding/csv reads %q", rec, name, got, cell)
	}
}

func checkCSVBool(t *testing.T, rec []byte, got float64, cell string) {
	t.Helper()
	want := math.NaN()
	switch {
	case csvMissing(cell):
	case strings.EqualFold(cell, "true"):
		want = 1
	case strings.EqualFold(cell, "false"):
		want = 0
	default:
		t.Fatalf("%q: b = %v from %q", rec, got, cell)
	}
	if math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want)) {
		t.Fatalf("%q: b = %v from %q", rec, got, cell)
	}
}

func checkCSVTimestamp(t *testing.T, rec []byte, got float64, cell string) {
	t.Helper()
	if csvMissing(cell) {
		if !math.IsNaN(got) {
			t.Fatalf("%q: ts = %v from the missing cell %q", rec, got, cell)
		}
		return
	}
	if want, err := strconv.ParseFloat(cell, 64); err == nil {
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%q: ts = %v, strconv reads %q as %v", rec, got, cell, want)
		}
		return
	}
	tm, err := time.Parse(time.RFC3339, cell)
	if err != nil {
		t.Fatalf("%q: ts = %v from %q, which time.Parse rejects: %v", rec, got, cell, err)
	}
	if want := float64(civil.FloorDiv(tm.UnixMicro(), 1000)); got != want {
		t.Fatalf("%q: ts = %v, time.Parse reads %q as %v", rec, got, cell, want)
	}
}
