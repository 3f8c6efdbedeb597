package scoring

import (
	"errors"
	"fmt"
	"math"
)

// linearModel is scikit-learn's LinearRegression (identity), binary
// LogisticRegression (logistic, one coef row) or multinomial
// LogisticRegression (softmax), computed in float64 as scikit-learn does.
type linearModel struct {
	link      string
	coef      [][]float64
	intercept []float64
	width     int
}

func newLinear(spec ModelSpec) (*linearModel, error) {
	if spec.File != "" {
		return nil, errors.New("model: a linear model takes coef and intercept, not file")
	}
	if len(spec.Coef) == 0 {
		return nil, errors.New("model: linear model without coef")
	}
	if len(spec.Coef) > MaxClasses {
		return nil, fmt.Errorf("model: %d coef rows, more than the limit of %d", len(spec.Coef), MaxClasses)
	}
	if len(spec.Intercept) != len(spec.Coef) {
		return nil, fmt.Errorf("model: %d intercepts for %d coef rows", len(spec.Intercept), len(spec.Coef))
	}
	m := &linearModel{link: spec.Link, coef: spec.Coef, intercept: spec.Intercept, width: len(spec.Coef[0])}
	if m.width > MaxModelColumns {
		return nil, fmt.Errorf("model: %d coefficients per row, more than the limit of %d", m.width, MaxModelColumns)
	}
	for i, row := range spec.Coef {
		if len(row) != m.width {
			return nil, fmt.Errorf("model: coef row %d has %d values, row 0 has %d", i, len(row), m.width)
		}
		for j, v := range row {
			if !isFinite(v) {
				return nil, fmt.Errorf("model: coef[%d][%d] is not finite", i, j)
			}
		}
		if !isFinite(spec.Intercept[i]) {
			return nil, fmt.Errorf("model: intercept[%d] is not finite", i)
		}
	}
	switch m.link {
	case "identity":
		if len(m.coef) != 1 {
			return nil, fmt.Errorf("model: identity link with %d coef rows; multi-output regression is not supported", len(m.coef))
		}
	case "logistic":
		if len(m.coef) != 1 {
			return nil, fmt.Errorf("model: logistic link needs exactly one coef row (binary), got %d; use softmax for multinomial", len(m.coef))
		}
	case "softmax":
		if len(m.coef) < 2 {
			return nil, fmt.Errorf("model: softmax link needs at least two coef rows, got %d", len(m.coef))
		}
	case "":
		return nil, errors.New("model: linear model without link (identity, logistic or softmax)")
	default:
		return nil, fmt.Errorf("model: unknown link %q (want identity, logistic or softmax)", m.link)
	}
	return m, nil
}

// score writes the model outputs of one feature row: [value] (identity),
// [1-p, p] (logistic, like predict_proba) or the class probabilities (softmax).
func (m *linearModel) score(x []float64, out []float64) {
	for k, row := range m.coef {
		z := 0.0
		for j, c := range row {
			z += c * x[j]
		}
		out[k] = z + m.intercept[k]
	}
	switch m.link {
	case "logistic":
		p := expit(out[0])
		out[0], out[1] = 1-p, p
	case "softmax":
		softmax64(out[:len(m.coef)])
	}
}

// expit is scipy.special.expit, the logistic sigmoid, stable for large |z|.
func expit(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

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
