package scoring

import (
	"math"
	"testing"
)

// TestExpitIsScipys checks the probabilities of the kinds whose library calls
// scipy.special.expit (linear with link logistic: LogisticRegression;
// sklearn_gradient_boosting: GradientBoostingClassifier) against scipy's own
// values (testdata/expit_scipy.txt, written by make_expit_golden.py: float64
// bits of z and of expit(z)), bit for bit. A margin of exactly z goes
// through each kind's Predict: coef 1 and intercept 0 on one column equal
// to z; a GradientBoosting model whose init is z and whose one tree is a
// leaf of value 0.
func TestExpitIsScipys(t *testing.T) {
	lin, err := newLinear(linearKind{Link: "logistic", Coef: [][]float64{{1}}, Intercept: []float64{0}})
	if err != nil {
		t.Fatal(err)
	}
	linP := lin.NewPredictor(TaskBinary)
	lr := 0.1
	pairs := readBitPairs(t, "testdata/expit_scipy.txt", 64)
	bad := 0
	for _, pair := range pairs {
		z, want := math.Float64frombits(pair[0]), math.Float64frombits(pair[1])
		gb, err := newGB(&skFile{Estimator: "GradientBoostingClassifier", NFeatures: 1, NClasses: 2, Loss: "log_loss",
			LearningRate: &lr, Init: skFloats{z}, Trees: []*skTree{{ChildrenLeft: []int64{-1}, ChildrenRight: []int64{-1},
				Feature: []int64{-2}, Threshold: skFloats{-2}, MissingGoToLeft: []int8{0}, Value: skFloats{0}}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			kind string
			p    Predictor
		}{{"linear", linP}, {"sklearn_gradient_boosting", gb.NewPredictor(TaskBinary)}} {
			var out [2]float64
			c.p.Predict([]float64{z}, 1, out[:])
			if out[1] != want || out[0] != 1-want {
				if bad++; bad <= 10 {
					t.Errorf("%s: margin %v: got [%v %v], scipy [%v %v]", c.kind, z, out[0], out[1], 1-want, want)
				}
			}
		}
	}
	if len(pairs) < 3000 {
		t.Fatalf("only %d margins in testdata/expit_scipy.txt", len(pairs))
	}
	if bad > 0 {
		t.Errorf("%d of %d outputs differ from scipy's", bad, 2*len(pairs))
	}
}
