package predict

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/streamscore/streamscore/scoring"
)

// Parity: every bundle, scored through the path the stream uses (the raw
// reference events as bytes through the stream's JSON decoder, then features,
// model, policy and the stream's JSON encoder), must give the training
// library's own outputs, recorded by the exporter in reference.jsonl, within
// DefaultTolerances; rows with "reject" must be rejected with that reason.

// envParityExamples names another examples root: train/parity.sh retrains
// the examples into .cache/parity/examples and checks those, leaving the
// committed ones (checked here without it) untouched.
const envParityExamples = "STREAMSCORE_PARITY_EXAMPLES"

// TestParityExamples checks every examples/*/ bundle. The examples are part
// of the deliverable, so an empty or missing examples directory fails.
func TestParityExamples(t *testing.T) {
	root := filepath.Join("..", "examples")
	if r := os.Getenv(envParityExamples); r != "" {
		root = r
	}
	t.Logf("examples root %s", root)
	dirs := bundleDirs(t, root)
	if len(dirs) == 0 {
		t.Fatalf("no bundles in %s: the example bundles are required (train/make_examples.py produces them)", root)
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

func checkParity(t *testing.T, dir string) {
	b, err := scoring.Load(dir)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	refs, err := scoring.ReadReference(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := CheckBundle(b, refs)
	if err != nil {
		t.Fatal(err)
	}
	path, err := referencePath(b)
	if err != nil {
		t.Fatal(err)
	}
	// XGBoost computes in float32 in a fixed order (leaf sums in tree order,
	// glibc's expf in the transforms): nothing short of the same bits passes.
	if kind := b.Manifest.Model.Kind; kind == "xgboost" && rep.Inexact > 0 {
		t.Errorf("%d %s outputs are within tolerance but not bit-identical to the library's", rep.Inexact, kind)
	}
	for i, m := range rep.Mismatches {
		if i == 10 {
			t.Errorf("... %d mismatches in all", len(rep.Mismatches))
			break
		}
		t.Errorf("reference line %d (%s): %s", m.Row.Line, m.Row.Note, m.What)
	}
	// Each row alone (single-row kernels) must give exactly the bytes of the
	// same row scored in a batch (block-wise, lock-step kernels).
	now := time.UnixMilli(1_800_000_000_000)
	events := make([]Event, len(refs))
	for i, r := range refs {
		events[i] = Event{Value: r.Event}
	}
	batched := make([]Result, len(events))
	all, single := path.mustBatch(t), path.mustBatch(t)
	for i := 0; i < len(events); i += 500 {
		j := min(i+500, len(events))
		if err := all.Run(events[i:j], batched[i:j], now, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range events {
		var one [1]Result
		if err := single.Run(events[i:i+1], one[:], now, nil); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(one[0].Value, batched[i].Value) || one[0].Reject != batched[i].Reject {
			t.Errorf("reference line %d: alone %s %q, in a batch %s %q", refs[i].Line, one[0].Value, one[0].Reject, batched[i].Value, batched[i].Reject)
			break
		}
	}
	t.Logf("%s: %d rows checked (%d scored, %d rejects), %d mismatches, %d outputs not bit-identical; worst |prob diff| %.3g, worst relative %.3g",
		filepath.Base(dir), rep.Rows, rep.Scored, rep.Rejected, len(rep.Mismatches), rep.Inexact, rep.WorstProb, rep.WorstRelative)
}

func (p *Path) mustBatch(t testing.TB) *Batch {
	t.Helper()
	b, err := p.NewBatch()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
