package batch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/internal/golden"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

func load(t *testing.T, name string) *scoring.Bundle {
	t.Helper()
	b, err := scoring.Load(filepath.Join("..", "scoring", "testdata", "bundles", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jsonEncoder(t *testing.T) schemas.Encoder {
	t.Helper()
	enc, err := schemas.NewEncoder(context.Background(), schemas.OutputConfig{Format: schemas.FormatJSON}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// scoredTime is the only field of a prediction record that depends on the
// clock; golden files hold it as 0.
var scoredTime = regexp.MustCompile(`"scored_time":\d+`)

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name), scoredTime.ReplaceAll(got, []byte(`"scored_time":0`)))
}

func TestRun(t *testing.T) {
	jsonl := `{"a": 1, "b": 2, "c": "u", "id": "r1"}
{"a": 50, "b": 0, "c": "v"}

{"b": 2, "c": "u"}
{"a": "x"}
not json
{"a": 1, "b": 2, "c": "w", "extra": true}
`
	tests := []struct {
		name                   string
		separateRejects        bool
		wantRows, wantRejected int64
	}{
		{"jsonl-separate-rejects", true, 6, 4},
		{"jsonl-inline-rejects", false, 6, 4},
	}
	b := load(t, "hand-linear")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, rej bytes.Buffer
			var calls int
			opt := Options{InFormat: JSONL, BatchSize: 4, Progress: func(Stats) { calls++ }}
			var st Stats
			var err error
			cfg := schemas.InputConfig{EventIDField: "id"}
			if tt.separateRejects {
				st, err = Run(context.Background(), b, cfg, jsonEncoder(t), false, strings.NewReader(jsonl), &out, &rej, opt)
			} else {
				st, err = Run(context.Background(), b, cfg, jsonEncoder(t), false, strings.NewReader(jsonl), &out, nil, opt)
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Rows != tt.wantRows || st.Rejected != tt.wantRejected || st.Scored != st.Rows-st.Rejected {
				t.Errorf("stats: got %+v, want %d rows, %d rejected", st, tt.wantRows, tt.wantRejected)
			}
			if calls != 2 {
				t.Errorf("progress: got %d calls, want 2 (one per batch of 4)", calls)
			}
			if got, want := strings.Join(st.UnknownFields, ","), "extra"; got != want {
				t.Errorf("unknown fields: got %s, want %s", got, want)
			}
			checkGolden(t, tt.name+".out", out.Bytes())
			if tt.separateRejects {
				checkGolden(t, tt.name+".rejects", rej.Bytes())
			}
		})
	}
}

func TestRunCSV(t *testing.T) {
	// the rows of TestRun's JSON Lines as CSV, plus a header typo (bb) and a short row
	in := "a,bb,c,id\n1,2,u,r1\n50,0,v,\n,2,u,\nx,,,\n1,2,w,\n1,2\n"
	var out bytes.Buffer
	st, err := Run(context.Background(), load(t, "hand-linear"), schemas.InputConfig{EventIDField: "id"}, jsonEncoder(t), false,
		strings.NewReader(in), &out, nil, Options{InFormat: CSV, BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 6 || st.Rejected != 6 {
		t.Errorf("stats %+v: want 6 rows, all rejected (b has no column, so bb is missing)", st)
	}
	if got := strings.Join(st.UnknownFields, ","); got != "bb" {
		t.Errorf("unknown columns %q, want bb", got)
	}
	if st.Inputs.Missing[1] != st.Inputs.Events {
		t.Errorf("input b missing in %d of %d rows, want all", st.Inputs.Missing[1], st.Inputs.Events)
	}
	checkGolden(t, "csv-inline-rejects.out", out.Bytes())

	in = "a,b,c\n1,2,u\n" + "1,2," + strings.Repeat("x", 2000) + "\n50,0,v\n"
	out.Reset()
	st, err = Run(context.Background(), load(t, "hand-linear"), schemas.InputConfig{MaxRecordBytes: 1024}, jsonEncoder(t), false,
		strings.NewReader(in), &out, nil, Options{InFormat: CSV})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 3 || st.Rejected != 1 || !strings.Contains(out.String(), `{"row":2,"line":3,"reject":"too_large"`) {
		t.Errorf("stats %+v out %s: want row 2 too_large, rows 1 and 3 scored", st, out.String())
	}

	// A quoted field over two lines and an empty line: row 3 starts on line 6.
	in = "a,b,c\n1,2,\"u\nv\"\n\n2,1,u\nx,1,u\n"
	var rej bytes.Buffer
	if _, err = Run(context.Background(), load(t, "hand-linear"), schemas.InputConfig{}, jsonEncoder(t), false,
		strings.NewReader(in), io.Discard, &rej, Options{InFormat: CSV}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rej.String(), `{"row":3,"line":6,"reject":"wrong_type"`) {
		t.Errorf("rejects %s: want row 3 on line 6 wrong_type", rej.String())
	}
}

func TestRunCSVHeaderErrors(t *testing.T) {
	b := load(t, "hand-linear")
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", "empty"},
		{"no inputs", "p,q\n1,2\n", "names none of the bundle's inputs"},
		{"required input without column", "b,c\n1,u\n", `no column for required input "a"`},
		{"duplicate column", "a,a,b\n1,1,2\n", `column "a" appears twice`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := Run(context.Background(), b, schemas.InputConfig{}, jsonEncoder(t), false, strings.NewReader(tt.in), &out, nil, Options{InFormat: CSV})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("wrote %q before failing on the header", out.String())
			}
		})
	}
}

func TestRunNoInputs(t *testing.T) {
	b := load(t, "hand-linear")
	in := `{"event": {"a": 1, "b": 2}}` + "\n" + `{"event": {"a": 2}}` + "\n"
	var out bytes.Buffer
	st, err := Run(context.Background(), b, schemas.InputConfig{}, jsonEncoder(t), false, strings.NewReader(in), &out, nil, Options{})
	var ni *NoInputsError
	if !errors.As(err, &ni) {
		t.Fatalf("got %v, want a NoInputsError", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "no row carries any of the bundle's inputs (a, b, c)") || !strings.Contains(msg, "event") {
		t.Errorf("message %q: want it to name the inputs and the field seen instead", msg)
	}
	if st.Inputs.Events != 2 || st.Inputs.Missing[0] != 2 {
		t.Errorf("input counts %+v, want 2 events, a missing in 2", st.Inputs)
	}
}

func TestRunLongLine(t *testing.T) {
	b := load(t, "hand-linear")
	long := `{"a": 1, "c": "` + strings.Repeat("x", 5000) + `"}`
	in := long + "\n" + `{"a": 2, "b": 1, "c": "u"}` + "\n"
	var out, rej bytes.Buffer
	st, err := Run(context.Background(), b, schemas.InputConfig{MaxRecordBytes: 1024}, jsonEncoder(t), false,
		strings.NewReader(in), &out, &rej, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 2 || st.Rejected != 1 || !strings.Contains(rej.String(), `"row":1,"line":1,"reject":"too_large"`) {
		t.Errorf("stats %+v rejects %s: want row 1 too_large and row 2 scored", st, rej.String())
	}
}

func TestRunErrors(t *testing.T) {
	b := load(t, "hand-linear")
	var out bytes.Buffer
	if _, err := Run(context.Background(), b, schemas.InputConfig{}, jsonEncoder(t), false, strings.NewReader(""), &out, nil,
		Options{InFormat: "xml"}); err == nil || !strings.Contains(err.Error(), `input format "xml"`) {
		t.Errorf("format: got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, b, schemas.InputConfig{}, jsonEncoder(t), false, strings.NewReader("{}\n"), &out, nil, Options{}); err != context.Canceled {
		t.Errorf("canceled context: got %v, want context.Canceled", err)
	}
}

func TestMulticlassJSONL(t *testing.T) {
	b := load(t, "hand-xgb-multi-old")
	var out bytes.Buffer
	_, err := Run(context.Background(), b, schemas.InputConfig{}, jsonEncoder(t), false, strings.NewReader(`{"x": 0.2, "c": "a"}`+"\n"), &out, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "multiclass.out", out.Bytes())
}

func TestFormatOf(t *testing.T) {
	for in, want := range map[string]string{"a.csv": CSV, "A.CSV": CSV, "a.jsonl": JSONL, "-": JSONL, "": JSONL, "x.json": JSONL} {
		if got := FormatOf(in); got != want {
			t.Errorf("FormatOf(%q): got %s, want %s", in, got, want)
		}
	}
}
