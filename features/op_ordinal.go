package features

import (
	"fmt"
	"math"
)

// Ordinal is scikit-learn's OrdinalEncoder: the index of the category in
// Categories.
type Ordinal struct {
	Categories   []string `json:"categories" bundle:"required"`
	Unknown      string   `json:"unknown,omitempty"`          // reject (default) | value
	UnknownValue float64  `json:"unknown_value" bundle:"nan"` // with unknown "value"; NaN (JSON null or "nan") means missing
}

// Op implements Step.
func (Ordinal) Op() string { return "ordinal" }

func (s Ordinal) compile(c *chain, k kind) (kind, error) {
	t, _, err := c.categories(k, s.Categories)
	if err != nil {
		return k, err
	}
	ft := c.ft
	ft.catOp, ft.mode = catOrdinal, modeReject
	switch s.Unknown {
	case "", "reject":
	case "value":
		ft.mode, ft.aux = modeValue, s.UnknownValue
		if math.IsInf(s.UnknownValue, 0) {
			return k, fmt.Errorf("unknown_value must be finite or nan")
		}
	default:
		return k, fmt.Errorf("unknown %q (want value or reject)", s.Unknown)
	}
	c.p.tables = append(c.p.tables, t)
	ft.table = int32(len(c.p.tables) - 1)
	return kindNum, nil
}
