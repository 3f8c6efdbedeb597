package scoring

import (
	"bytes"
	"math"
	"path/filepath"
	"testing"

	"github.com/streamscore/streamscore/internal/golden"
	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas"

	"github.com/streamscore/streamscore/features"
)

func loadFixture(t testing.TB, name string) *Bundle {
	t.Helper()
	b, err := Load(filepath.Join("testdata", "bundles", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureRows returns the reference events of a bundle decoded into rows
// by the stream's JSON decoder.
func fixtureRows(t testing.TB, dir string, b *Bundle) []*features.Row {
	t.Helper()
	refs, err := ReadReference(dir)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := schemas.NewDecoder(schemas.InputConfig{}, b.Layout(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var rows []*features.Row
	for _, r := range refs {
		row := b.Layout().NewRow()
		if _, err := dec.Decode(r.Event, row); err != nil {
			if _, poison := reject.Of(err); !poison {
				t.Fatal(err)
			}
			row = nil // a reference the decoder rejects: scored as a missing record
		}
		rows = append(rows, row)
	}
	return rows
}

// jsonRow decodes one JSON event into a row of b with the stream's decoder.
func jsonRow(t testing.TB, b *Bundle, event string) *features.Row {
	t.Helper()
	dec, err := schemas.NewDecoder(schemas.InputConfig{}, b.Layout(), nil)
	if err != nil {
		t.Fatal(err)
	}
	row := b.Layout().NewRow()
	if _, err := dec.Decode([]byte(event), row); err != nil {
		t.Fatalf("decode %s: %v", event, err)
	}
	return row
}

// TestBatchEqualsSingle: block-wise batch scoring gives exactly the
// single-row results, for batches that span several blocks and rejects.
func TestBatchEqualsSingle(t *testing.T) {
	for _, name := range []string{"gen-xgb-softmax", "gen-xgb-early", "hand-linear", "gen-xgb-poisson-vecbase",
		"gen-sk-rf-binary", "gen-sk-et-multiclass", "gen-sk-tree-regressor", "gen-sk-gb-multiclass", "gen-sk-gb-binary"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", "bundles", name)
			b := loadFixture(t, name)
			rows := fixtureRows(t, dir, b)
			for len(rows) < 3*blockRows+5 {
				rows = append(rows, rows...)
			}
			s := b.NewScorer()
			out := make([]Prediction, len(rows))
			s.ScoreBatch(rows, out)
			one := b.NewScorer()
			for i, r := range rows {
				p := one.ScoreOne(r)
				q := out[i]
				if p.Score != q.Score && !(math.IsNaN(p.Score) && math.IsNaN(q.Score)) || p.Label != q.Label || p.Reject != q.Reject || len(p.Probs) != len(q.Probs) {
					t.Fatalf("row %d: batch %+v, single %+v", i, q, p)
				}
				for k := range p.Probs {
					if p.Probs[k] != q.Probs[k] {
						t.Fatalf("row %d class %d: batch %v, single %v", i, k, q.Probs[k], p.Probs[k])
					}
				}
				if f := s.Features(i); q.Reject == "" && len(f) != len(b.FeatureNames()) {
					t.Fatalf("row %d: Features has %d values, want %d", i, len(f), len(b.FeatureNames()))
				}
			}
			if s.Features(len(rows)) != nil || s.Features(-1) != nil {
				t.Error("Features out of range: got a slice, want nil")
			}
		})
	}
}

func TestScoreBatchDoesNotAllocate(t *testing.T) {
	for _, name := range []string{"gen-xgb-softmax", "hand-linear", "hand-xgb-binary", "gen-mlp-sk-multiclass", "gen-mlp-keras-h5",
		"gen-lgb-multiclass", "gen-lgb-binary-zero", "gen-lgb-rf", "gen-hgb-multiclass", "gen-hgb-poisson",
		"gen-sk-rf-binary", "gen-sk-et-regressor", "gen-sk-gb-multiclass", "gen-sk-gb-exponential"} {
		t.Run(name, func(t *testing.T) {
			b := loadFixture(t, name)
			rows := fixtureRows(t, filepath.Join("testdata", "bundles", name), b)
			s := b.NewScorer()
			out := make([]Prediction, len(rows))
			s.ScoreBatch(rows, out) // grows the buffers once
			if n := testing.AllocsPerRun(50, func() { s.ScoreBatch(rows, out) }); n != 0 {
				t.Errorf("got %v allocations per ScoreBatch, want 0", n)
			}
			if n := testing.AllocsPerRun(50, func() { s.ScoreOne(rows[0]) }); n != 0 {
				t.Errorf("got %v allocations per ScoreOne, want 0", n)
			}
		})
	}
}

func TestScorerCountsAndNilRows(t *testing.T) {
	b := loadFixture(t, "hand-linear")
	known := jsonRow(t, b, `{"a": 1, "b": 2, "c": "u"}`)
	unknown := jsonRow(t, b, `{"a": 1, "b": 2, "c": "zzz"}`)
	s := b.NewScorer()
	out := make([]Prediction, 4)
	s.ScoreBatch([]*features.Row{known, unknown, nil, unknown}, out)
	if out[0].Reject != "" || out[1].Reject != reject.UnknownCategory || out[1].RejectFeature != "c" ||
		out[2].Reject != reject.MissingField || out[3].Reject != reject.UnknownCategory {
		t.Errorf("got %+v", out)
	}
	if out[1].Probs != nil || out[1].Label != "" || out[1].Score != 0 {
		t.Errorf("rejected row carries a result: %+v", out[1])
	}
	c := s.Counts()
	if c.Names[2] != "c" || c.Unknown[2] != 2 || c.Unknown[0] != 0 {
		t.Errorf("counts: got names %v unknown %v, want 2 unknowns on c", c.Names, c.Unknown)
	}
}

func TestSummaryGolden(t *testing.T) {
	for _, name := range []string{"hand-xgb-binary", "hand-linear", "hand-xgb-multi-old"} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := loadFixture(t, name).WriteSummary(&buf); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "summary", name+".txt"), buf.Bytes())
		})
	}
}

// TestBundleConcurrentScorers: one Bundle shared by several goroutines, each
// with its own Scorer, gives every goroutine the single-threaded results
// (run with -race to check the Bundle is only read).
func TestBundleConcurrentScorers(t *testing.T) {
	name := "gen-xgb-softmax"
	b := loadFixture(t, name)
	rows := fixtureRows(t, filepath.Join("testdata", "bundles", name), b)
	want := make([]Prediction, len(rows))
	b.NewScorer().ScoreBatch(rows, want)
	wantProbs := make([][]float64, len(rows))
	for i := range want {
		wantProbs[i] = append([]float64(nil), want[i].Probs...)
	}
	const workers = 4
	errs := make(chan string, workers)
	done := make(chan struct{})
	for w := 0; w < workers; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			s := b.NewScorer()
			out := make([]Prediction, len(rows))
			for range 20 {
				s.ScoreBatch(rows, out)
				for i := range out {
					if out[i].Label != want[i].Label || out[i].Score != want[i].Score || out[i].Reject != want[i].Reject {
						errs <- "row " + want[i].Label + " differs"
						return
					}
					for k := range out[i].Probs {
						if out[i].Probs[k] != wantProbs[i][k] {
							errs <- "probabilities differ"
							return
						}
					}
				}
			}
		}()
	}
	for w := 0; w < workers; w++ {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
