package scoring

import (
	"os"
	"path/filepath"
	"testing"
)

// Benchmarks of the mlp kind. The Risk ones use examples/risk-mlp; the Bench
// ones use the bigger networks that train/bench_mlp.py writes (it sets
// STREAMSCORE_TEST_MLP_BENCH_DIR and compares with Keras and numpy on the
// same rows, in batches of 256):
//
//	.venv/bin/python train/bench_mlp.py --go

// BenchmarkMLPRiskScoreBatch: features + network + decision (risk-mlp), per row, batched.
func BenchmarkMLPRiskScoreBatch(b *testing.B) { benchScoreBatch(b, "risk-mlp") }

// BenchmarkMLPRiskModel: the risk-mlp network alone (1-16-8-1, float32).
func BenchmarkMLPRiskModel(b *testing.B) { benchModelOf(b, "risk-mlp") }

// BenchmarkMLPBenchKeras32Model: Keras 32-256-128-64-1 relu, float32, network alone.
func BenchmarkMLPBenchKeras32Model(b *testing.B) { benchModelOf(b, mlpBenchBundle(b, "keras32")) }

// BenchmarkMLPBenchKeras32ScoreBatch: the same through ScoreBatch.
func BenchmarkMLPBenchKeras32ScoreBatch(b *testing.B) {
	benchScoreBatch(b, mlpBenchBundle(b, "keras32"))
}

// BenchmarkMLPBenchSK64Model: sklearn MLPClassifier (256, 128, 64) relu, float64, network alone.
func BenchmarkMLPBenchSK64Model(b *testing.B) { benchModelOf(b, mlpBenchBundle(b, "sk64")) }

// BenchmarkMLPBenchKeras32SmallModel: Keras 30-100-1 relu, float32, network alone.
func BenchmarkMLPBenchKeras32SmallModel(b *testing.B) {
	benchModelOf(b, mlpBenchBundle(b, "keras32small"))
}

// BenchmarkMLPBenchSK64SmallModel: sklearn MLPClassifier (100,) relu, float64, network alone.
func BenchmarkMLPBenchSK64SmallModel(b *testing.B) { benchModelOf(b, mlpBenchBundle(b, "sk64small")) }

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
