package scoring

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// FuzzLightGBM feeds arbitrary bytes to the LightGBM text parser: no panic,
// no hang, bounded memory; a model it accepts must score hostile rows
// (missing, zero, tiny, huge, negative category codes) without panicking.
// Seeds: every fixture's model.txt.
func FuzzLightGBM(f *testing.F) {
	seedModels(f, "model.txt", func(data []byte) []byte {
		// the header and the first two trees: small seeds keep the fuzzer's
		// minimisation quick
		s := string(data)
		if i := strings.Index(s, "Tree=2\n"); i > 0 {
			s = s[:i] + "end of trees\n"
			s = regexp.MustCompile(`(?m)^tree_sizes=.*\n`).ReplaceAllString(s, "")
		}
		return []byte(s)
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseLightGBM(data)
		if err != nil {
			return
		}
		scoreHostile(t, m, m.f.nFeature)
	})
}

// FuzzHistGB is FuzzLightGBM for the histgb JSON file.
func FuzzHistGB(f *testing.F) {
	seedModels(f, "histgb.json", func(data []byte) []byte {
		var doc map[string]any
		if json.Unmarshal(data, &doc) != nil {
			return data
		}
		k := int(doc["n_trees_per_iteration"].(float64))
		if trees := doc["trees"].([]any); len(trees) > 2*k {
			doc["trees"] = trees[:2*k]
		}
		out, _ := json.Marshal(doc)
		return out
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseHistGB(data)
		if err != nil {
			return
		}
		scoreHostile(t, m, m.f.nFeature)
	})
}

func seedModels(f *testing.F, file string, shrink func([]byte) []byte) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "bundles", "*", file))
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(shrink(data))
		}
	}
	if len(paths) == 0 {
		f.Fatalf("no fixture has a %s", file)
	}
}

func scoreHostile(t *testing.T, m Model, w int) {
	vals := []float64{math.NaN(), 0, math.Copysign(0, -1), 1e-40, -0.5, -1, 7, 255, 256, 1e300, -1e300, math.MaxFloat64}
	n := 9 // lock-step lanes and the single-row path
	x := make([]float64, n*w)
	for i := range x {
		x[i] = vals[i%len(vals)]
	}
	for _, task := range []string{TaskBinary, TaskMulticlass, TaskRegression} {
		o := m.Output()
		if task != o.Task && !(task == TaskRegression && o.AlsoRegression) {
			continue
		}
		k := max(o.Classes, 1)
		out := make([]float64, n*k)
		m.NewPredictor(task).Predict(x, n, out)
		m.NewPredictor(task).Predict(x[:w], 1, out[:k])
	}
}
