package predict

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// Parity: every bundle, scored through the path the stream uses (the raw
// reference events as bytes through the stream's JSON decoder, then features,
// model, policy and the stream's JSON encoder), must give the training
// library's own outputs, recorded by the exporter in reference.jsonl.
// Tolerances: 1e-6 absolute for probabilities, 1e-6 relative for regression
// values; rows with "reject" must be rejected with exactly that reason.

const (
	probTol = 1e-6
	regTol  = 1e-6
	featTol = 1e-9 // the exporter's feature vectors, float64 on both sides
)

type referenceRow struct {
	Event    json.RawMessage `json:"event"`
	Scores   []float64       `json:"scores"`
	Label    *string         `json:"label"`
	Reject   string          `json:"reject"`
	Features []*float64      `json:"features"`
	Note     string          `json:"note"`
}

// encoded is a JSON prediction record, as parity reads it.
type encoded = schemas.PredictionRecord

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
// scoring/testdata/bundles, so every model kind is covered even without examples.
func TestParityFixtures(t *testing.T) {
	dirs := bundleDirs(t, filepath.Join("..", "scoring", "testdata", "bundles"))
	if len(dirs) == 0 {
		t.Fatal("no bundles in scoring/testdata/bundles")
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

// newPath is the stream's path for bundle b with default input settings and
// the JSON encoder, echoing the feature vector.
func newPath(t *testing.T, b *scoring.Bundle) *Path {
	t.Helper()
	enc, err := schemas.NewEncoder(context.Background(), schemas.OutputConfig{Format: schemas.FormatJSON, EchoFeatures: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := schemas.InputConfig{Format: schemas.FormatJSON}
	return New(b, func() (schemas.Decoder, error) { return schemas.NewDecoder(in, b.Layout(), nil) }, enc, true)
}

func checkParity(t *testing.T, dir string) {
	b, err := scoring.Load(dir)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	refs := readReference(t, dir)
	path := newPath(t, b)
	events := make([]Event, len(refs))
	for i, r := range refs {
		events[i] = Event{Value: r.Event}
	}
	now := time.UnixMilli(1_800_000_000_000)
	batch := runAll(t, path, events, now)

	scored, rejected, failures := 0, 0, 0
	fail := func(i int, r referenceRow, format string, args ...any) {
		failures++
		if failures <= 10 {
			t.Errorf("row %d (%s): %s", i+1, r.Note, fmt.Sprintf(format, args...))
		}
	}
	for i, r := range refs {
		res := batch[i]
		if r.Reject != "" {
			rejected++
			if string(res.Reject) != r.Reject {
				fail(i, r, "got reject %q (%s), want reject %q", res.Reject, res.Err, r.Reject)
			}
			continue
		}
		scored++
		if res.Reject != "" {
			fail(i, r, "got reject %q (%s), want scores %v", res.Reject, res.Err, r.Scores)
			continue
		}
		var p encoded
		if err := json.Unmarshal(res.Value, &p); err != nil {
			fail(i, r, "prediction record %s: %v", res.Value, err)
			continue
		}
		if r.Features != nil {
			if j, got, want := featureMismatch(p, r.Features); j >= 0 {
				fail(i, r, "feature %s: got %v, want %v", b.FeatureNames()[j], got, want)
			}
		}
		if b.Task() == scoring.TaskRegression {
			if len(r.Scores) != 1 {
				fail(i, r, "reference has %d scores, want 1 for regression", len(r.Scores))
			} else if d := math.Abs(p.Score - r.Scores[0]); d > regTol*math.Abs(r.Scores[0]) && d > 1e-12 {
				fail(i, r, "got score %v, want %v (relative error %.3g)", p.Score, r.Scores[0], d/math.Abs(r.Scores[0]))
			}
		} else if len(p.Probabilities) != len(r.Scores) {
			fail(i, r, "got %d probabilities, want %d", len(p.Probabilities), len(r.Scores))
		} else {
			for k, c := range p.Probabilities {
				if c.Class != b.Classes()[k] {
					fail(i, r, "probability %d is for class %q, want %q", k, c.Class, b.Classes()[k])
				}
				if d := math.Abs(c.Probability - r.Scores[k]); !(d <= probTol) {
					fail(i, r, "class %s: got probability %v, want %v (error %.3g)", c.Class, c.Probability, r.Scores[k], d)
				}
			}
		}
		if r.Label != nil && (p.Label == nil || *p.Label != *r.Label) {
			fail(i, r, "got label %v, want %q (score %v)", p.Label, *r.Label, p.Score)
		}
	}
	// Each row alone (single-row kernels) must give exactly the bytes of the
	// same row scored in the big batch (block-wise, lock-step kernels).
	single := path.mustBatch(t)
	for i := range events {
		var one [1]Result
		if err := single.Run(events[i:i+1], one[:], now, nil); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(one[0].Value, batch[i].Value) || one[0].Reject != batch[i].Reject {
			failures++
			t.Errorf("row %d: alone %s %q, in a batch %s %q", i+1, one[0].Value, one[0].Reject, batch[i].Value, batch[i].Reject)
			break
		}
	}
	if failures > 10 {
		t.Errorf("... %d failures in all", failures)
	}
	t.Logf("%s: %d rows checked (%d scored, %d rejects), %d failures", filepath.Base(dir), len(refs), scored, rejected, failures)
}

func (p *Path) mustBatch(t testing.TB) *Batch {
	t.Helper()
	b, err := p.NewBatch()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runAll runs every event through one Batch, in micro-batches of 500 as the
// stream does by default.
func runAll(t *testing.T, path *Path, events []Event, now time.Time) []Result {
	t.Helper()
	b := path.mustBatch(t)
	out := make([]Result, len(events))
	for i := 0; i < len(events); i += 500 {
		j := min(i+500, len(events))
		if err := b.Run(events[i:j], out[i:j], now, nil); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func featureMismatch(p encoded, want []*float64) (int, float64, float64) {
	if p.Features == nil || len(*p.Features) != len(want) {
		return 0, -1, float64(len(want))
	}
	for j, w := range want {
		got := (*p.Features)[j].Value
		if w == nil || got == nil {
			if (w == nil) != (got == nil) {
				g, x := math.NaN(), math.NaN()
				if got != nil {
					g = *got
				}
				if w != nil {
					x = *w
				}
				return j, g, x
			}
			continue
		}
		if d := math.Abs(*got - *w); !(d <= featTol*math.Max(1, math.Abs(*w))) {
			return j, *got, *w
		}
	}
	return -1, 0, 0
}
