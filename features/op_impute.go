package features

import "fmt"

// Impute replaces a missing value with Value: scikit-learn's SimpleImputer
// (statistics_), for numbers, timestamps and categories.
type Impute struct {
	Value    any    `json:"value" bundle:"required"` // float64 for numbers and timestamps, string for categories
	Strategy string `json:"strategy,omitempty"`      // informational: mean | median | most_frequent | constant
}

// Op implements Step.
func (Impute) Op() string { return "impute" }

func (s Impute) compile(c *chain, k kind) (kind, error) {
	switch s.Strategy {
	case "", "mean", "median", "most_frequent", "constant":
	default:
		return k, fmt.Errorf("unknown strategy %q", s.Strategy)
	}
	ft := c.ft
	if k == kindCat {
		v, ok := s.Value.(string)
		if !ok {
			return k, fmt.Errorf("value for a category must be a string, got %T", s.Value)
		}
		if ft.flags&flagImpute == 0 { // a later impute of a category cannot apply
			c.p.strs = append(c.p.strs, []byte(v))
			ft.flags |= flagImpute
			ft.b = int32(len(c.p.strs) - 1)
		}
		return k, nil
	}
	v, ok := s.Value.(float64)
	if !ok || !finite(v) {
		return k, fmt.Errorf("value for a %s must be a finite number, got %v", k, s.Value)
	}
	if ft.src != srcCat && len(ft.steps) == 0 && ft.flags&flagImpute == 0 {
		ft.flags |= flagImpute // folded into the source
		ft.imp = v
	} else {
		c.emit(step{op: opImputeNum, f1: v})
	}
	return k, nil
}
