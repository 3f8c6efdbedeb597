package scoring

import (
	"math"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/reject"
)

// blockRows is how many rows the Scorer hands the model at once: small
// enough that the rows' features stay in L1, large enough for a tree model to
// reuse each tree's nodes (XGBoost's CPU predictor uses 64 as well).
const blockRows = 64

// Prediction is the result for one row.
type Prediction struct {
	Score         float64       // positive-class probability (binary), top probability (multiclass), value (regression)
	Label         string        // from the decision policy; points at the bundle's strings
	Probs         []float64     // per-class probabilities (nil for regression); the Scorer's buffer, valid until the next ScoreBatch
	Reject        reject.Reason // "" when scored; else why (out_of_range, unknown_category, missing_field, not_finite)
	RejectFeature string        // the feature, input or model column that caused the reject
}

// Scorer scores rows with one bundle. It owns its scratch buffers and
// counters, so it belongs to one goroutine; make one per worker with
// Bundle.NewScorer. After the first batches have grown its buffers, ScoreBatch
// allocates nothing.
type Scorer struct {
	b      *Bundle
	width  int
	nOut   int
	counts *features.Counts

	x     []float64 // features of the last batch, row-major
	probs []float64 // model outputs of the last batch, row-major (nOut per row)
	nRows int

	pred Predictor // the model's per-Scorer state
	idx  []int     // rows of the current block that passed the pipeline
	xb   []float64 // those rows gathered, when some of the block was rejected
	pb   []float64 // their outputs, before they are put back in place

	one    [1]*features.Row
	oneOut [1]Prediction
}

// NewScorer returns a Scorer with zeroed counters.
func (b *Bundle) NewScorer() *Scorer {
	s := &Scorer{b: b, width: b.pipe.Width(), nOut: b.nOut, counts: b.pipe.NewCounts()}
	s.idx = make([]int, 0, blockRows)
	s.pred = b.model.NewPredictor(b.Task())
	return s
}

// Counts returns the cumulative per-feature counts of out-of-range values
// and unknown categories since NewScorer. Read it from the owning goroutine.
func (s *Scorer) Counts() *features.Counts { return s.counts }

// Features returns the model columns computed for row i of the last batch
// (valid until the next ScoreBatch), or nil if i is out of range.
func (s *Scorer) Features(i int) []float64 {
	if i < 0 || i >= s.nRows {
		return nil
	}
	return s.x[i*s.width : (i+1)*s.width : (i+1)*s.width]
}

// ScoreOne scores a single row. Probs in the result is valid until the next
// call on this Scorer.
func (s *Scorer) ScoreOne(row *features.Row) Prediction {
	s.one[0] = row
	s.ScoreBatch(s.one[:], s.oneOut[:])
	s.one[0] = nil
	return s.oneOut[0]
}

// ScoreBatch runs the pipeline, the model and the decision policy over rows
// and writes one Prediction per row into out (len(out) must be at least
// len(rows); extra entries are left alone). Rows that must go to the DLQ
// get Reject and RejectFeature set and no score.
func (s *Scorer) ScoreBatch(rows []*features.Row, out []Prediction) {
	n := min(len(rows), len(out))
	w := s.width
	if cap(s.x) < n*w {
		s.x = make([]float64, n*w)
	}
	if cap(s.probs) < n*s.nOut {
		s.probs = make([]float64, n*s.nOut)
	}
	s.x = s.x[:n*w]
	s.probs = s.probs[:n*s.nOut]
	s.nRows = n
	pipe := s.b.pipe
	cols := pipe.Columns()
	refuseNaN, refuseF32 := s.b.out.RefusesNaN, s.b.out.RefusesFloat32Overflow
	for start := 0; start < n; start += blockRows {
		end := min(start+blockRows, n)
		s.idx = s.idx[:0]
		for i := start; i < end; i++ {
			out[i] = Prediction{}
			if rows[i] == nil {
				out[i].Reject, out[i].RejectFeature = reject.MissingField, "record"
				continue
			}
			x := s.x[i*w : (i+1)*w]
			rej := pipe.Transform(rows[i], x, s.counts)
			if !rej.OK() {
				out[i].Reject, out[i].RejectFeature = rej.Reason, rej.Feature
				continue
			}
			if refuseNaN {
				// scikit-learn's linear models refuse NaN input, so do we.
				// A NaN from a missing input is a missing field; one the pipeline
				// computed (log1p of a value below -1) is not finite.
				if j := firstNaN(x); j >= 0 {
					out[i].Reject, out[i].RejectFeature = reject.NotFinite, cols[j]
					if pipe.SourceMissing(rows[i], pipe.ColumnFeature(j)) {
						out[i].Reject = reject.MissingField
					}
					continue
				}
			}
			if refuseF32 {
				if j := firstFloat32Overflow(x); j >= 0 {
					out[i].Reject, out[i].RejectFeature = reject.NotFinite, cols[j]
					continue
				}
			}
			s.idx = append(s.idx, i)
		}
		if len(s.idx) > 0 {
			s.scoreBlock(out, start, end)
		}
	}
}

// firstFloat32Overflow returns the first column whose value is infinite as
// a float32, or -1.
func firstFloat32Overflow(x []float64) int {
	for j, v := range x {
		if math.IsInf(float64(float32(v)), 0) {
			return j
		}
	}
	return -1
}

func firstNaN(x []float64) int {
	for j, v := range x {
		if v != v {
			return j
		}
	}
	return -1
}

// scoreBlock runs the model over the rows in s.idx (of the block
// [start, end)) and applies the policy. The model gets the rows contiguous:
// in place when the whole block passed the pipeline, else gathered.
func (s *Scorer) scoreBlock(out []Prediction, start, end int) {
	w, k, nb := s.width, s.nOut, len(s.idx)
	if nb == end-start {
		s.pred.Predict(s.x[start*w:end*w], nb, s.probs[start*k:end*k])
	} else {
		if s.xb == nil {
			s.xb, s.pb = make([]float64, blockRows*w), make([]float64, blockRows*k)
		}
		for r, i := range s.idx {
			copy(s.xb[r*w:(r+1)*w], s.x[i*w:(i+1)*w])
		}
		s.pred.Predict(s.xb[:nb*w], nb, s.pb[:nb*k])
		for r, i := range s.idx {
			copy(s.probs[i*k:(i+1)*k], s.pb[r*k:(r+1)*k])
		}
	}
	pol := &s.b.policy
	for _, i := range s.idx {
		p := s.probs[i*k : (i+1)*k : (i+1)*k]
		if !allFinite(p) {
			out[i].Reject, out[i].RejectFeature = reject.NotFinite, "model output"
			continue
		}
		out[i].Score, out[i].Label = pol.decide(p)
		if pol.task != TaskRegression {
			out[i].Probs = p
		}
	}
}

func allFinite(p []float64) bool {
	for _, v := range p {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}
