package features

// Log1p is log(1 + x), scikit-learn's FunctionTransformer(np.log1p).
type Log1p struct{}

// Op implements Step.
func (Log1p) Op() string { return "log1p" }

func (Log1p) compile(c *chain, k kind) (kind, error) {
	if err := needs(k, kindNum, kindTime); err != nil { // a timestamp is epoch milliseconds
		return k, err
	}
	c.emit(step{op: opLog1p})
	return kindNum, nil
}
