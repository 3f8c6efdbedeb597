package features

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// golden.json holds feature specs with the values scikit-learn and pandas
// compute for them (features/testdata/make_golden.py). The Go pipeline must
// agree to the last few bits: same operations, same order, float64.
type goldenFile struct {
	Cases []struct {
		Name     string            `json:"name"`
		Inputs   []Input           `json:"inputs"`
		Features []Feature         `json:"features"`
		Events   []map[string]any  `json:"events"`
		Want     []json.RawMessage `json:"want"` // a vector (null = NaN), or null = reject
	} `json:"cases"`
}

func TestGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) == 0 {
		t.Fatal("golden.json has no cases")
	}
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			l, err := NewLayout(c.Inputs)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Compile(l, c.Features)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Events) != len(c.Want) || len(c.Events) == 0 {
				t.Fatalf("case has %d events and %d wants", len(c.Events), len(c.Want))
			}
			out := make([]float64, p.Width())
			for i, ev := range c.Events {
				row, err := RowFromMap(l, ev)
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				rej := p.Transform(row, out, nil)
				var want []*float64
				if err := json.Unmarshal(c.Want[i], &want); err != nil {
					t.Fatal(err)
				}
				if want == nil {
					if rej.OK() {
						t.Errorf("event %d %v: got %v, want a reject", i, ev, out)
					}
					continue
				}
				if !rej.OK() {
					t.Errorf("event %d %v: got reject %+v, want %v", i, ev, rej, deref(want))
					continue
				}
				if len(want) != len(out) {
					t.Fatalf("event %d: got %d columns, want %d", i, len(out), len(want))
				}
				for j, w := range want {
					if !closeEnough(out[j], w) {
						t.Errorf("event %d %v column %s: got %v, want %v", i, ev, p.Columns()[j], out[j], deref(want)[j])
					}
				}
			}
		})
	}
}

func deref(v []*float64) []float64 {
	out := make([]float64, len(v))
	for i, p := range v {
		out[i] = math.NaN()
		if p != nil {
			out[i] = *p
		}
	}
	return out
}

// closeEnough allows the last bit or two of difference (libm log1p), nothing
// that a model could notice.
func closeEnough(got float64, want *float64) bool {
	if want == nil {
		return math.IsNaN(got)
	}
	return got == *want || math.Abs(got-*want) <= 4e-16*math.Max(1, math.Abs(*want))
}
