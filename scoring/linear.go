package scoring

import (
	"errors"
	"fmt"
	"math"
)

// linearKind is the "linear" model object: the coefficients inline.
type linearKind struct {
	Link      string      `json:"link" bundle:"required"`      // identity | logistic | softmax
	Coef      [][]float64 `json:"coef" bundle:"required"`      // one row per output (sklearn coef_)
	Intercept []float64   `json:"intercept" bundle:"required"` // one value per row
}

func (linearKind) Kind() string { return "linear" }

func (k linearKind) load(b bundleFiles) (Model, error) {
	m, err := newLinear(k)
	if err != nil {
		return nil, err
	}
	if m.width != len(b.columns) {
		return nil, fmt.Errorf("%d coefficients per row but the features produce %d columns", m.width, len(b.columns))
	}
	return m, nil
}

// linearModel is scikit-learn's LinearRegression (identity), binary
// LogisticRegression (logistic, one coef row) or multinomial
// LogisticRegression (softmax), computed in float64 as scikit-learn does.
type linearModel struct {
	link      string
	coef      [][]float64
	intercept []float64
	width     int
	nOut      int // outputs per row: 1 (identity), 2 (logistic: [1-p, p]) or one per class
}

func newLinear(spec linearKind) (*linearModel, error) {
	if len(spec.Coef) == 0 {
		return nil, errors.New("coef has no rows")
	}
	if len(spec.Coef) > MaxClasses {
		return nil, fmt.Errorf("%d coef rows, more than the limit of %d", len(spec.Coef), MaxClasses)
	}
	if len(spec.Intercept) != len(spec.Coef) {
		return nil, fmt.Errorf("%d intercepts for %d coef rows", len(spec.Intercept), len(spec.Coef))
	}
	m := &linearModel{link: spec.Link, coef: spec.Coef, intercept: spec.Intercept, width: len(spec.Coef[0]), nOut: len(spec.Coef)}
	if m.width > MaxModelColumns {
		return nil, fmt.Errorf("%d coefficients per row, more than the limit of %d", m.width, MaxModelColumns)
	}
	for i, row := range spec.Coef {
		if len(row) != m.width {
			return nil, fmt.Errorf("coef row %d has %d values, row 0 has %d", i, len(row), m.width)
		}
		for j, v := range row {
			if !isFinite(v) {
				return nil, fmt.Errorf("coef[%d][%d] is not finite", i, j)
			}
		}
		if !isFinite(spec.Intercept[i]) {
			return nil, fmt.Errorf("intercept[%d] is not finite", i)
		}
	}
	switch m.link {
	case "identity":
		if len(m.coef) != 1 {
			return nil, fmt.Errorf("identity link with %d coef rows; multi-output regression is not supported", len(m.coef))
		}
	case "logistic":
		if len(m.coef) != 1 {
			return nil, fmt.Errorf("logistic link needs exactly one coef row (binary), got %d; use softmax for multinomial", len(m.coef))
		}
		m.nOut = 2
	case "softmax":
		if len(m.coef) < 2 {
			return nil, fmt.Errorf("softmax link needs at least two coef rows, got %d", len(m.coef))
		}
	case "":
		return nil, errors.New("linear model without link (identity, logistic or softmax)")
	default:
		return nil, fmt.Errorf("unknown link %q (want identity, logistic or softmax)", m.link)
	}
	return m, nil
}

// Output implements Model. scikit-learn's linear models refuse NaN input.
func (m *linearModel) Output() ModelOutput {
	switch m.link {
	case "logistic":
		return ModelOutput{Task: TaskBinary, Classes: 2, RefusesNaN: true}
	case "softmax":
		return ModelOutput{Task: TaskMulticlass, Classes: len(m.coef), RefusesNaN: true}
	}
	return ModelOutput{Task: TaskRegression, RefusesNaN: true}
}

// Describe implements Model.
func (m *linearModel) Describe() []string {
	return []string{fmt.Sprintf("linear, link %s, %d output(s) x %d coefficients", m.link, len(m.coef), m.width)}
}

// NewPredictor implements Model. A linear model needs no scratch and gives
// the same outputs for every task it allows.
func (m *linearModel) NewPredictor(string) Predictor { return linearPredictor{m} }

type linearPredictor struct{ m *linearModel }

// Predict implements Predictor: per row [value] (identity), [1-p, p]
// (logistic, like predict_proba) or the class probabilities (softmax).
func (p linearPredictor) Predict(x []float64, n int, out []float64) {
	m := p.m
	w, k := m.width, m.nOut
	switch m.link {
	case "logistic":
		for r := 0; r < n; r++ {
			q := expit(m.dot(0, x[r*w:(r+1)*w]))
			out[2*r], out[2*r+1] = 1-q, q
		}
	case "softmax":
		for r := 0; r < n; r++ {
			row, o := x[r*w:(r+1)*w], out[r*k:(r+1)*k]
			for c := range o {
				o[c] = m.dot(c, row)
			}
			softmax64(o)
		}
	default: // identity
		for r := 0; r < n; r++ {
			out[r] = m.dot(0, x[r*w:(r+1)*w])
		}
	}
}

// dot is coef[c] . x + intercept[c], summed in column order in float64.
func (m *linearModel) dot(c int, x []float64) float64 {
	z := 0.0
	for j, v := range m.coef[c] {
		z += v * x[j]
	}
	return z + m.intercept[c]
}

// expit is scipy.special.expit as scipy computes it, 1 / (1 + exp(-z)) with
// the C library's exp (exp64: correctly rounded, as glibc's is for all but
// about 0.1% of arguments), so that the probabilities of predict_proba
// (LogisticRegression, GradientBoosting, HistGradientBoosting) come out with
// the same bits. For z below -709 exp(-z) overflows and the result is 0, as
// scipy's.
func expit(z float64) float64 { return 1 / (1 + exp64(-z)) }

// softmax64 is sklearn.utils.extmath.softmax: subtract the max, exponentiate,
// normalise.
func softmax64(v []float64) {
	mx := v[0]
	for _, x := range v[1:] {
		mx = max(mx, x)
	}
	s := 0.0
	for i, x := range v {
		v[i] = math.Exp(x - mx)
		s += v[i]
	}
	for i := range v {
		v[i] /= s
	}
}
