package features

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // datepart zones must load on minimal images without /usr/share/zoneinfo
)

// Limits on a feature spec, so a hostile bundle cannot make Compile (or the
// per-record program) arbitrarily large.
const (
	MaxFeatures   = 100_000   // entries in "features"
	MaxColumns    = 1 << 20   // model columns in total
	MaxCategories = 1 << 20   // categories over all onehot/ordinal steps
	MaxEdges      = 1 << 16   // edges of one bucketize step
	MaxSteps      = 64        // steps in one chain
	maxProgram    = 4_000_000 // instructions
)

// value kinds flowing through a chain
type kind uint8

const (
	kindNum kind = iota
	kindCat
	kindTime
	kindDone // a terminal step wrote the columns
)

func (k kind) String() string {
	switch k {
	case kindNum:
		return "number"
	case kindCat:
		return "category"
	case kindTime:
		return "timestamp"
	}
	return "encoded columns"
}

// Compile checks the feature spec against the layout's inputs and compiles it
// into a Pipeline. Errors name the feature and step at fault. Time zones are
// loaded here, once, so the record path never touches the zone database.
func Compile(layout *Layout, specs []Feature) (*Pipeline, error) {
	if layout == nil {
		return nil, fmt.Errorf("no input layout")
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("no features")
	}
	if len(specs) > MaxFeatures {
		return nil, fmt.Errorf("%d features, more than the limit of %d", len(specs), MaxFeatures)
	}
	c := &compiler{p: &Pipeline{layout: layout}, colSeen: map[string]bool{}, locIdx: map[string]int32{}}
	p := c.p
	p.numIn = make([]int32, layout.nNum)
	p.catIn = make([]int32, layout.nCat)
	for i, in := range layout.Inputs {
		p.inputs = append(p.inputs, in.Name)
		slot := int32(layout.slots[i])
		if in.Type == Category {
			p.catIn[slot] = int32(i)
			if in.Required {
				p.reqCat = append(p.reqCat, slot)
			}
		} else {
			p.numIn[slot] = int32(i)
			if in.Required {
				p.reqNum = append(p.reqNum, slot)
			}
		}
	}
	if len(p.reqNum)+len(p.reqCat) > 0 {
		c.emit(instr{op: opRequire, feat: -1})
	}
	seen := map[string]bool{}
	for i, f := range specs {
		if f.Name == "" {
			return nil, fmt.Errorf("features[%d]: empty name", i)
		}
		if seen[f.Name] {
			return nil, fmt.Errorf("features[%d]: feature %q declared twice", i, f.Name)
		}
		seen[f.Name] = true
		p.names = append(p.names, f.Name)
		c.cur = int32(i)
		p.featStart = append(p.featStart, int32(len(p.prog)))
		src, err := c.feature(int32(i), f)
		if err != nil {
			return nil, fmt.Errorf("features[%d] %q: %w", i, f.Name, err)
		}
		if len(f.Steps) > 0 {
			ops := make([]string, len(f.Steps))
			for j, st := range f.Steps {
				ops[j] = st.Op
			}
			src += ": " + strings.Join(ops, ", ")
		}
		p.srcs = append(p.srcs, src)
		if len(p.prog) > maxProgram {
			return nil, fmt.Errorf("feature program larger than %d instructions", maxProgram)
		}
	}
	p.width = len(p.columns)
	return p, nil
}

type compiler struct {
	p       *Pipeline
	colSeen map[string]bool
	locIdx  map[string]int32 // zone name -> index in p.zones
	nCats   int
	cur     int32 // feature being compiled
}

func (c *compiler) column(name string) (int32, error) {
	if c.colSeen[name] {
		return 0, fmt.Errorf("model column %q produced twice", name)
	}
	if len(c.p.columns) >= MaxColumns {
		return 0, fmt.Errorf("more than %d model columns", MaxColumns)
	}
	c.colSeen[name] = true
	c.p.columns = append(c.p.columns, name)
	c.p.colFeat = append(c.p.colFeat, c.cur)
	return int32(len(c.p.columns) - 1), nil
}

func (c *compiler) emit(in instr) {
	in.st = -1
	c.p.prog = append(c.p.prog, in)
}

// last returns the feature's last instruction if it is a load or derive that
// a directly following impute can be folded into.
func (c *compiler) fusableSource(fi int32) *instr {
	if len(c.p.prog) == 0 {
		return nil
	}
	in := &c.p.prog[len(c.p.prog)-1]
	if in.feat != fi || in.flags&flagImpute != 0 {
		return nil
	}
	switch in.op {
	case opLoadNum, opLoadCat, opRatio, opDifference, opProduct:
		return in
	}
	return nil
}

// feature compiles one entry and returns a short description of its source.
func (c *compiler) feature(fi int32, f Feature) (string, error) {
	l := c.p.layout
	var k kind
	var src string
	switch {
	case f.Input != "" && f.Derive != nil:
		return "", fmt.Errorf("has both input and derive")
	case f.Input != "":
		ii := l.Index(f.Input)
		if ii < 0 {
			return "", fmt.Errorf("input %q is not declared in inputs", f.Input)
		}
		in := l.Inputs[ii]
		slot := int32(l.slots[ii])
		src = f.Input
		switch in.Type {
		case Category:
			k = kindCat
			c.emit(instr{op: opLoadCat, feat: fi, a: slot})
		default:
			k = kindNum
			if in.Type == Timestamp {
				k = kindTime
			}
			ld := instr{op: opLoadNum, feat: fi, a: slot}
			if in.Type == Number && in.Range != nil {
				ld.flags, ld.f1, ld.f2 = flagRange, in.Range[0], in.Range[1]
			}
			c.emit(ld)
		}
	case f.Derive != nil:
		d := f.Derive
		var op opcode
		switch d.Op {
		case "ratio":
			op = opRatio
		case "difference":
			op = opDifference
		case "product":
			op = opProduct
		default:
			return "", fmt.Errorf("derive: unknown op %q (want ratio, difference or product)", d.Op)
		}
		var slots [2]int32
		for j, name := range []string{d.A, d.B} {
			ii := l.Index(name)
			if ii < 0 {
				return "", fmt.Errorf("derive: input %q is not declared in inputs", name)
			}
			if t := l.Inputs[ii].Type; t != Number && t != Bool {
				return "", fmt.Errorf("derive: input %q is a %s, want a number", name, t)
			}
			slots[j] = int32(l.slots[ii])
		}
		if op == opRatio && math.IsInf(d.OnZero, 0) {
			return "", fmt.Errorf("derive: on_zero must be finite or nan")
		}
		c.emit(instr{op: op, feat: fi, a: slots[0], b: slots[1], f1: d.OnZero})
		k = kindNum
		src = fmt.Sprintf("%s(%s, %s)", d.Op, d.A, d.B)
	default:
		return "", fmt.Errorf("needs an input or a derive")
	}
	if len(f.Steps) > MaxSteps {
		return "", fmt.Errorf("%d steps, more than the limit of %d", len(f.Steps), MaxSteps)
	}
	for si, st := range f.Steps {
		if k == kindDone {
			return "", fmt.Errorf("steps[%d] (%s): follows a step that already wrote the columns", si, st.Op)
		}
		nk, err := c.step(fi, f.Name, k, st)
		if err != nil {
			return "", fmt.Errorf("steps[%d] (%s): %w", si, st.Op, err)
		}
		k = nk
	}
	switch k {
	case kindDone:
	case kindCat:
		return "", fmt.Errorf("ends with a category: encode it with onehot or ordinal")
	default:
		col, err := c.column(f.Name)
		if err != nil {
			return "", err
		}
		c.p.prog[len(c.p.prog)-1].st = col // every chain ends in a value op: it stores
	}
	return src, nil
}

func needs(k kind, want ...kind) error {
	for _, w := range want {
		if k == w {
			return nil
		}
	}
	return fmt.Errorf("applies to a %s, but the value here is a %s", want[0], k)
}

func finite(vals ...float64) bool {
	for _, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

func (c *compiler) step(fi int32, name string, k kind, st Step) (kind, error) {
	p := c.p
	switch st.Op {
	case "impute":
		switch st.Strategy {
		case "", "mean", "median", "most_frequent", "constant":
		default:
			return k, fmt.Errorf("unknown strategy %q", st.Strategy)
		}
		switch k {
		case kindCat:
			s, ok := st.Value.(string)
			if !ok {
				return k, fmt.Errorf("value for a category must be a string, got %T", st.Value)
			}
			p.strs = append(p.strs, []byte(s))
			if src := c.fusableSource(fi); src != nil && src.op == opLoadCat {
				src.flags |= flagImpute
				src.b = int32(len(p.strs) - 1)
			} else {
				c.emit(instr{op: opImputeCat, feat: fi, a: int32(len(p.strs) - 1)})
			}
		default:
			v, ok := st.Value.(float64)
			if !ok || !finite(v) {
				return k, fmt.Errorf("value for a %s must be a finite number, got %v", k, st.Value)
			}
			if src := c.fusableSource(fi); src != nil && src.op != opLoadCat {
				src.flags |= flagImpute
				src.f3 = v
			} else {
				c.emit(instr{op: opImputeNum, feat: fi, f1: v})
			}
		}
		return k, nil
	case "indicator":
		if k == kindCat {
			c.emit(instr{op: opIndicatorCat, feat: fi})
		} else {
			c.emit(instr{op: opIndicatorNum, feat: fi})
		}
		return kindNum, nil
	case "standard", "robust":
		if err := needs(k, kindNum, kindTime); err != nil { // a timestamp is epoch milliseconds
			return k, err
		}
		center := st.Mean
		if st.Op == "robust" {
			center = st.Center
		}
		if !finite(center, st.Scale) || st.Scale == 0 {
			return k, fmt.Errorf("center/mean and scale must be finite and scale non-zero (sklearn stores a zero scale as 1)")
		}
		c.emit(instr{op: opCenterScale, feat: fi, f1: center, f2: st.Scale})
		return kindNum, nil
	case "minmax":
		if err := needs(k, kindNum, kindTime); err != nil { // a timestamp is epoch milliseconds
			return k, err
		}
		if !finite(st.Scale, st.Offset, st.DataMin, st.DataMax) || st.DataMin > st.DataMax {
			return k, fmt.Errorf("scale, offset, data_min, data_max must be finite with data_min <= data_max")
		}
		mode := modeExtrapolate
		switch st.OutOfRange {
		case "", "extrapolate":
		case "clip":
			mode = modeClip
		case "reject":
			mode = modeRejectRange
		default:
			return k, fmt.Errorf("out_of_range %q (want extrapolate, clip or reject)", st.OutOfRange)
		}
		mm := minmaxParams{dataMin: st.DataMin, dataMax: st.DataMax}
		if st.FeatureRange != nil {
			mm.lo, mm.hi = st.FeatureRange[0], st.FeatureRange[1]
		} else {
			mm.lo, mm.hi = st.DataMin*st.Scale+st.Offset, st.DataMax*st.Scale+st.Offset
		}
		if mm.lo > mm.hi {
			mm.lo, mm.hi = mm.hi, mm.lo
		}
		if !finite(mm.lo, mm.hi) {
			return k, fmt.Errorf("feature_range must be finite")
		}
		p.minmax = append(p.minmax, mm)
		c.emit(instr{op: opMinMax, mode: mode, feat: fi, a: int32(len(p.minmax) - 1), f1: st.Scale, f2: st.Offset})
		return kindNum, nil
	case "log1p":
		if err := needs(k, kindNum, kindTime); err != nil { // a timestamp is epoch milliseconds
			return k, err
		}
		c.emit(instr{op: opLog1p, feat: fi})
		return kindNum, nil
	case "bucketize":
		if err := needs(k, kindNum, kindTime); err != nil { // a timestamp is epoch milliseconds
			return k, err
		}
		if len(st.Edges) > MaxEdges {
			return k, fmt.Errorf("%d edges, more than the limit of %d", len(st.Edges), MaxEdges)
		}
		for i, e := range st.Edges {
			if !finite(e) {
				return k, fmt.Errorf("edges[%d] is not finite", i)
			}
			if i > 0 && e < st.Edges[i-1] {
				return k, fmt.Errorf("edges must be ascending (edges[%d] < edges[%d])", i, i-1)
			}
		}
		p.edges = append(p.edges, st.Edges)
		ei := int32(len(p.edges) - 1)
		switch st.Encode {
		case "", "ordinal":
			c.emit(instr{op: opBucket, feat: fi, a: ei})
			return kindNum, nil
		case "onehot":
			var first int32
			for b := 0; b <= len(st.Edges); b++ {
				col, err := c.column(name + "_" + strconv.Itoa(b))
				if err != nil {
					return k, err
				}
				if b == 0 {
					first = col
				}
			}
			c.emit(instr{op: opBucketOneHot, feat: fi, a: ei, b: first})
			return kindDone, nil
		default:
			return k, fmt.Errorf("encode %q (want ordinal or onehot)", st.Encode)
		}
	case "onehot", "ordinal":
		if err := needs(k, kindCat); err != nil {
			return k, err
		}
		if len(st.Categories) == 0 {
			return k, fmt.Errorf("no categories")
		}
		c.nCats += len(st.Categories)
		if c.nCats > MaxCategories {
			return k, fmt.Errorf("more than %d categories in total", MaxCategories)
		}
		dup := map[string]bool{}
		for _, s := range st.Categories {
			if dup[s] {
				return k, fmt.Errorf("category %q listed twice", s)
			}
			dup[s] = true
		}
		t := newCatTable(st.Categories)
		if st.Op == "ordinal" {
			in := instr{op: opOrdinal, feat: fi, mode: modeReject}
			switch st.Unknown {
			case "", "reject":
			case "value":
				in.mode, in.f1 = modeValue, st.UnknownValue
				if math.IsInf(st.UnknownValue, 0) {
					return k, fmt.Errorf("unknown_value must be finite or nan")
				}
			default:
				return k, fmt.Errorf("unknown %q (want value or reject)", st.Unknown)
			}
			if st.Drop != nil {
				return k, fmt.Errorf("drop applies to onehot only")
			}
			p.tables = append(p.tables, t)
			in.a = int32(len(p.tables) - 1)
			c.emit(in)
			return kindNum, nil
		}
		in := instr{op: opOneHot, feat: fi, mode: modeReject}
		switch st.Unknown {
		case "", "reject":
		case "zeros":
			in.mode = modeZeros
		case "column":
			in.mode = modeColumn
		default:
			return k, fmt.Errorf("unknown %q (want zeros, column or reject)", st.Unknown)
		}
		if st.Drop != nil && !dup[*st.Drop] {
			return k, fmt.Errorf("drop %q is not one of the categories", *st.Drop)
		}
		t.col = make([]int32, len(st.Categories))
		first := int32(-1)
		for i, s := range st.Categories {
			if st.Drop != nil && s == *st.Drop {
				t.col[i] = -1
				continue
			}
			col, err := c.column(name + "_" + s)
			if err != nil {
				return k, err
			}
			if first < 0 {
				first = col
			}
			t.col[i] = col - first
			t.width++
		}
		if in.mode == modeColumn {
			col, err := c.column(name + "__unknown")
			if err != nil {
				return k, err
			}
			if first < 0 {
				first = col
			}
			t.width++
		}
		if first < 0 {
			first = int32(len(p.columns)) // only a dropped category: no columns
		}
		p.tables = append(p.tables, t)
		in.a, in.b = int32(len(p.tables)-1), first
		c.emit(in)
		return kindDone, nil
	case "datepart":
		if err := needs(k, kindTime); err != nil {
			return k, err
		}
		var part uint8
		switch st.Part {
		case "hour":
			part = partHour
		case "weekday":
			part = partWeekday
		case "month":
			part = partMonth
		case "dayofyear":
			part = partDayOfYear
		case "minute":
			part = partMinute
		default:
			return k, fmt.Errorf("part %q (want hour, weekday, month, dayofyear or minute)", st.Part)
		}
		tz := st.TZ
		if tz == "" {
			tz = "UTC"
		}
		li, ok := c.locIdx[tz]
		if !ok {
			loc, err := time.LoadLocation(tz)
			if err != nil || tz == "Local" {
				return k, fmt.Errorf("time zone %q: not an IANA zone name", tz)
			}
			p.zones = append(p.zones, newZone(loc))
			li = int32(len(p.zones) - 1)
			c.locIdx[tz] = li
		}
		c.emit(instr{op: opDatepart, feat: fi, mode: part, a: li})
		return kindNum, nil
	}
	return k, fmt.Errorf("unknown op %q", st.Op)
}

// Describe returns one line per feature: name, source and output columns, for
// summaries such as `streamscore validate`.
func (p *Pipeline) Describe() []string {
	ncol := make([]int, len(p.names))
	for _, f := range p.colFeat {
		ncol[f]++
	}
	out := make([]string, len(p.names))
	for i, n := range p.names {
		out[i] = fmt.Sprintf("%s <- %s", n, p.srcs[i])
		if ncol[i] != 1 {
			out[i] += fmt.Sprintf(" (%d columns)", ncol[i])
		}
	}
	return out
}

// ColumnFeature returns the index of the feature entry that writes model
// column j.
func (p *Pipeline) ColumnFeature(j int) int { return int(p.colFeat[j]) }

// SourceMissing reports whether the source of feature f (its input, or either
// operand of its derive) is missing in row. Scoring uses it to tell a missing
// field from a value the pipeline made non-finite.
func (p *Pipeline) SourceMissing(row *Row, f int) bool {
	in := &p.prog[p.featStart[f]]
	switch in.op {
	case opLoadNum:
		return row.Num[in.a] != row.Num[in.a]
	case opLoadCat:
		return row.Cat[in.a] == nil
	case opRatio, opDifference, opProduct:
		return row.Num[in.a] != row.Num[in.a] || row.Num[in.b] != row.Num[in.b]
	}
	return false
}
