package features

import "fmt"

// MinMax is scikit-learn's MinMaxScaler: x*scale + offset (scale_, min_).
// Values outside [DataMin, DataMax] are counted; OutOfRange says what else
// happens to them.
type MinMax struct {
	Scale        float64     `json:"scale" bundle:"required"`
	Offset       float64     `json:"offset" bundle:"required"`
	DataMin      float64     `json:"data_min" bundle:"required"`
	DataMax      float64     `json:"data_max" bundle:"required"`
	OutOfRange   string      `json:"out_of_range,omitempty"`  // extrapolate (default) | clip | reject
	FeatureRange *[2]float64 `json:"feature_range,omitempty"` // clip bounds; default data_min/data_max mapped
}

// Op implements Step.
func (MinMax) Op() string { return "minmax" }

func (s MinMax) compile(c *chain, k kind) (kind, error) {
	if err := needs(k, kindNum, kindTime); err != nil { // a timestamp is epoch milliseconds
		return k, err
	}
	if !finite(s.Scale, s.Offset, s.DataMin, s.DataMax) || s.DataMin > s.DataMax {
		return k, fmt.Errorf("scale, offset, data_min, data_max must be finite with data_min <= data_max")
	}
	mode := modeExtrapolate
	switch s.OutOfRange {
	case "", "extrapolate":
	case "clip":
		mode = modeClip
	case "reject":
		mode = modeRejectRange
	default:
		return k, fmt.Errorf("out_of_range %q (want extrapolate, clip or reject)", s.OutOfRange)
	}
	mm := minmaxParams{dataMin: s.DataMin, dataMax: s.DataMax}
	if s.FeatureRange != nil {
		mm.lo, mm.hi = s.FeatureRange[0], s.FeatureRange[1]
	} else {
		mm.lo, mm.hi = s.DataMin*s.Scale+s.Offset, s.DataMax*s.Scale+s.Offset
	}
	if mm.lo > mm.hi {
		mm.lo, mm.hi = mm.hi, mm.lo
	}
	if !finite(mm.lo, mm.hi) {
		return k, fmt.Errorf("feature_range must be finite")
	}
	c.p.minmax = append(c.p.minmax, mm)
	c.emit(step{op: opMinMax, mode: mode, a: int32(len(c.p.minmax) - 1), f1: s.Scale, f2: s.Offset})
	return kindNum, nil
}
