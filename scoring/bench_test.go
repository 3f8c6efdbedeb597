package scoring

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/streamscore/streamscore/features"
)

// Benchmarks over the example bundles (examples/), the ones the stream runs.
// Batched benchmarks report ns/row: one op is one row, scored in batches of
// benchBatch through ScoreBatch (or the model alone, for comparison with
// XGBoost's inplace_predict, which also starts from the feature matrix).
//
//	go test -run XXX -bench . -benchmem -count 10 ./scoring/ | tee new.txt
//	go run golang.org/x/perf/cmd/benchstat@latest new.txt

const benchBatch = 256

func benchBundle(b *testing.B, name string) (*Bundle, []*features.Row) {
	b.Helper()
	return benchBundleDir(b, filepath.Join("..", "examples", name))
}

// benchBundleDir loads the bundle in dir and the first benchBatch rows of
// its reference events that it scores (repeated to fill the batch).
func benchBundleDir(b *testing.B, dir string) (*Bundle, []*features.Row) {
	b.Helper()
	bd, rows := scoredRows(b, dir)
	rows = rows[:min(len(rows), benchBatch)]
	for len(rows) < benchBatch {
		rows = append(rows, rows[:min(len(rows), benchBatch-len(rows))]...)
	}
	return bd, rows
}

// cpuNow is the process's user+system CPU time. The machine is shared, so
// besides wall-clock ns/row the benchmarks report cpu-ns/row, which other
// processes' load does not inflate (the benchmarks are single-goroutine).
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportPerRow reports the wall-clock and CPU time since start and cpu
// (cpuNow) per row of n as ns/row and cpu-ns/row.
func reportPerRow(b *testing.B, start time.Time, cpu time.Duration, n int) {
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(n), "ns/row")
	b.ReportMetric(float64((cpuNow()-cpu).Nanoseconds())/float64(n), "cpu-ns/row")
}

// benchScoreBatch is benchRows over the rows of benchBundle(name).
func benchScoreBatch(b *testing.B, name string) {
	bd, rows := benchBundle(b, name)
	benchRows(b, bd, rows)
}

// benchRows scores b.N rows in batches and reports ns/row.
func benchRows(b *testing.B, bd *Bundle, rows []*features.Row) {
	s := bd.NewScorer()
	out := make([]Prediction, len(rows))
	s.ScoreBatch(rows, out)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), cpuNow()
	n := 0
	for n < b.N {
		k := min(len(rows), b.N-n)
		s.ScoreBatch(rows[:k], out[:k])
		n += k
	}
	reportPerRow(b, start, cpu, n)
}

// benchScoreOne scores one row of benchBundle(name) at a time through
// ScoreOne (b.Loop: ns/op is per row) and reports cpu-ns/row.
func benchScoreOne(b *testing.B, name string) {
	bd, rows := benchBundle(b, name)
	s := bd.NewScorer()
	b.ReportAllocs()
	i := 0
	cpu := cpuNow()
	for b.Loop() {
		s.ScoreOne(rows[i%len(rows)])
		i++
	}
	b.ReportMetric(float64((cpuNow()-cpu).Nanoseconds())/float64(i), "cpu-ns/row")
}

// BenchmarkFraudScoreBatch: features + XGBoost + decision, per row, batched.
func BenchmarkFraudScoreBatch(b *testing.B) { benchScoreBatch(b, "fraud") }

// BenchmarkFraudXGBoostBatched: the XGBoost model alone on the pipeline's
// float64 features of every scored fraud reference row (the matrix
// train/bench_xgboost.py times XGBoost's inplace_predict on), per row, in
// blocks of 64 as the Scorer hands them: the float32 conversion, the trees,
// the sigmoid and the [1-p, p] output. The kernels: quickscorer (AVX-512 on
// a CPU that has it, else AVX2), quickscorer-avx2 (forced, for comparison),
// and walk, the lock-step walk of a CPU without AVX2.
func BenchmarkFraudXGBoostBatched(b *testing.B) {
	bd, rows := scoredRows(b, filepath.Join("..", "examples", "fraud"))
	m := bd.model.(*xgbModel)
	x := modelInput(b, bd, rows)
	paths := xgbPaths(m, TaskBinary)
	for _, k := range []string{"quickscorer", "quickscorer-avx2", "walk"} {
		b.Run("kernel="+k, func(b *testing.B) {
			p, ok := paths[k]
			if !ok {
				b.Skip("not on this CPU")
			}
			benchPredictor(b, p, x, len(rows), bd.pipe.Width(), 2)
		})
	}
}

// BenchmarkFraudScoreOne: one row end to end (features, model, decision).
func BenchmarkFraudScoreOne(b *testing.B) { benchScoreOne(b, "fraud") }

// BenchmarkFraudPipeline: the fraud example's feature pipeline alone, per record.
func BenchmarkFraudPipeline(b *testing.B) {
	bd, rows := benchBundle(b, "fraud")
	p := bd.Pipeline()
	out := make([]float64, p.Width())
	c := p.NewCounts()
	b.ReportAllocs()
	i := 0
	cpu := cpuNow()
	for b.Loop() {
		p.Transform(rows[i%len(rows)], out, c)
		i++
	}
	b.ReportMetric(float64((cpuNow()-cpu).Nanoseconds())/float64(i), "cpu-ns/row")
}

// BenchmarkLinearScoreBatch: linear regression (risk-rule), per row, batched.
func BenchmarkLinearScoreBatch(b *testing.B) { benchScoreBatch(b, "risk-rule") }

// BenchmarkLogisticScoreBatch: binary logistic regression (churn), per row, batched.
func BenchmarkLogisticScoreBatch(b *testing.B) { benchScoreBatch(b, "churn") }

// BenchmarkSoftmaxScoreBatch: multinomial logistic regression (iris), per row, batched.
func BenchmarkSoftmaxScoreBatch(b *testing.B) { benchScoreBatch(b, "iris") }
