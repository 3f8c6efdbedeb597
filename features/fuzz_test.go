package features

import (
	"encoding/json"
	"testing"
)

// FuzzFeature decodes an arbitrary feature entry, compiles it against a fixed
// set of inputs and runs it on rows built from the fuzzed values. Decoding
// and compiling may fail; nothing may panic, and Transform must stay within
// the declared width.
func FuzzFeature(f *testing.F) {
	for _, ft := range fraudFeatures() {
		if ft.Derive == nil {
			if raw, err := json.Marshal(ft); err == nil {
				f.Add(raw, 12.5, -3.0, "travel", int64(1717249500000))
			}
		}
	}
	f.Add([]byte(`{"name":"r","derive":{"op":"ratio","a":"amount","b":"avg_amount_30d","on_zero":"nan"},"steps":[{"op":"impute","value":1},{"op":"log1p"}]}`), 1.0, 0.0, "", int64(0))
	f.Add([]byte(`{"name":"m","input":"merchant_category","steps":[{"op":"onehot","categories":["a","b"],"unknown":"column","drop":"a"}]}`), 0.0, 0.0, "b", int64(-1))
	f.Add([]byte(`{"name":"b","input":"amount","steps":[{"op":"minmax","scale":2,"offset":1,"data_min":0,"data_max":1,"out_of_range":"clip"},{"op":"bucketize","edges":[0,1,2],"encode":"onehot"}]}`), 0.5, 1e308, "x", int64(9e15))
	l, err := NewLayout(fraudInputs())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, spec []byte, a, b float64, cat string, ts int64) {
		var ft Feature
		if err := json.Unmarshal(spec, &ft); err != nil {
			return
		}
		p, err := Compile(l, []Feature{ft})
		if err != nil {
			return
		}
		row := l.NewRow()
		row.Num[0], row.Num[1], row.Num[4], row.Num[5] = a, b, float64(ts), b
		row.Cat[0], row.Cat[1] = []byte(cat), nil
		out := make([]float64, p.Width())
		c := p.NewCounts()
		p.Transform(row, out, c)
		row.Reset()
		p.Transform(row, out, c)
	})
}
