package features

import (
	"math"

	"github.com/streamscore/streamscore/internal/civil"
	"github.com/streamscore/streamscore/reject"
)

// Reject says why a record cannot be scored. The zero value means "scored".
// Both strings point at the compiled pipeline's own strings, so returning a
// Reject never allocates.
type Reject struct {
	Reason  reject.Reason // "" when the record is fine
	Feature string        // the feature or input that caused it
}

// OK reports whether the record passed.
func (r Reject) OK() bool { return r.Reason == "" }

// Counts holds per-feature counts of out-of-range values and unknown
// categories. One Counts belongs to one goroutine (a partition worker or a
// Scorer); it is written without locks, and read by its owner, which exports
// the numbers as metrics. Index i is the i-th entry of the bundle's features.
type Counts struct {
	Names      []string // feature names, shared with the pipeline; do not modify
	OutOfRange []uint64
	Unknown    []uint64
}

// Reset sets every count to zero.
func (c *Counts) Reset() {
	clear(c.OutOfRange)
	clear(c.Unknown)
}

// Add adds other's counts (of the same pipeline) into c.
func (c *Counts) Add(other *Counts) {
	for i := range c.OutOfRange {
		if i < len(other.OutOfRange) {
			c.OutOfRange[i] += other.OutOfRange[i]
		}
		if i < len(other.Unknown) {
			c.Unknown[i] += other.Unknown[i]
		}
	}
}

// The compiled program is one record per feature: how to get its source
// value (a number input, a category input, or a derived pair), what a
// category turns into, then a short list of numeric steps and the store. Only
// the feature's own value is live while it runs, which keeps the hot loop in
// registers.

// feature sources
const (
	srcNum        uint8 = iota // Num[a]; ±Inf rejects; flagRange counts outside [lo, hi]; flagImpute: NaN -> imp
	srcCat                     // Cat[a]; flagImpute: nil -> strs[b]; then catOp
	srcRatio                   // Num[a] / Num[b]; b == 0 -> aux; flagImpute: NaN -> imp
	srcDifference              // Num[a] - Num[b]
	srcProduct                 // Num[a] * Num[b]
	srcDate                    // the date of month Num[a], day Num[b] in year aux, as a timestamp (derive_date.go)
)

// what a category source becomes
const (
	catIndicator uint8 = iota // 1 if missing else 0
	catOrdinal                // index in tables[table]; unknown -> aux or reject (mode)
	catOneHot                 // columns from col on; terminal
)

// numeric steps
const (
	opImputeNum    uint8 = iota // NaN -> f1
	opIndicatorNum              // 1 if NaN else 0
	opCenterScale               // (x - f1) / f2: standard, robust
	opMinMax                    // x*f1 + f2 with minmax[a]; mode = out_of_range policy
	opLog1p                     // log1p(x)
	opBucket                    // #edges[a] <= x (sklearn searchsorted right); NaN rejects
	opBucketOneHot              // out[b + bucket] = 1 over len(edges[a])+1 columns; terminal
	opDatepart                  // part (mode) of time x in zones[a]
)

// feature flags
const (
	flagRange  uint8 = 1 << iota // srcNum: count values outside [lo, hi]
	flagImpute                   // sources: impute a missing value (imp, or strs[b] for categories)
)

// Unknown-category and out-of-range policies (mode).
const (
	modeZeros uint8 = iota
	modeColumn
	modeReject
	modeValue
)

const (
	modeExtrapolate uint8 = iota
	modeClip
	modeRejectRange
)

const (
	partHour uint8 = iota
	partWeekday
	partMonth
	partDayOfYear
	partMinute
)

type feat struct {
	src, flags, catOp, mode uint8
	a, b                    int32 // source slots; srcCat with flagImpute: b = strs index
	table                   int32 // catOrdinal, catOneHot
	col                     int32 // catOneHot: first column
	st                      int32 // column of the final value; -1 when a terminal step wrote the columns
	lo, hi                  float64
	imp                     float64
	aux                     float64 // srcRatio: on_zero; catOrdinal: unknown value
	steps                   []step
	// A chain's last standard/robust step, folded in: x = (x - center) / scale
	// after the steps. Most features end with one, and most have no other step.
	scaled        bool
	center, scale float64
}

type step struct {
	op, mode uint8
	a, b     int32
	f1, f2   float64
}

type minmaxParams struct {
	dataMin, dataMax float64
	lo, hi           float64 // clip bounds in the output space
}

// Pipeline is a compiled feature spec: a flat program over the row slots of
// one Layout. It holds no per-record state and is safe for concurrent use;
// each caller passes its own output slice and Counts.
type Pipeline struct {
	layout  *Layout
	feats   []feat
	tables  []catTable
	edges   [][]float64
	minmax  []minmaxParams
	zones   []zone
	strs    [][]byte
	reqNum  []int32  // slots of required number/timestamp/bool inputs
	reqCat  []int32  // slots of required category inputs
	numIn   []int32  // input index of each Num slot (reject names)
	catIn   []int32  // input index of each Cat slot
	names   []string // feature entry names (Counts, rejects)
	inputs  []string // input names
	columns []string // output column names
	srcs    []string // per feature: its source description (for summaries)
	colFeat []int32  // per column: the feature that writes it
	width   int
}

// Width is the number of model columns the pipeline writes.
func (p *Pipeline) Width() int { return p.width }

// Columns returns the model column names in order (onehot columns are
// "<feature>_<category>").
func (p *Pipeline) Columns() []string { return p.columns }

// Features returns the feature entry names; Counts are indexed the same way.
func (p *Pipeline) Features() []string { return p.names }

// Layout returns the row layout the pipeline reads.
func (p *Pipeline) Layout() *Layout { return p.layout }

// NewCounts returns zeroed counters for this pipeline.
func (p *Pipeline) NewCounts() *Counts {
	return &Counts{Names: p.names, OutOfRange: make([]uint64, len(p.names)), Unknown: make([]uint64, len(p.names))}
}

// Transform runs the pipeline on one row and writes Width() values to out.
// A missing value reaches the model as NaN. It never allocates and never
// panics on record content; a record that must go to the DLQ is reported in
// the returned Reject (out is then partially written). c may be nil.
func (p *Pipeline) Transform(row *Row, out []float64, c *Counts) Reject {
	if len(out) < p.width || len(row.Num) < p.layout.nNum || len(row.Cat) < p.layout.nCat {
		return Reject{Reason: reject.MissingField, Feature: "row does not match the bundle layout"}
	}
	num, cat := row.Num, row.Cat
	for _, s := range p.reqNum {
		if v := num[s]; v != v {
			return Reject{reject.MissingField, p.inputs[p.numIn[s]]}
		}
	}
	for _, s := range p.reqCat {
		if cat[s] == nil {
			return Reject{reject.MissingField, p.inputs[p.catIn[s]]}
		}
	}
	for fi := range p.feats {
		f := &p.feats[fi]
		var x float64
		var oor, unk bool
		switch f.src {
		case srcNum:
			x = num[f.a]
			if x-x != 0 { // NaN or ±Inf
				if x == x {
					return Reject{reject.NotFinite, p.inputs[p.numIn[f.a]]}
				}
				if f.flags&flagImpute != 0 {
					x = f.imp
				}
			} else if f.flags&flagRange != 0 && (x < f.lo || x > f.hi) {
				oor = true
			}
		case srcCat:
			cv := cat[f.a]
			if cv == nil && f.flags&flagImpute != 0 {
				cv = p.strs[f.b]
			}
			switch f.catOp {
			case catIndicator:
				x = 0
				if cv == nil {
					x = 1
				}
			case catOrdinal:
				idx := p.tables[f.table].Index(cv)
				if idx < 0 {
					unk = true
					if f.mode == modeReject {
						c.count(fi, false, true)
						return Reject{reject.UnknownCategory, p.names[fi]}
					}
					x = f.aux
				} else {
					x = float64(idx)
				}
			default: // catOneHot
				t := &p.tables[f.table]
				idx := t.Index(cv)
				cols := out[f.col : int(f.col)+t.width]
				zero(cols)
				if idx < 0 {
					if f.mode == modeReject {
						c.count(fi, false, true)
						return Reject{reject.UnknownCategory, p.names[fi]}
					}
					if f.mode == modeColumn {
						cols[t.width-1] = 1
					}
					c.count(fi, false, true)
				} else if col := t.col[idx]; col >= 0 {
					cols[col] = 1
				}
				continue
			}
		default: // derived
			a, b := num[f.a], num[f.b]
			if a-a != 0 && a == a {
				return Reject{reject.NotFinite, p.inputs[p.numIn[f.a]]}
			}
			if b-b != 0 && b == b {
				return Reject{reject.NotFinite, p.inputs[p.numIn[f.b]]}
			}
			switch {
			case a != a || b != b:
				x = math.NaN()
			case f.src == srcDifference:
				x = a - b
			case f.src == srcDate:
				x = dateMillis(int64(f.aux), a, b)
			case f.src == srcProduct:
				x = a * b
			case b == 0:
				x = f.aux
			default:
				x = a / b
			}
			if x != x && f.flags&flagImpute != 0 {
				x = f.imp
			}
		}
		for si := 0; si < len(f.steps); si++ {
			s := &f.steps[si]
			switch s.op {
			case opImputeNum:
				if x != x {
					x = s.f1
				}
			case opIndicatorNum:
				if x != x {
					x = 1
				} else {
					x = 0
				}
			case opCenterScale:
				x = (x - s.f1) / s.f2
			case opMinMax:
				mm := &p.minmax[s.a]
				if x < mm.dataMin || x > mm.dataMax {
					oor = true
					if s.mode == modeRejectRange {
						c.count(fi, true, unk)
						return Reject{reject.OutOfRange, p.names[fi]}
					}
				}
				x = x*s.f1 + s.f2
				if s.mode == modeClip {
					// sklearn clips every value, not only those outside the data range:
					// rounding can push data_max a hair past the feature range.
					x = min(max(x, mm.lo), mm.hi)
				}
			case opLog1p:
				x = math.Log1p(x)
			case opBucket:
				if x != x {
					return Reject{reject.MissingField, p.names[fi]}
				}
				x = float64(SearchRight(p.edges[s.a], x))
			case opBucketOneHot:
				if x != x {
					return Reject{reject.MissingField, p.names[fi]}
				}
				e := p.edges[s.a]
				cols := out[s.b : int(s.b)+len(e)+1]
				zero(cols)
				cols[SearchRight(e, x)] = 1
			case opDatepart:
				if x == x {
					x = p.zones[s.a].part(x, s.mode)
				}
			}
		}
		if f.scaled {
			x = (x - f.center) / f.scale
		}
		if f.st >= 0 {
			if x-x != 0 && x == x {
				c.count(fi, oor, unk)
				return Reject{reject.NotFinite, p.names[fi]}
			}
			out[f.st] = x
		}
		if oor || unk {
			c.count(fi, oor, unk)
		}
	}
	return Reject{}
}

// zero clears a few one-hot columns in line; clear() would call memclr,
// whose call costs more than the stores for the usual handful of columns.
func zero(cols []float64) {
	for i := 0; i < len(cols); i++ {
		cols[i] = 0
	}
}

func (c *Counts) count(feat int, oor, unk bool) {
	if c == nil {
		return
	}
	if oor {
		c.OutOfRange[feat]++
	}
	if unk {
		c.Unknown[feat]++
	}
}

// SearchRight returns the number of edges <= x, as numpy's
// searchsorted(edges, x, side="right") does; KBinsDiscretizer.transform uses
// exactly that on its inner edges (bin_edges_[j][1:-1]), and the drift
// histograms (package drift) bin the same way.
func SearchRight(edges []float64, x float64) int {
	lo, hi := 0, len(edges)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if edges[m] <= x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func floorMod(a, b int64) int64 { return a - civil.FloorDiv(a, b)*b }

var daysBefore = [...]int64{0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334}

func dayOfYear(y, m, d int64) int64 {
	n := daysBefore[m-1] + d
	if m > 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		n++
	}
	return n
}

// catTable is a categorical step's categories and, for one-hot, where
// each goes.
type catTable struct {
	Categories
	col   []int32 // onehot: output column of each category, -1 for the dropped one
	width int     // onehot: number of output columns
}

func newCatTable(cats []string) catTable { return catTable{Categories: NewCategories(cats)} }

// Categories finds a category's position in a fixed list without
// allocating: a small open-addressing table keyed by a cheap hash of length
// and three bytes (one string comparison per lookup in the usual case), or,
// for large sets, a Go map with the m[string(b)] form, which the compiler
// does not allocate for. The feature steps and the drift counts share it.
type Categories struct {
	cats  []string
	slots []int32 // index+1 into cats, 0 = empty; len is a power of two
	index map[string]int32
}

const smallTableMax = 256

// NewCategories indexes cats (distinct values).
func NewCategories(cats []string) Categories {
	t := Categories{cats: cats}
	if len(cats) > smallTableMax {
		t.index = make(map[string]int32, len(cats))
		for i, c := range cats {
			t.index[c] = int32(i)
		}
		return t
	}
	size := 4
	for size < 2*len(cats) {
		size *= 2
	}
	t.slots = make([]int32, size)
	mask := uint32(size - 1)
	for i, c := range cats {
		j := catHash([]byte(c)) & mask
		for t.slots[j] != 0 {
			j = (j + 1) & mask
		}
		t.slots[j] = int32(i + 1)
	}
	return t
}

func catHash(b []byte) uint32 {
	n := len(b)
	h := uint32(n) * 0x9E3779B1
	if n > 0 {
		h ^= uint32(b[0]) * 0x85EBCA6B
		h ^= uint32(b[n-1]) * 0xC2B2AE35
		h ^= uint32(b[n/2]) * 0x27D4EB2F
	}
	return h ^ h>>15
}

// Index is the position of b in the list, or -1 when it is not there (or
// b is nil: a missing value).
func (t *Categories) Index(b []byte) int {
	if b == nil {
		return -1
	}
	if t.index != nil {
		if i, ok := t.index[string(b)]; ok {
			return int(i)
		}
		return -1
	}
	mask := uint32(len(t.slots) - 1)
	for j := catHash(b) & mask; ; j = (j + 1) & mask {
		s := t.slots[j]
		if s == 0 {
			return -1
		}
		if string(b) == t.cats[s-1] {
			return int(s - 1)
		}
	}
}
