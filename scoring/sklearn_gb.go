package scoring

import (
	"errors"
	"fmt"
)

// gbLosses are GradientBoosting's losses and whether each is a classifier's.
var gbLosses = map[string]bool{
	"log_loss": true, "exponential": true,
	"squared_error": false, "absolute_error": false, "huber": false, "quantile": false,
}

// skGB is a compiled gradient boosting model. The raw prediction of a row
// is init[k] plus, stage by stage, learning_rate × the leaf value of the
// stage's tree k, in float64, as predict_stages does; the loss's inverse
// link turns it into the output.
type skGB struct {
	f       *skFile
	skTrees           // group = k (trees[i*K+k] is stage i's tree k); a leaf's value is learning_rate × its value
	k       int       // trees per stage: 1, or the classes of a multi-class model
	init    []float64 // raw prediction of the init estimator, per output
}

// newGB checks and compiles a decoded gradient boosting file.
func newGB(f *skFile) (*skGB, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if f.Estimator != "GradientBoostingClassifier" && f.Estimator != "GradientBoostingRegressor" {
		return nil, fmt.Errorf("estimator %q is not GradientBoostingClassifier or GradientBoostingRegressor", f.Estimator)
	}
	classifier, ok := gbLosses[f.Loss]
	if !ok {
		return nil, fmt.Errorf("loss %q is not supported (want log_loss, exponential, squared_error, absolute_error, huber or quantile)", f.Loss)
	}
	if classifier != (f.Estimator == "GradientBoostingClassifier") || classifier != (f.NClasses > 0) {
		return nil, fmt.Errorf("loss %q with %s and n_classes %d", f.Loss, f.Estimator, f.NClasses)
	}
	if f.Loss == "exponential" && f.NClasses != 2 {
		return nil, fmt.Errorf("loss exponential needs 2 classes, got %d", f.NClasses)
	}
	if f.LearningRate == nil || !isFinite(*f.LearningRate) {
		return nil, errors.New("learning_rate must be a finite number")
	}
	m := &skGB{f: f, k: 1}
	if f.NClasses > 2 {
		m.k = f.NClasses
	}
	if len(f.Init) != m.k {
		return nil, fmt.Errorf("init has %d values, want %d (one per tree of a stage)", len(f.Init), m.k)
	}
	for i, v := range f.Init {
		if !isFinite(v) {
			return nil, fmt.Errorf("init[%d] is not finite", i)
		}
	}
	if len(f.Trees)%m.k != 0 {
		return nil, fmt.Errorf("%d trees is not a whole number of stages of %d", len(f.Trees), m.k)
	}
	m.init = f.Init
	k := int32(m.k)
	if err := f.compile(&m.skTrees, 1, *f.LearningRate, func(t int) int32 { return int32(t) % k }); err != nil {
		return nil, err
	}
	return m, nil
}

// Output implements Model. GradientBoosting refuses missing values.
func (m *skGB) Output() ModelOutput {
	o := m.f.output()
	o.RefusesNaN = true
	return o
}

// Describe implements Model.
func (m *skGB) Describe() []string {
	return []string{
		fmt.Sprintf("scikit-learn %s %s, loss %s, %d stages of %d tree(s)", m.f.SklearnVersion, m.f.Estimator, m.f.Loss, len(m.trees.roots)/m.k, m.k),
		fmt.Sprintf("%d nodes, max depth %d, learning_rate %v, init %v", len(m.trees.nodes), m.trees.maxDepth, *m.f.LearningRate, m.init),
	}
}

// NewPredictor implements Model.
func (m *skGB) NewPredictor(string) Predictor {
	return &skGBPredictor{m: m, in: skInput{make([]float32, blockRows/lanes*groupFloats(m.trees.nFeature))}, raw: make([]float64, blockRows*m.k)}
}

type skGBPredictor struct {
	m   *skGB
	in  skInput
	raw []float64
}

// Predict implements Predictor: the value, [1-p, p] or the class
// probabilities, from the raw predictions as the loss's predict_proba.
func (p *skGBPredictor) Predict(x []float64, n int, out []float64) {
	m := p.m
	nr := n * m.k
	if cap(p.raw) < nr {
		p.raw = make([]float64, nr)
	}
	raw := p.raw[:nr]
	x32, hasNaN := p.in.convert(x, n, m.trees.nFeature) // no NaN: the Scorer refuses such rows
	for r := 0; r < n; r++ {
		copy(raw[r*m.k:(r+1)*m.k], m.init)
	}
	m.sum(x32, n, raw, m.k, hasNaN)
	switch {
	case m.f.NClasses == 2:
		twice := m.f.Loss == "exponential" // ExponentialLoss: HalfLogitLink, expit(2 raw)
		for r, v := range raw {
			if twice {
				v *= 2
			}
			q := expit(v)
			out[2*r], out[2*r+1] = 1-q, q
		}
	case m.f.NClasses > 2:
		copy(out[:nr], raw)
		for r := 0; r < nr; r += m.k {
			softmax64(out[r : r+m.k])
		}
	default:
		copy(out[:nr], raw)
	}
}
