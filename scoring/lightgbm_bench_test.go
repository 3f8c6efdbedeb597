package scoring

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkLightGBM500 scores the benchmark model (500 trees, 63
// leaves, binary) alone on a feature matrix, in blocks of 64 rows, the
// work LightGBM's own predict does from its input matrix. train/bench_lightgbm.py
// trains the model, writes the bundle, the matrix (features.f64: row-major
// little-endian float64) and LightGBM's probabilities (want.f64), runs this
// benchmark with STREAMSCORE_DEV_LIGHTGBM_BENCH=<that directory> and puts the
// figures beside LightGBM's, lleaves' and treelite's in the same run.
func BenchmarkLightGBM500(b *testing.B) {
	dir := os.Getenv("STREAMSCORE_DEV_LIGHTGBM_BENCH")
	if dir == "" {
		b.Skip("run by train/bench_lightgbm.py (STREAMSCORE_DEV_LIGHTGBM_BENCH names the model directory)")
	}
	bd, err := Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	x, want := readF64(b, filepath.Join(dir, "features.f64")), readF64(b, filepath.Join(dir, "want.f64"))
	w := bd.pipe.Width()
	n := len(x) / w
	if len(want) != n {
		b.Fatalf("%d expected scores for %d rows", len(want), n)
	}
	p := bd.model.NewPredictor(TaskBinary)
	out := make([]float64, 2*n)
	for r0 := 0; r0 < n; r0 += blockRows {
		k := min(blockRows, n-r0)
		p.Predict(x[r0*w:(r0+k)*w], k, out[2*r0:2*(r0+k)])
	}
	diff := 0
	for i, v := range want {
		if out[2*i+1] != v {
			diff++
		}
	}
	benchPredictor(b, p, x, n, w, 2)
	b.ReportMetric(float64(n-diff), "identical") // probabilities equal to LightGBM's, of rows
	b.ReportMetric(float64(n), "rows")
}

func readF64(b *testing.B, path string) []float64 {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	v := make([]float64, len(data)/8)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
	}
	return v
}

// BenchmarkChurnLGBMScoreBatch: features + LightGBM (120 trees, categorical
// splits) + decision, per row, batched.
func BenchmarkChurnLGBMScoreBatch(b *testing.B) { benchScoreBatch(b, "churn-lgbm") }

// BenchmarkChurnHGBScoreBatch: the HistGradientBoosting example end to end.
func BenchmarkChurnHGBScoreBatch(b *testing.B) { benchScoreBatch(b, "churn-hgb") }
