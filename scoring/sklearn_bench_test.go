package scoring

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/streamscore/streamscore/features"
)

// Benchmarks of the scikit-learn tree kinds. RF100 is the speed
// target, a RandomForestClassifier of 100 trees of unlimited depth on the
// fraud pipeline; it is too big for examples/, so train/bench_sklearn_trees.py
// writes it and runs these with STREAMSCORE_TEST_RF_BUNDLE set to its
// directory (they skip without it):
//
//	.venv/bin/python train/bench_sklearn_trees.py --go

// BenchmarkFraudRFScoreBatch: features + RandomForest (examples/fraud-rf,
// 50 trees, depth 10) + decision, per row, batched.
func BenchmarkFraudRFScoreBatch(b *testing.B) { benchScoreBatch(b, "fraud-rf") }

// BenchmarkFraudRFBatched: the fraud-rf forest alone on precomputed
// features, per row, in blocks of 64.
func BenchmarkFraudRFBatched(b *testing.B) { benchModelOf(b, "fraud-rf") }

// rf100 loads the benchmark forest and every reference row it scores: the
// rows train/bench_sklearn_trees.py times scikit-learn on.
func rf100(b *testing.B) (*Bundle, []*features.Row) {
	dir := os.Getenv("STREAMSCORE_TEST_RF_BUNDLE")
	if dir == "" {
		b.Skip("STREAMSCORE_TEST_RF_BUNDLE is not set (train/bench_sklearn_trees.py --go sets it)")
	}
	return scoredRows(b, dir)
}

// scoredRows loads the bundle in dir and every reference row it scores
// (the rows of the reference features the library baselines time).
func scoredRows(b *testing.B, dir string) (*Bundle, []*features.Row) {
	bd, err := Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	var rows []*features.Row
	s := bd.NewScorer()
	for _, row := range fixtureRows(b, dir, bd) {
		if row != nil && s.ScoreOne(row).Reject == "" {
			rows = append(rows, row)
		}
	}
	runtime.GC()
	return bd, rows
}

// BenchmarkRF100Batched: the 100-tree unlimited-depth forest alone on
// precomputed features (float64, as sklearn's predict_proba gets them; the
// predictor casts to float32 as sklearn does), per row, in blocks of 64.
func BenchmarkRF100Batched(b *testing.B) {
	bd, rows := rf100(b)
	benchModel(b, bd, rows)
}

// BenchmarkRF100ScoreBatch: features + the 100-tree forest + decision.
func BenchmarkRF100ScoreBatch(b *testing.B) {
	bd, rows := rf100(b)
	benchRows(b, bd, rows)
}

// benchBlock is the block of rows benchPredictor hands the predictor.
var benchBlock = blockRows

// benchModelOf is benchModel over the rows of benchBundle(name).
func benchModelOf(b *testing.B, name string) {
	bd, rows := benchBundle(b, name)
	benchModel(b, bd, rows)
}

// benchModel scores b.N rows with the bundle's model alone, from the
// pipeline's float64 output, in blocks of benchBlock, and reports ns/row.
func benchModel(b *testing.B, bd *Bundle, rows []*features.Row) {
	x := modelInput(b, bd, rows)
	benchPredictor(b, bd.model.NewPredictor(bd.Task()), x, len(rows), bd.pipe.Width(), bd.nOut)
}

// modelInput is the pipeline's output for rows, row-major.
func modelInput(b *testing.B, bd *Bundle, rows []*features.Row) []float64 {
	w := bd.pipe.Width()
	x := make([]float64, len(rows)*w)
	for i, r := range rows {
		if rej := bd.pipe.Transform(r, x[i*w:(i+1)*w], nil); !rej.OK() {
			b.Fatalf("row %d rejected: %+v", i, rej)
		}
	}
	return x
}

// benchPredictor runs p over the n rows of x (w columns) in blocks of
// benchBlock, b.N rows in all, and reports ns/row and cpu-ns/row.
func benchPredictor(b *testing.B, p Predictor, x []float64, n, w, nOut int) {
	out := make([]float64, benchBlock*nOut)
	p.Predict(x[:min(n, benchBlock)*w], min(n, benchBlock), out)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), cpuNow()
	done := 0
	for done < b.N {
		for blk := 0; blk < n && done < b.N; blk += benchBlock {
			k := min(benchBlock, n-blk, b.N-done)
			p.Predict(x[blk*w:(blk+k)*w], k, out[:k*nOut])
			done += k
		}
	}
	reportPerRow(b, start, cpu, done)
}

// BenchmarkFraudRFScoreOne: one row end to end through ScoreOne
// (examples/fraud-rf).
func BenchmarkFraudRFScoreOne(b *testing.B) { benchScoreOne(b, "fraud-rf") }
