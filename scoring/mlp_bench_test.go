package scoring

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamscore/streamscore/features"
)

// Benchmarks of the mlp kind. The Risk ones use examples/risk-mlp; the Bench
// ones use the bigger networks that train/bench_mlp.py writes (it sets
// STREAMSCORE_TEST_MLP_BENCH_DIR and compares with Keras and numpy on the
// same rows, in batches of 256):
//
//	.venv/bin/python train/bench_mlp.py --go

// BenchmarkMLPRiskScoreBatch: features + network + decision (risk-mlp), per row, batched.
func BenchmarkMLPRiskScoreBatch(b *testing.B) {
	bd, rows := benchBundle(b, "risk-mlp")
	benchRows(b, bd, rows)
}

// BenchmarkMLPRiskModel: the risk-mlp network alone (1-16-8-1, float32).
func BenchmarkMLPRiskModel(b *testing.B) {
	bd, rows := benchBundle(b, "risk-mlp")
	benchModel(b, bd, rows)
}

// BenchmarkMLPBenchKeras32Model: Keras 32-256-128-64-1 relu, float32, network alone.
func BenchmarkMLPBenchKeras32Model(b *testing.B) {
	bd, rows := benchBundle(b, mlpBenchBundle(b, "keras32"))
	benchModel(b, bd, rows)
}

// BenchmarkMLPBenchKeras32ScoreBatch: the same through ScoreBatch.
func BenchmarkMLPBenchKeras32ScoreBatch(b *testing.B) {
	bd, rows := benchBundle(b, mlpBenchBundle(b, "keras32"))
	benchRows(b, bd, rows)
}

// BenchmarkMLPBenchSK64Model: sklearn MLPClassifier (256, 128, 64) relu, float64, network alone.
func BenchmarkMLPBenchSK64Model(b *testing.B) {
	bd, rows := benchBundle(b, mlpBenchBundle(b, "sk64"))
	benchModel(b, bd, rows)
}

// BenchmarkMLPBenchKeras32SmallModel: Keras 30-100-1 relu, float32, network alone.
func BenchmarkMLPBenchKeras32SmallModel(b *testing.B) {
	bd, rows := benchBundle(b, mlpBenchBundle(b, "keras32small"))
	benchModel(b, bd, rows)
}

// BenchmarkMLPBenchSK64SmallModel: sklearn MLPClassifier (100,) relu, float64, network alone.
func BenchmarkMLPBenchSK64SmallModel(b *testing.B) {
	bd, rows := benchBundle(b, mlpBenchBundle(b, "sk64small"))
	benchModel(b, bd, rows)
}

// mlpBenchBundle names a bundle of train/bench_mlp.py for benchBundle
// (relative to examples/).
func mlpBenchBundle(b *testing.B, name string) string {
	dir := os.Getenv("STREAMSCORE_TEST_MLP_BENCH_DIR")
	if dir == "" {
		b.Skip("STREAMSCORE_TEST_MLP_BENCH_DIR is not set: run train/bench_mlp.py --go")
	}
	examples, err := filepath.Abs(filepath.Join("..", "examples"))
	if err != nil {
		b.Fatal(err)
	}
	rel, err := filepath.Rel(examples, filepath.Join(dir, name))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, name, "bundle.json")); err != nil {
		b.Fatal(err)
	}
	return rel
}

// benchModel times the model's Predictor alone on the rows' features, in
// blocks of blockRows as the Scorer calls it, and reports ns/row.
func benchModel(b *testing.B, bd *Bundle, rows []*features.Row) {
	w, k := bd.pipe.Width(), bd.nOut
	x := make([]float64, len(rows)*w)
	for i, r := range rows {
		if rej := bd.pipe.Transform(r, x[i*w:(i+1)*w], nil); !rej.OK() {
			b.Fatalf("row %d rejected: %+v", i, rej)
		}
	}
	out := make([]float64, len(rows)*k)
	p := bd.model.NewPredictor(bd.Task())
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), cpuNow()
	n := 0
	for n < b.N {
		for blk := 0; blk < len(rows) && n < b.N; blk += blockRows {
			m := min(blockRows, len(rows)-blk, b.N-n)
			p.Predict(x[blk*w:(blk+m)*w], m, out[blk*k:(blk+m)*k])
			n += m
		}
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(n), "ns/row")
	b.ReportMetric(float64((cpuNow()-cpu).Nanoseconds())/float64(n), "cpu-ns/row")
}
