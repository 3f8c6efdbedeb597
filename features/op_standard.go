package features

import "fmt"

// Standard is scikit-learn's StandardScaler: (x - mean) / scale.
type Standard struct {
	Mean  float64 `json:"mean" bundle:"required"`
	Scale float64 `json:"scale" bundle:"required"`
}

// Op implements Step.
func (Standard) Op() string { return "standard" }

func (s Standard) compile(c *chain, k kind) (kind, error) { return centerScale(c, k, s.Mean, s.Scale) }

// centerScale emits (x - center) / scale, the program step of standard and
// robust. The compiler folds a chain's last one into the store.
func centerScale(c *chain, k kind, center, scale float64) (kind, error) {
	if err := needs(k, kindNum, kindTime); err != nil { // a timestamp is epoch milliseconds
		return k, err
	}
	if !finite(center, scale) || scale == 0 {
		return k, fmt.Errorf("center/mean and scale must be finite and scale non-zero (sklearn stores a zero scale as 1)")
	}
	c.emit(step{op: opCenterScale, f1: center, f2: scale})
	return kindNum, nil
}
