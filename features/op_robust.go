package features

// Robust is scikit-learn's RobustScaler: (x - center) / scale.
type Robust struct {
	Center float64 `json:"center" bundle:"required"`
	Scale  float64 `json:"scale" bundle:"required"`
}

// Op implements Step.
func (Robust) Op() string { return "robust" }

func (s Robust) compile(c *chain, k kind) (kind, error) { return centerScale(c, k, s.Center, s.Scale) }
