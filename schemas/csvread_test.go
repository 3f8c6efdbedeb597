package schemas

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/streamscore/streamscore/reject"
)

// newCSVReaderChunk is NewCSVReader with a chunk size of the test's choice
// (small chunks make every record cross a refill).
func newCSVReaderChunk(src io.Reader, max, chunk int) (*CSVReader, error) {
	cfg := InputConfig{MaxRecordBytes: max}.WithDefaults()
	r := &CSVReader{src: src, max: cfg.MaxRecordBytes, chunk: chunk, line: 1}
	return r, r.readHeader()
}

// readAllCSV renders everything a reader yields after the header, one
// "line:record" (or "line:too_large") per record.
func readAllCSV(r *CSVReader) ([]string, error) {
	var out []string
	for {
		rec, line, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if reason, _ := reject.Of(err); reason == reject.TooLarge {
			if rec != nil {
				return out, fmt.Errorf("line %d: too_large with a record %q", line, rec)
			}
			out = append(out, fmt.Sprintf("%d:too_large", line))
			continue
		}
		if err != nil {
			return out, err
		}
		if len(rec) > r.max {
			return out, fmt.Errorf("line %d: record of %d bytes over the limit %d", line, len(rec), r.max)
		}
		out = append(out, fmt.Sprintf("%d:%s", line, rec))
	}
}

func TestCSVReader(t *testing.T) {
	tests := []struct {
		name       string
		max        int
		in         string
		wantHeader []string
		wantLine   int // of the header
		want       []string
	}{
		{name: "LF", in: "a,b\n1,2\n3,4\n", wantHeader: []string{"a", "b"}, wantLine: 1,
			want: []string{"2:1,2", "3:3,4"}},
		{name: "CRLF, no final line break", in: "a,b\r\n1,2\r\n3,4", wantHeader: []string{"a", "b"}, wantLine: 1,
			want: []string{"2:1,2", "3:3,4"}},
		{name: "byte order mark before the header", in: "\xEF\xBB\xBFa,b\n1,2\n", wantHeader: []string{"a", "b"}, wantLine: 1,
			want: []string{"2:1,2"}},
		{name: "byte order mark elsewhere is data", in: "a,\xEF\xBB\xBFb\n\xEF\xBB\xBF1,2\n", wantHeader: []string{"a", "\ufeffb"}, wantLine: 1,
			want: []string{"2:\xEF\xBB\xBF1,2"}},
		{name: "quoted header and fields, quoted line breaks", in: "\"a,x\",\"b\"\"q\"\n\"1\n2\",\"x\"\"y\"\n\"\r\n\",6\n7,8\n",
			wantHeader: []string{"a,x", `b"q`}, wantLine: 1,
			want: []string{"2:\"1\n2\",\"x\"\"y\"", "4:\"\r\n\",6", "6:7,8"}},
		{name: "empty lines skipped and counted", in: "\n\r\na,b\n\n1,2\r\n\r\n3,4\n\n", wantHeader: []string{"a", "b"}, wantLine: 3,
			want: []string{"5:1,2", "7:3,4"}},
		{name: "a line of a comma is not empty", in: "a,b\n,\n", wantHeader: []string{"a", "b"}, wantLine: 1,
			want: []string{"2:,"}},
		{name: "CR before the end of the input dropped", in: "a,b\n1,2\r", wantHeader: []string{"a", "b"}, wantLine: 1,
			want: []string{"2:1,2"}},
		{name: "lone CR at the end after a line break", in: "a,b\n1,2\n\r", wantHeader: []string{"a", "b"}, wantLine: 1,
			want: []string{"2:1,2"}},
		{name: "lone CR in a field is data", in: "a,b\n1\r2,3\n\r\r\n", wantHeader: []string{"a", "b"}, wantLine: 1,
			want: []string{"2:1\r2,3", "3:\r"}},
		{name: "bare quote: the record ends at the end of its line", in: "a,b\nx\"y,\"z\n1,2\n", wantHeader: []string{"a", "b"}, wantLine: 1,
			want: []string{"2:x\"y,\"z", "3:1,2"}},
		{name: "text after a closing quote: the record ends at the end of its line", in: "a,b\n\"x\"y,\"\n1,2\n\"p\nq\"\rz,\"\n3,4\n",
			wantHeader: []string{"a", "b"}, wantLine: 1,
			want: []string{"2:\"x\"y,\"", "3:1,2", "4:\"p\nq\"\rz,\"", "6:3,4"}},
		{name: "unclosed quote runs to the end", in: "a,b\n\"x,1\n2,3\n", wantHeader: []string{"a", "b"}, wantLine: 1,
			want: []string{"2:\"x,1\n2,3\n"}},
		{name: "too large records skipped, reading goes on", max: 8,
			in:         "a,b\n1,2\n123456789,0\n\"long\nquoted,,,,\"\n3,4\n\"x\ny\"\r\n",
			wantHeader: []string{"a", "b"}, wantLine: 1,
			want: []string{"2:1,2", "3:too_large", "4:too_large", "6:3,4", "7:\"x\ny\""}},
		{name: "a record at the limit, CRLF not counted", max: 5, in: "a,b\n12,45\r\n12,456\n\"1\n2\"\n",
			wantHeader: []string{"a", "b"}, wantLine: 1,
			want: []string{"2:12,45", "3:too_large", "4:\"1\n2\""}},
		{name: "header only", in: "a,b\n", wantHeader: []string{"a", "b"}, wantLine: 1},
		{name: "empty header names", in: ",a,\n1,2,3\n", wantHeader: []string{"", "a", ""}, wantLine: 1,
			want: []string{"2:1,2,3"}},
	}
	readers := map[string]func(string) io.Reader{
		"whole":    func(s string) io.Reader { return strings.NewReader(s) },
		"one byte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
		"half":     func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) },
	}
	for _, tc := range tests {
		for rname, src := range readers {
			for _, chunk := range []int{1, 3, csvChunk} {
				t.Run(fmt.Sprintf("%s/%s/chunk %d", tc.name, rname, chunk), func(t *testing.T) {
					r, err := newCSVReaderChunk(src(tc.in), tc.max, chunk)
					if err != nil {
						t.Fatalf("NewCSVReader(%q): %v", tc.in, err)
					}
					if got := r.Header(); !slices.Equal(got, tc.wantHeader) {
						t.Errorf("header = %q, want %q", got, tc.wantHeader)
					}
					if got := r.HeaderLine(); got != tc.wantLine {
						t.Errorf("header line = %d, want %d", got, tc.wantLine)
					}
					got, err := readAllCSV(r)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, tc.want) {
						t.Errorf("records of %q:\ngot  %q\nwant %q", tc.in, got, tc.want)
					}
				})
			}
		}
	}
}

func TestCSVReaderHeaderErrors(t *testing.T) {
	tests := []struct {
		name string
		max  int
		in   string
		want string // in the error
	}{
		{name: "empty input", in: "", want: "csv input is empty"},
		{name: "only empty lines", in: "\n\r\n\n", want: "csv input is empty"},
		{name: "header too large", max: 4, in: "abcdef\n1\n", want: "csv header on line 1: longer than 4 bytes"},
		{name: "bare quote in the header", in: "a\"b,c\n", want: "csv header on line 1: malformed: field 1: a quote inside an unquoted field"},
		{name: "unclosed quote in the header", in: "\n\"a,b\n", want: "csv header on line 2: malformed: field 1: quoted field not closed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewCSVReader(strings.NewReader(tc.in), InputConfig{MaxRecordBytes: tc.max})
			if !errors.Is(err, ErrCSVHeader) {
				t.Fatalf("NewCSVReader(%q) error = %v, want one wrapping ErrCSVHeader", tc.in, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := NewCSVReader(strings.NewReader("a\n"), InputConfig{MaxRecordBytes: -1}); !errors.Is(err, ErrNegativeLimit) {
		t.Errorf("negative limit: error = %v, want ErrNegativeLimit", err)
	}
}

func TestCSVReaderReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	for _, in := range []string{"a,b\n1,2", "a,b\n1,2\n"} {
		r, err := NewCSVReader(io.MultiReader(strings.NewReader(in), iotest.ErrReader(boom)), InputConfig{})
		if err != nil {
			t.Fatal(err)
		}
		var got error
		for got == nil {
			_, _, got = r.Next()
		}
		if !errors.Is(got, boom) {
			t.Errorf("%q then a read error: Next error = %v, want %v", in, got, boom)
		}
		if _, poison := reject.Of(got); poison {
			t.Errorf("a read error is not a record's fault: %v", got)
		}
		if _, _, err := r.Next(); !errors.Is(err, boom) {
			t.Errorf("after a read error, Next error = %v, want it again", err)
		}
	}
	if _, err := NewCSVReader(iotest.ErrReader(boom), InputConfig{}); !errors.Is(err, boom) || errors.Is(err, ErrCSVHeader) {
		t.Errorf("read error before the header: error = %v, want %v", err, boom)
	}
}

// TestCSVReaderKeepsRecords checks that records read earlier keep their
// bytes while later ones are read (a batch is decoded before it is used).
func TestCSVReaderKeepsRecords(t *testing.T) {
	var in strings.Builder
	in.WriteString("id,text\n")
	const n = 5000 // several chunks
	for i := range n {
		fmt.Fprintf(&in, "%d,\"quoted \"\" text %d\"\n", i, i)
	}
	r, err := NewCSVReader(strings.NewReader(in.String()), InputConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var recs [][]byte
	for {
		rec, _, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	if len(recs) != n {
		t.Fatalf("read %d records, want %d", len(recs), n)
	}
	for i, rec := range recs {
		if got, want := string(rec), fmt.Sprintf("%d,\"quoted \"\" text %d\"", i, i); got != want {
			t.Fatalf("record %d = %q, want %q", i, got, want)
		}
	}
}
