package drift

import (
	"math"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/scoring"
)

// Histograms are a bundle's training distributions compiled for counting:
// for each input with a histogram, which row slot it reads and how a value
// finds its bin. Build them once per bundle with New; they are immutable and
// safe for concurrent use.
type Histograms struct {
	names    []string
	inputs   []inputBins
	expected [][]float64 // per input: the expected fraction of every bin, missing last
	score    []float64   // score edges
	scoreExp []float64
	scoreOff int // first score bin in Counts.Bins
	size     int // len(Counts.Bins)
}

// inputBins is one input's binning: a numeric input searches edges, a
// category input looks its value up in cats (absent: the "other" bin).
type inputBins struct {
	cat   bool
	slot  int // in Row.Num or Row.Cat
	off   int // its first bin in Counts.Bins; value bins, then other (categories), then missing
	edges []float64
	cats  features.Categories
	other int // bin of categories not in cats (relative to off)
	miss  int // bin of a missing value (relative to off)
}

// New compiles the drift statistics of b, or returns nil when the bundle
// carries none.
func New(b *scoring.Bundle) *Histograms {
	d := b.Manifest.Drift
	if d == nil {
		return nil
	}
	l := b.Layout()
	h := &Histograms{}
	for _, in := range d.Inputs {
		i := l.Index(in.Input) // the loader checked it is declared
		ib := inputBins{slot: l.Slot(i), off: h.size, cat: l.Inputs[i].Type == features.Category}
		if ib.cat {
			ib.cats = features.NewCategories(in.Categories)
			ib.other = len(in.Categories)
		} else {
			ib.edges = in.Edges
		}
		ib.miss = len(in.Expected)
		h.size += len(in.Expected) + 1
		h.names = append(h.names, in.Input)
		h.inputs = append(h.inputs, ib)
		h.expected = append(h.expected, append(append([]float64(nil), in.Expected...), in.Missing))
	}
	h.score, h.scoreExp, h.scoreOff = d.Score.Edges, d.Score.Expected, h.size
	h.size += len(d.Score.Expected)
	return h
}

// Features names the inputs with a histogram, in the bundle's drift order:
// the feature label of the PSI metrics.
func (h *Histograms) Features() []string { return h.names }

// Counts are bin counts over some rows and scores: cumulative in a
// predict.Batch, summed over time in a Window. Make them with NewCounts.
type Counts struct {
	Rows   uint64   // rows counted: each adds one to exactly one bin of every input
	Scores uint64   // scores counted
	Bins   []uint64 // every input's bins in Features order, then the score's
	h      *Histograms
}

// NewCounts returns zeroed counts sized for h.
func (h *Histograms) NewCounts() *Counts { return &Counts{Bins: make([]uint64, h.size), h: h} }

// Of reports whether c was made by NewCounts of h: counts of another
// bundle's histograms have other bins.
func (c *Counts) Of(h *Histograms) bool { return c.h == h }

// AddRow counts one decoded row: one bin per input (its value's, or
// missing). It does not allocate.
func (h *Histograms) AddRow(c *Counts, row *features.Row) {
	c.Rows++
	for k := range h.inputs {
		ib := &h.inputs[k]
		bin := ib.miss
		if ib.cat {
			if v := row.Cat[ib.slot]; v != nil {
				bin = ib.other
				if j := ib.cats.Index(v); j >= 0 {
					bin = j
				}
			}
		} else if v := row.Num[ib.slot]; !math.IsNaN(v) {
			bin = features.SearchRight(ib.edges, v)
		}
		c.Bins[ib.off+bin]++
	}
}

// AddScore counts one model score (a NaN score is not counted).
func (h *Histograms) AddScore(c *Counts, score float64) {
	if math.IsNaN(score) {
		return
	}
	c.Scores++
	c.Bins[h.scoreOff+features.SearchRight(h.score, score)]++
}

// Bins returns input k's counts in c (its value bins, for a category the
// other bin, then missing), a view into c.Bins.
func (h *Histograms) Bins(c *Counts, k int) []uint64 {
	ib := &h.inputs[k]
	return c.Bins[ib.off : ib.off+len(h.expected[k])]
}

// ScoreBins returns the score's counts in c, a view into c.Bins.
func (h *Histograms) ScoreBins(c *Counts) []uint64 { return c.Bins[h.scoreOff:] }

// PSI computes the population stability index of every input (into out,
// len(Features())) and of the score from the counts c: NaN where c counted
// no rows (inputs) or no scores.
func (h *Histograms) PSI(c *Counts, out []float64) (score float64) {
	for k := range h.inputs {
		out[k] = PSI(h.expected[k], h.Bins(c, k), c.Rows)
	}
	return PSI(h.scoreExp, h.ScoreBins(c), c.Scores)
}
