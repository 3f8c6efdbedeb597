package batch

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func load(t *testing.T, name string) *scoring.Bundle {
	t.Helper()
	b, err := scoring.Load(filepath.Join("..", "testdata", "bundles", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestRun(t *testing.T) {
	jsonl := `{"a": 1, "b": 2, "c": "u"}
{"a": 50, "b": 0, "c": "v"}

{"b": 2, "c": "u"}
{"a": "x"}
not json
{"a": 1, "b": 2, "c": "w"}
`
	csvIn := "a,b,c,ignored\n1,2,u,zz\n50,0,v,\n,2,u,\n1,2,w,\nx,1,u,\n1,\"2\",v\n"
	tests := []struct {
		name, in, inFmt, outFmt string
		separateRejects         bool
		wantRows, wantRejected  int64
	}{
		{"jsonl-to-jsonl", jsonl, JSONL, JSONL, true, 6, 4},
		{"jsonl-inline-rejects", jsonl, JSONL, JSONL, false, 6, 4},
		{"csv-to-csv", csvIn, CSV, CSV, false, 6, 3},
		{"csv-to-jsonl", csvIn, CSV, JSONL, true, 6, 3},
	}
	b := load(t, "hand-linear")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, rej bytes.Buffer
			var rejW *bytes.Buffer
			if tt.separateRejects {
				rejW = &rej
			}
			var calls int
			opt := Options{InFormat: tt.inFmt, OutFormat: tt.outFmt, BatchSize: 4, Progress: func(Stats) { calls++ }}
			var st Stats
			var err error
			if rejW != nil {
				st, err = Run(context.Background(), b, strings.NewReader(tt.in), &out, rejW, opt)
			} else {
				st, err = Run(context.Background(), b, strings.NewReader(tt.in), &out, nil, opt)
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
			golden(t, tt.name+".out", out.Bytes())
			if tt.separateRejects {
				golden(t, tt.name+".rejects", rej.Bytes())
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	b := load(t, "hand-linear")
	tests := []struct {
		name, in string
		opt      Options
		want     string
	}{
		{"empty csv", "", Options{InFormat: CSV}, "CSV input is empty"},
		{"csv header", "p,q\n1,2\n", Options{InFormat: CSV}, "names none of the bundle's inputs"},
		{"format", "", Options{InFormat: "xml"}, `input format "xml"`},
		{"out format", "", Options{OutFormat: "xml"}, `output format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := Run(context.Background(), b, strings.NewReader(tt.in), &out, nil, tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, b, strings.NewReader("{}\n"), &bytes.Buffer{}, nil, Options{}); err != context.Canceled {
		t.Errorf("canceled context: got %v, want context.Canceled", err)
	}
}

func TestMulticlassJSONL(t *testing.T) {
	b := load(t, "hand-xgb-multi-old")
	var out bytes.Buffer
	_, err := Run(context.Background(), b, strings.NewReader(`{"x": 0.2, "c": "a"}`+"\n"), &out, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "multiclass.out", out.Bytes())
}

func TestFormatOf(t *testing.T) {
	for in, want := range map[string]string{"a.csv": CSV, "A.CSV": CSV, "a.jsonl": JSONL, "-": JSONL, "": JSONL, "x.json": JSONL} {
		if got := FormatOf(in); got != want {
			t.Errorf("FormatOf(%q): got %s, want %s", in, got, want)
		}
	}
}
