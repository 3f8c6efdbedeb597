package predict

import (
	"math"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

// TestCheckReportsTheErrorOfInexactRegressionValues: a regression value one
// ulp off the library's is inexact, and the report's worst relative error
// says by how much. It said 0 while counting the row inexact (validate:
// "worst relative score diff 0; 9 outputs not bit-identical"), since an
// absolute difference below 1e-12 was left out of the worst.
func TestCheckReportsTheErrorOfInexactRegressionValues(t *testing.T) {
	const dir = "../examples/diabetes-xgb"
	b, err := scoring.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := scoring.ReadReference(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := -1
	for i, r := range refs {
		if r.Scores != nil && math.Abs(r.Scores[0]) > 1 {
			k = i
			break
		}
	}
	if k < 0 {
		t.Fatal("no scored reference row with a value above 1")
	}
	want := refs[k].Scores[0]
	refs[k].Scores = []float64{math.Nextafter(want, math.Inf(1))}
	rep, err := CheckBundle(b, refs)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Inexact != 1 {
		t.Fatalf("one value one ulp off: ok %v, %d inexact, mismatches %v", rep.OK(), rep.Inexact, rep.Mismatches)
	}
	if got := (refs[k].Scores[0] - want) / refs[k].Scores[0]; !(rep.WorstRelative > 0 && math.Abs(rep.WorstRelative-got) <= 1e-3*got) {
		t.Errorf("worst relative error %g, want that row's, %g", rep.WorstRelative, got)
	}
	t.Logf("value %v -> %v: %d inexact, worst relative %.3g", want, refs[k].Scores[0], rep.Inexact, rep.WorstRelative)
}
