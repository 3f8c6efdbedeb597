package features

import "fmt"

// OneHot is scikit-learn's OneHotEncoder: one column per category (named
// <feature>_<category>), written by this terminal step.
type OneHot struct {
	Categories []string `json:"categories" bundle:"required"`
	Unknown    string   `json:"unknown,omitempty"` // reject (default) | zeros | column
	Drop       *string  `json:"drop,omitempty"`    // a category whose column is dropped
}

// Op implements Step.
func (OneHot) Op() string { return "onehot" }

func (s OneHot) compile(c *chain, k kind) (kind, error) {
	t, known, err := c.categories(k, s.Categories)
	if err != nil {
		return k, err
	}
	ft := c.ft
	ft.catOp, ft.mode = catOneHot, modeReject
	switch s.Unknown {
	case "", "reject":
	case "zeros":
		ft.mode = modeZeros
	case "column":
		ft.mode = modeColumn
	default:
		return k, fmt.Errorf("unknown %q (want zeros, column or reject)", s.Unknown)
	}
	if s.Drop != nil && !known[*s.Drop] {
		return k, fmt.Errorf("drop %q is not one of the categories", *s.Drop)
	}
	t.col = make([]int32, len(s.Categories))
	first := int32(-1)
	for i, cat := range s.Categories {
		if s.Drop != nil && cat == *s.Drop {
			t.col[i] = -1
			continue
		}
		col, err := c.column(c.name + "_" + cat)
		if err != nil {
			return k, err
		}
		if first < 0 {
			first = col
		}
		t.col[i] = col - first
		t.width++
	}
	if ft.mode == modeColumn {
		col, err := c.column(c.name + "__unknown")
		if err != nil {
			return k, err
		}
		if first < 0 {
			first = col
		}
		t.width++
	}
	if first < 0 {
		first = int32(len(c.p.columns)) // only a dropped category: no columns
	}
	c.p.tables = append(c.p.tables, t)
	ft.table, ft.col = int32(len(c.p.tables)-1), first
	return kindDone, nil
}
