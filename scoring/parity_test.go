package scoring

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/streamscore/streamscore/features"
)

// Parity: every bundle scored in Go must give the training library's own
// outputs, recorded by the exporter in reference.jsonl. Tolerances: 1e-6
// absolute for probabilities, 1e-6 relative for regression values; rows with
// "reject" must be rejected with exactly that reason.

const (
	probTol = 1e-6
	regTol  = 1e-6
	featTol = 1e-9 // the exporter's feature vectors, float64 on both sides
)

type referenceRow struct {
	Event    map[string]any `json:"event"`
	Scores   []float64      `json:"scores"`
	Label    *string        `json:"label"`
	Reject   string         `json:"reject"`
	Features []*float64     `json:"features"`
	Note     string         `json:"note"`
}

// TestParityExamples checks every examples/*/ bundle. The examples are part
// of the deliverable, so an empty or missing examples directory fails.
func TestParityExamples(t *testing.T) {
	dirs := bundleDirs(t, filepath.Join("..", "examples"))
	if len(dirs) == 0 {
		t.Fatal("no bundles in ../examples: the example bundles are required (train/ produces them)")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) { checkParity(t, dir) })
	}
}

// TestParityFixtures checks the hand-made and XGBoost-generated bundles in
// testdata/bundles, so the scoring code is covered even without examples.
func TestParityFixtures(t *testing.T) {
	dirs := bundleDirs(t, filepath.Join("testdata", "bundles"))
	if len(dirs) == 0 {
		t.Fatal("no bundles in testdata/bundles")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) { checkParity(t, dir) })
	}
}

func bundleDirs(t *testing.T, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(root, e.Name(), "bundle.json")); err == nil {
				dirs = append(dirs, filepath.Join(root, e.Name()))
			}
		}
	}
	sort.Strings(dirs)
	return dirs
}

func readReference(t *testing.T, dir string) []referenceRow {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "reference.jsonl"))
	if err != nil {
		t.Fatalf("reference rows: %v", err)
	}
	var rows []referenceRow
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		dec.DisallowUnknownFields()
		var r referenceRow
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("reference.jsonl line %d: %v", n, err)
		}
		if (r.Scores == nil) == (r.Reject == "") {
			t.Fatalf("reference.jsonl line %d: want exactly one of scores and reject", n)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatal("reference.jsonl has no rows")
	}
	return rows
}

func checkParity(t *testing.T, dir string) {
	b, err := Load(dir)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	refs := readReference(t, dir)
	s := b.NewScorer()
	scored, rejected, failures := 0, 0, 0
	fail := func(i int, r referenceRow, format string, args ...any) {
		failures++
		if failures <= 10 {
			t.Errorf("row %d (%s): %s", i+1, r.Note, fmt.Sprintf(format, args...))
		}
	}
	for i, r := range refs {
		row, err := features.RowFromMap(b.Layout(), r.Event)
		if err != nil {
			fail(i, r, "decode event: %v", err)
			continue
		}
		p := s.ScoreOne(row)
		if r.Reject != "" {
			rejected++
			if string(p.Reject) != r.Reject {
				fail(i, r, "got reject %q (%s) score %v, want reject %q", p.Reject, p.RejectFeature, p.Score, r.Reject)
			}
			continue
		}
		scored++
		if p.Reject != "" {
			fail(i, r, "got reject %q (%s), want scores %v", p.Reject, p.RejectFeature, r.Scores)
			continue
		}
		if r.Features != nil {
			if j, got, want := featureMismatch(s.Features(0), r.Features); j >= 0 {
				fail(i, r, "feature %s: got %v, want %v", b.FeatureNames()[j], got, want)
			}
		}
		if b.Task() == TaskRegression {
			if len(r.Scores) != 1 {
				fail(i, r, "reference has %d scores, want 1 for regression", len(r.Scores))
			} else if d := math.Abs(p.Score - r.Scores[0]); d > regTol*math.Abs(r.Scores[0]) && d > 1e-12 {
				fail(i, r, "got score %v, want %v (relative error %.3g)", p.Score, r.Scores[0], d/math.Abs(r.Scores[0]))
			}
		} else {
			if len(p.Probs) != len(r.Scores) {
				fail(i, r, "got %d probabilities, want %d", len(p.Probs), len(r.Scores))
			} else {
				for k := range r.Scores {
					if d := math.Abs(p.Probs[k] - r.Scores[k]); !(d <= probTol) {
						fail(i, r, "class %s: got probability %v, want %v (error %.3g)", b.Classes()[k], p.Probs[k], r.Scores[k], d)
					}
				}
			}
		}
		if r.Label != nil && p.Label != *r.Label {
			fail(i, r, "got label %q, want %q (score %v)", p.Label, *r.Label, p.Score)
		}
	}
	// The same rows in one batch (block-wise, lock-step kernels) must give
	// exactly the single-row results checked above.
	var rows []*features.Row
	var single []Prediction
	for _, r := range refs {
		row, err := features.RowFromMap(b.Layout(), r.Event)
		if err != nil {
			continue
		}
		rows = append(rows, row)
		p := s.ScoreOne(row)
		p.Probs = append([]float64(nil), p.Probs...)
		single = append(single, p)
	}
	batch := make([]Prediction, len(rows))
	b.NewScorer().ScoreBatch(rows, batch)
	for i := range rows {
		p, q := single[i], batch[i]
		same := p.Score == q.Score && p.Label == q.Label && p.Reject == q.Reject && len(p.Probs) == len(q.Probs)
		for k := 0; same && k < len(p.Probs); k++ {
			same = p.Probs[k] == q.Probs[k]
		}
		if !same {
			failures++
			t.Errorf("row %d: batch %+v differs from single %+v", i+1, q, p)
			break
		}
	}
	if failures > 10 {
		t.Errorf("... %d failures in all", failures)
	}
	t.Logf("%s: %d rows checked (%d scored, %d rejects), %d failures", filepath.Base(dir), len(refs), scored, rejected, failures)
}

func featureMismatch(got []float64, want []*float64) (int, float64, float64) {
	if len(got) != len(want) {
		return 0, float64(len(got)), float64(len(want))
	}
	for j, w := range want {
		if w == nil {
			if !math.IsNaN(got[j]) {
				return j, got[j], math.NaN()
			}
			continue
		}
		if d := math.Abs(got[j] - *w); !(d <= featTol*math.Max(1, math.Abs(*w))) {
			return j, got[j], *w
		}
	}
	return -1, 0, 0
}
