package scoring

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/streamscore/streamscore/features"
)

// FuzzLoad feeds arbitrary manifest and model bytes to the loader. It must
// never panic or hang; a bundle it accepts must score hostile rows without
// panicking. Seeds: testdata/fuzz/FuzzLoad (every fixture bundle).
func FuzzLoad(f *testing.F) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "bundles", "*"))
	for _, d := range dirs {
		m, err := os.ReadFile(filepath.Join(d, "bundle.json"))
		if err != nil {
			continue
		}
		model, _ := os.ReadFile(filepath.Join(d, "model.json"))
		f.Add(m, model)
	}
	f.Fuzz(func(t *testing.T, manifest, model []byte) {
		b, err := Parse(manifest, func(string) ([]byte, error) { return model, nil })
		if err != nil {
			if b != nil {
				t.Fatal("got a bundle and an error")
			}
			return
		}
		l := b.Layout()
		rows := []*features.Row{l.NewRow(), l.NewRow(), l.NewRow()}
		for i := range rows[1].Num {
			rows[1].Num[i] = 1e308
			rows[2].Num[i] = -math.MaxFloat64
		}
		for i := range rows[1].Cat {
			rows[1].Cat[i] = []byte("x")
			rows[2].Cat[i] = []byte{}
		}
		out := make([]Prediction, len(rows))
		s := b.NewScorer()
		s.ScoreBatch(rows, out)
		for _, p := range out {
			if p.Reject == "" && b.Task() != TaskRegression && len(p.Probs) != len(b.Classes()) {
				t.Fatalf("scored row with %d probabilities for %d classes", len(p.Probs), len(b.Classes()))
			}
		}
		_ = b.WriteSummary(discard{})
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
