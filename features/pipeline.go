package features

import (
	"math"
)

// DLQ reasons a pipeline (and scoring) can give for a record. They are the
// values of Reject.Reason and end up in the DLQ record's headers.
const (
	ReasonOutOfRange      = "out_of_range"
	ReasonUnknownCategory = "unknown_category"
	ReasonMissingField    = "missing_field"
	ReasonNotFinite       = "not_finite"
)

// Reject says why a record cannot be scored. The zero value means "scored".
// Both strings point at the compiled pipeline's own strings, so returning a
// Reject never allocates.
type Reject struct {
	Reason  string // one of the Reason* constants, "" when the record is fine
	Feature string // the feature or input that caused it
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

// opcode is one instruction of the compiled program. Loads carry their
// range check, finiteness check and a directly following impute; every value
// op carries the store of the feature's last value (instr.st), so a typical
// feature is two instructions.
type opcode uint8

const (
	opRequire      opcode = iota // prologue: required inputs missing -> reject missing_field
	opLoadNum                    // x = Num[a]; ±Inf -> reject not_finite; flagRange: count x outside [f1, f2]; flagImpute: NaN -> f3
	opLoadCat                    // c = Cat[a]; flagImpute: nil -> strs[b]
	opRatio                      // x = Num[a] / Num[b]; b == 0 -> f1; flagImpute: NaN -> f3
	opDifference                 // x = Num[a] - Num[b]
	opProduct                    // x = Num[a] * Num[b]
	opImputeNum                  // NaN -> f1
	opImputeCat                  // nil -> strs[a]
	opIndicatorNum               // x = 1 if NaN else 0
	opIndicatorCat               // x = 1 if c == nil else 0
	opCenterScale                // x = (x - f1) / f2 (standard, robust)
	opMinMax                     // x = x*f1 + f2 with minmax[a]; mode = out_of_range policy
	opLog1p                      // x = log1p(x)
	opBucket                     // x = #edges[a] <= x (sklearn searchsorted right); NaN -> reject
	opBucketOneHot               // out[b + bucket] = 1 over len(edges[a])+1 columns; terminal
	opOneHot                     // tables[a] -> out[b...]; mode = unknown policy; terminal
	opOrdinal                    // tables[a] -> x; mode = unknown policy; f1 = unknown value
	opDatepart                   // x = part(mode) of time x in zones[a]
)

// instr flags
const (
	flagRange  uint8 = 1 << iota // opLoadNum: count values outside [f1, f2]
	flagImpute                   // loads and derives: impute missing with f3 (numbers) or strs[b] (categories)
)

// Unknown-category and out-of-range policies (instr.mode).
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

// instr is 48 bytes; the program is one flat slice of them.
type instr struct {
	op    opcode
	mode  uint8
	flags uint8
	feat  int32 // feature index (counts, reject name)
	a, b  int32
	st    int32 // >= 0: store x to out[st] after the op (the feature's last value)
	f1    float64
	f2    float64
	f3    float64
}

type minmaxParams struct {
	dataMin, dataMax float64
	lo, hi           float64 // clip bounds in the output space
}

// Pipeline is a compiled feature spec: a flat program over the row slots of
// one Layout. It holds no per-record state and is safe for concurrent use;
// each caller passes its own output slice and Counts.
type Pipeline struct {
	layout    *Layout
	prog      []instr
	tables    []catTable
	edges     [][]float64
	minmax    []minmaxParams
	zones     []zone
	strs      [][]byte
	reqNum    []int32  // slots of required number/timestamp/bool inputs
	reqCat    []int32  // slots of required category inputs
	numIn     []int32  // input index of each Num slot (reject names)
	catIn     []int32  // input index of each Cat slot
	names     []string // feature entry names (Counts, rejects)
	inputs    []string // input names
	columns   []string // output column names
	srcs      []string // per feature: its source description (for summaries)
	featStart []int32  // per feature: index of its first instruction (load or derive)
	colFeat   []int32  // per column: the feature that writes it
	width     int
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
		return Reject{Reason: ReasonMissingField, Feature: "row does not match the bundle layout"}
	}
	num, cat := row.Num, row.Cat
	var (
		x        float64
		cv       []byte
		oor, unk bool
	)
	for pc := range p.prog {
		in := &p.prog[pc]
		switch in.op {
		case opRequire:
			for _, s := range p.reqNum {
				if v := num[s]; v != v {
					return Reject{ReasonMissingField, p.inputs[p.numIn[s]]}
				}
			}
			for _, s := range p.reqCat {
				if cat[s] == nil {
					return Reject{ReasonMissingField, p.inputs[p.catIn[s]]}
				}
			}
			continue
		case opLoadNum:
			x = num[in.a]
			oor, unk = false, false
			if x-x != 0 { // NaN or ±Inf
				if x == x {
					return Reject{ReasonNotFinite, p.inputs[p.numIn[in.a]]}
				}
				if in.flags&flagImpute != 0 {
					x = in.f3
				}
			} else if in.flags&flagRange != 0 && (x < in.f1 || x > in.f2) {
				oor = true
			}
		case opLoadCat:
			cv = cat[in.a]
			oor, unk = false, false
			if cv == nil && in.flags&flagImpute != 0 {
				cv = p.strs[in.b]
			}
		case opRatio, opDifference, opProduct:
			oor, unk = false, false
			a, b := num[in.a], num[in.b]
			if a-a != 0 && a == a {
				return Reject{ReasonNotFinite, p.inputs[p.numIn[in.a]]}
			}
			if b-b != 0 && b == b {
				return Reject{ReasonNotFinite, p.inputs[p.numIn[in.b]]}
			}
			switch {
			case a != a || b != b:
				x = math.NaN()
			case in.op == opDifference:
				x = a - b
			case in.op == opProduct:
				x = a * b
			case b == 0:
				x = in.f1
			default:
				x = a / b
			}
			if x != x && in.flags&flagImpute != 0 {
				x = in.f3
			}
		case opImputeNum:
			if x != x {
				x = in.f1
			}
		case opImputeCat:
			if cv == nil {
				cv = p.strs[in.a]
			}
		case opIndicatorNum:
			if x != x {
				x = 1
			} else {
				x = 0
			}
		case opIndicatorCat:
			if cv == nil {
				x = 1
			} else {
				x = 0
			}
		case opCenterScale:
			x = (x - in.f1) / in.f2
		case opMinMax:
			mm := &p.minmax[in.a]
			outside := x < mm.dataMin || x > mm.dataMax
			x = x*in.f1 + in.f2
			if outside {
				oor = true
				if in.mode == modeRejectRange {
					c.count(in.feat, oor, unk)
					return Reject{ReasonOutOfRange, p.names[in.feat]}
				}
			}
			if in.mode == modeClip {
				// sklearn clips every value, not only those outside the data range:
				// rounding can push data_max a hair past the feature range.
				x = min(max(x, mm.lo), mm.hi)
			}
		case opLog1p:
			x = math.Log1p(x)
		case opBucket:
			if x != x {
				return Reject{ReasonMissingField, p.names[in.feat]}
			}
			x = float64(searchRight(p.edges[in.a], x))
		case opBucketOneHot:
			if x != x {
				return Reject{ReasonMissingField, p.names[in.feat]}
			}
			e := p.edges[in.a]
			cols := out[in.b : int(in.b)+len(e)+1]
			clear(cols)
			cols[searchRight(e, x)] = 1
			if oor || unk {
				c.count(in.feat, oor, unk)
			}
			continue
		case opOneHot:
			t := &p.tables[in.a]
			idx := t.lookup(cv)
			cols := out[in.b : int(in.b)+t.width]
			clear(cols)
			if idx < 0 {
				unk = true
				switch in.mode {
				case modeReject:
					c.count(in.feat, oor, unk)
					return Reject{ReasonUnknownCategory, p.names[in.feat]}
				case modeColumn:
					cols[t.width-1] = 1
				}
			} else if col := t.col[idx]; col >= 0 {
				cols[col] = 1
			}
			if oor || unk {
				c.count(in.feat, oor, unk)
			}
			continue
		case opOrdinal:
			idx := p.tables[in.a].lookup(cv)
			if idx < 0 {
				unk = true
				if in.mode == modeReject {
					c.count(in.feat, oor, unk)
					return Reject{ReasonUnknownCategory, p.names[in.feat]}
				}
				x = in.f1
			} else {
				x = float64(idx)
			}
		case opDatepart:
			if x == x {
				x = p.zones[in.a].part(x, in.mode)
			}
		}
		if in.st >= 0 {
			if x-x != 0 && x == x {
				c.count(in.feat, oor, unk)
				return Reject{ReasonNotFinite, p.names[in.feat]}
			}
			out[in.st] = x
			if oor || unk {
				c.count(in.feat, oor, unk)
			}
		}
	}
	return Reject{}
}

func (c *Counts) count(feat int32, oor, unk bool) {
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

// searchRight returns the number of edges <= x, as numpy's
// searchsorted(edges, x, side="right") does; KBinsDiscretizer.transform uses
// exactly that on its inner edges (bin_edges_[j][1:-1]).
func searchRight(edges []float64, x float64) int {
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

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's civil_from_days).
func civil(z int64) (y, m, d int64) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

var daysBefore = [...]int64{0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334}

func dayOfYear(y, m, d int64) int64 {
	n := daysBefore[m-1] + d
	if m > 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		n++
	}
	return n
}

// catTable maps category bytes to an index without allocating: a linear scan
// for small sets (faster than hashing), a map lookup with the
// m[string(b)] form (which the compiler does not allocate for) otherwise.
type catTable struct {
	cats  []string
	index map[string]int32
	col   []int32 // onehot: output column of each category, -1 for the dropped one
	width int     // onehot: number of output columns
}

const linearScanMax = 16

func newCatTable(cats []string) catTable {
	t := catTable{cats: cats}
	if len(cats) > linearScanMax {
		t.index = make(map[string]int32, len(cats))
		for i, c := range cats {
			t.index[c] = int32(i)
		}
	}
	return t
}

func (t *catTable) lookup(b []byte) int {
	if b == nil {
		return -1
	}
	if t.index != nil {
		if i, ok := t.index[string(b)]; ok {
			return int(i)
		}
		return -1
	}
	for i, c := range t.cats {
		if string(b) == c {
			return i
		}
	}
	return -1
}
