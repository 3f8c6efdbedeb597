package drift_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamscore/streamscore/drift"
	"github.com/streamscore/streamscore/drift/drifttest"
	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// TestPSIFormula: drift.PSI against numpy's (train/drift_golden.py) on
// hand-made bins, and the cases the formula's definition fixes.
func TestPSIFormula(t *testing.T) {
	g := drifttest.Load(t, "..")
	if g.Epsilon != drift.Epsilon {
		t.Fatalf("golden values computed with epsilon %g, drift.Epsilon is %g", g.Epsilon, drift.Epsilon)
	}
	type tc struct {
		name     string
		expected []float64
		counts   []uint64
		want     float64
	}
	var tests []tc
	for _, f := range g.Formula {
		want := math.NaN()
		if f.PSI != nil {
			want = *f.PSI
		}
		tests = append(tests, tc{"numpy: " + f.Name, f.Expected, f.Counts, want})
	}
	// (a - e) ln(a/e) by hand: 0.5 -> 0.25 and 0.5 -> 0.75 is 0.25 ln 2 + 0.25 ln 1.5 (each term >= 0).
	tests = append(tests,
		tc{"by hand: halves to quarters", []float64{0.5, 0.5}, []uint64{1, 3}, 0.25*math.Log(2) + 0.25*math.Log(1.5)},
		tc{"by hand: an unseen bin", []float64{1, 0}, []uint64{1, 1}, (0.5-1)*math.Log(0.5) + (0.5-drift.Epsilon)*math.Log(0.5/drift.Epsilon)},
		tc{"identical", []float64{0.2, 0.3, 0.5}, []uint64{2, 3, 5}, 0},
		tc{"no data", []float64{1}, []uint64{0}, math.NaN()},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var total uint64
			for _, c := range tt.counts {
				total += c
			}
			if got := drift.PSI(tt.expected, tt.counts, total); !drifttest.Near(got, tt.want) {
				t.Errorf("PSI(%v, %v) = %.17g, want %.17g", tt.expected, tt.counts, got, tt.want)
			}
		})
	}
}

// fraudPath is the stream's code path for the golden values' bundle.
func fraudPath(t *testing.T, b *scoring.Bundle) *predict.Path {
	t.Helper()
	enc, err := schemas.NewEncoder(context.Background(), schemas.OutputConfig{Format: schemas.FormatJSON}, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := schemas.InputConfig{Format: schemas.FormatJSON, MaxRecordBytes: 1 << 20}
	return predict.New(b, func() (schemas.Decoder, error) { return schemas.NewDecoder(in, b.Layout(), nil) }, enc, false)
}

// TestGoldenWindows sends each golden window's events through predict (the
// decoder, the row counting, the model's scores) in micro-batches, adds the
// batches to a Window at times spread over it and checks the window's bin
// counts (exactly) and PSI (to 1e-12) against numpy's.
func TestGoldenWindows(t *testing.T) {
	g := drifttest.Load(t, "..")
	b := g.LoadBundle(t)
	path := fraudPath(t, b)
	h := path.Drift()
	if h == nil {
		t.Fatal("the fraud path has no drift histograms")
	}
	names := h.Features()
	for _, w := range g.Windows {
		t.Run(w.Name, func(t *testing.T) {
			batch, err := path.NewBatch()
			if err != nil {
				t.Fatal(err)
			}
			values := g.Events(t, w)
			win := drift.NewWindow(h, time.Minute) // steps of 2s
			seen := h.NewCounts()
			t0 := time.Unix(1_800_000_000, 0)
			const size = 250
			steps := 0
			for start := 0; start < len(values); start += size {
				events := make([]predict.Event, 0, size)
				for _, v := range values[start:min(start+size, len(values))] {
					events = append(events, predict.Event{Value: v})
				}
				out := make([]predict.Result, len(events))
				if err := batch.Run(events, out, t0, nil); err != nil {
					t.Fatal(err)
				}
				for i, r := range out {
					if r.Reject != "" {
						t.Fatalf("event %d rejected (%s: %s); the golden windows hold scored events only", start+i, r.Reject, r.Err)
					}
				}
				win.Add(t0.Add(time.Duration(steps)*time.Second), batch.Drift(), seen)
				steps++
			}
			sum := h.NewCounts()
			win.Sum(t0.Add(time.Duration(steps)*time.Second), sum)
			if sum.Rows != uint64(len(values)) || sum.Scores != uint64(len(values)) {
				t.Fatalf("window holds %d rows and %d scores, want %d each", sum.Rows, sum.Scores, len(values))
			}
			psi := make([]float64, len(names))
			scorePSI := h.PSI(sum, psi)
			if len(w.Inputs) != len(names) && len(values) > 0 {
				t.Errorf("golden has %d inputs, the bundle %d", len(w.Inputs), len(names))
			}
			for k, name := range names {
				want, ok := w.Inputs[name]
				if !ok {
					if len(values) > 0 {
						t.Errorf("%s: not in the golden window", name)
					}
					want.PSI = nil // the empty window: NaN
				}
				if got := h.Bins(sum, k); want.Counts != nil && !equal(got, want.Counts) {
					t.Errorf("%s: bin counts %v, numpy %v", name, got, want.Counts)
				}
				if !drifttest.Near(psi[k], want.Value()) {
					t.Errorf("%s: PSI %.17g, numpy %.17g", name, psi[k], want.Value())
				}
			}
			if got := h.ScoreBins(sum); !equal(got, w.Score.Counts) {
				t.Errorf("score: bin counts %v, numpy %v", got, w.Score.Counts)
			}
			if !drifttest.Near(scorePSI, w.Score.Value()) {
				t.Errorf("score: PSI %.17g, numpy %.17g", scorePSI, w.Score.Value())
			}
		})
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestWindowSlides: a window of 30s keeps 30 steps of 1s; a step leaves
// whole once it is 30 steps old, and a ring slot reused for a newer step
// starts from zero.
func TestWindowSlides(t *testing.T) {
	b, err := scoring.Load("../examples/fraud")
	if err != nil {
		t.Fatal(err)
	}
	h := drift.New(b)
	t0 := time.Unix(1_800_000_000, 0) // a multiple of the step
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	type add struct {
		at   float64 // seconds after t0
		rows uint64
	}
	tests := []struct {
		name string
		adds []add
		sum  float64 // when
		want uint64  // rows in the window
	}{
		{"empty", nil, 0, 0},
		{"one step", []add{{0, 5}, {0.5, 2}}, 0.9, 7},
		{"all 30 steps", []add{{0, 5}, {10, 7}, {29.5, 1}}, 29.9, 13},
		{"the oldest step leaves whole", []add{{0, 5}, {10, 7}, {29.5, 1}}, 30, 8},
		{"later", []add{{0, 5}, {10, 7}, {29.5, 1}}, 40, 1},
		{"all gone", []add{{0, 5}, {10, 7}, {29.5, 1}}, 60, 0},
		{"a reused slot starts empty", []add{{0, 5}, {30, 2}}, 30, 2},
		{"not yet", []add{{10, 5}}, 5, 0}, // a step newer than the sum's time (a clock stepped back)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := drift.NewWindow(h, 30*time.Second)
			cur, seen := h.NewCounts(), h.NewCounts()
			for _, a := range tt.adds {
				cur.Rows += a.rows
				cur.Bins[0] += a.rows // any bin: the sum must carry them along
				w.Add(at(a.at), cur, seen)
				if seen.Rows != cur.Rows || seen.Bins[0] != cur.Bins[0] {
					t.Fatalf("after Add, seen is %d rows, want cur's %d", seen.Rows, cur.Rows)
				}
			}
			sum := h.NewCounts()
			w.Sum(at(tt.sum), sum)
			if sum.Rows != tt.want || sum.Bins[0] != tt.want {
				t.Errorf("Sum at %gs: %d rows (bin 0: %d), want %d", tt.sum, sum.Rows, sum.Bins[0], tt.want)
			}
		})
	}
}

// fraudRows returns the fraud bundle's histograms and the events decoded
// into rows by the stream's JSON decoder.
func fraudRows(tb testing.TB, events ...string) (*drift.Histograms, []*features.Row) {
	tb.Helper()
	b, err := scoring.Load("../examples/fraud")
	if err != nil {
		tb.Fatal(err)
	}
	dec, err := schemas.NewDecoder(schemas.InputConfig{Format: schemas.FormatJSON, MaxRecordBytes: 1 << 20}, b.Layout(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	var rows []*features.Row
	for _, ev := range events {
		row := b.Layout().NewRow()
		if _, err := dec.Decode([]byte(ev), row); err != nil {
			tb.Fatal(err)
		}
		rows = append(rows, row)
	}
	return drift.New(b), rows
}

// TestCountingAllocatesNothing: the per-record work (a decoded row's bins,
// a score's bin) and the per-batch window update allocate nothing.
func TestCountingAllocatesNothing(t *testing.T) {
	h, rows := fraudRows(t,
		`{"amount": 42.5, "avg_amount_30d": 60, "merchant_category": "grocery", "country": "US", "card_present": true, "distance_from_home_km": 3, "txn_count_24h": 2, "timestamp": "2026-01-05T13:45:12Z"}`,
		`{"amount": 4200, "merchant_category": "jewelry", "country": "ZZ", "timestamp": "2026-01-05T13:45:12Z"}`)
	c, seen := h.NewCounts(), h.NewCounts()
	w := drift.NewWindow(h, time.Minute)
	now := time.Now()
	if n := testing.AllocsPerRun(1000, func() {
		for _, r := range rows {
			h.AddRow(c, r)
		}
		h.AddScore(c, 0.03)
	}); n != 0 {
		t.Errorf("AddRow and AddScore: %g allocations per run, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { w.Add(now, c, seen) }); n != 0 {
		t.Errorf("Window.Add: %g allocations per run, want 0", n)
	}
	// The rows were counted where they belong: the unseen merchant in the
	// other bin, the absent card_present as missing.
	merchant, card := -1, -1
	for k, f := range h.Features() {
		switch f {
		case "merchant_category":
			merchant = k
		case "card_present":
			card = k
		}
	}
	mb, cb := h.Bins(c, merchant), h.Bins(c, card)
	if runs := c.Rows / 2; mb[0] != runs || mb[len(mb)-2] != runs || cb[len(cb)-1] != runs || cb[2] != runs {
		t.Errorf("merchant bins %v, card_present bins %v after %d runs: want grocery and other, true (>= 1) and missing once per run", mb, cb, runs)
	}
}

// TestDocsWorkedExample: the worked example of docs/operations.md ("Drift")
// is what drift.PSI computes with the fraud bundle's card_present histogram.
func TestDocsWorkedExample(t *testing.T) {
	b, err := scoring.Load("../examples/fraud")
	if err != nil {
		t.Fatal(err)
	}
	var expected []float64
	for _, h := range b.Manifest.Drift.Inputs {
		if h.Input == "card_present" {
			expected = append(append(expected, h.Expected...), h.Missing)
		}
	}
	if fmt.Sprint(expected) != "[0 0.27445 0.72555 0]" {
		t.Fatalf("card_present histogram %v: the worked example's numbers are stale", expected)
	}
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("**PSI = %.4f**", drift.PSI(expected, []uint64{0, 600, 380, 20}, 1000))
	if !strings.Contains(string(doc), want) {
		t.Errorf("docs/operations.md: no %q in the worked example", want)
	}
}

// BenchmarkAddRow is the per-record cost of counting one decoded fraud event
// (7 inputs: 5 binary searches, 2 category lookups) and its score.
func BenchmarkAddRow(b *testing.B) {
	h, rows := fraudRows(b, `{"amount": 42.5, "avg_amount_30d": 60, "merchant_category": "pharmacy", "country": "DE", "card_present": true, "distance_from_home_km": 3, "txn_count_24h": 2, "timestamp": "2026-01-05T13:45:12Z"}`)
	row := rows[0]
	c := h.NewCounts()
	b.ReportAllocs()
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	for b.Loop() {
		h.AddRow(c, row)
		h.AddScore(c, 0.0042)
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op") // other processes' load does not inflate it
}

// TestWindowRefusesOtherCounts: counts made for another bundle's histograms
// (a worker still on the previous model during a reload) are not added.
func TestWindowRefusesOtherCounts(t *testing.T) {
	h1, _ := fraudRows(t)
	h2, _ := fraudRows(t)
	now := time.Now()
	w := drift.NewWindow(h1, time.Minute)
	cur := h2.NewCounts()
	cur.Rows = 5
	if w.Add(now, cur, h2.NewCounts()) {
		t.Error("Add took counts of other histograms")
	}
	if w.Add(now, cur, h1.NewCounts()) {
		t.Error("Add took counts of other histograms with seen of its own")
	}
	sum := h1.NewCounts()
	w.Sum(now, sum)
	if sum.Rows != 0 {
		t.Errorf("window holds %d rows, want 0", sum.Rows)
	}
	own := h1.NewCounts()
	own.Rows = 3
	if !w.Add(now, own, h1.NewCounts()) {
		t.Error("Add refused its own histograms' counts")
	}
}
