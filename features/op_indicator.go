package features

// Indicator is 1 when the value at its place in the chain is missing, else 0:
// scikit-learn's MissingIndicator (SimpleImputer's add_indicator).
type Indicator struct{}

// Op implements Step.
func (Indicator) Op() string { return "indicator" }

func (Indicator) compile(c *chain, k kind) (kind, error) {
	if k == kindCat {
		c.ft.catOp = catIndicator
	} else {
		c.emit(step{op: opIndicatorNum})
	}
	return kindNum, nil
}
