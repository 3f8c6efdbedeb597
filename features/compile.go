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
	MaxFeatures   = 100_000 // entries in "features"
	MaxColumns    = 1 << 20 // model columns in total
	MaxCategories = 1 << 20 // categories over all onehot/ordinal steps
	MaxEdges      = 1 << 16 // edges of one bucketize step
	MaxSteps      = 64      // steps in one chain
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

// feature compiles one entry into c.f and returns a short description of
// its source.
func (c *compiler) feature(fi int32, f Feature) (string, error) {
	l := c.p.layout
	ft := feat{st: -1}
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
		ft.a = int32(l.slots[ii])
		src = f.Input
		switch in.Type {
		case Category:
			k = kindCat
			ft.src = srcCat
		default:
			k = kindNum
			if in.Type == Timestamp {
				k = kindTime
			}
			ft.src = srcNum
			if in.Type == Number && in.Range != nil {
				ft.flags, ft.lo, ft.hi = flagRange, in.Range[0], in.Range[1]
			}
		}
	case f.Derive != nil:
		d := f.Derive
		switch d.Op {
		case "ratio":
			ft.src = srcRatio
		case "difference":
			ft.src = srcDifference
		case "product":
			ft.src = srcProduct
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
		if ft.src == srcRatio && math.IsInf(d.OnZero, 0) {
			return "", fmt.Errorf("derive: on_zero must be finite or nan")
		}
		ft.a, ft.b, ft.aux = slots[0], slots[1], d.OnZero
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
		nk, err := c.step(&ft, f.Name, k, st)
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
		ft.st = col
		if n := len(ft.steps); n > 0 && ft.steps[n-1].op == opCenterScale {
			last := ft.steps[n-1]
			ft.steps = ft.steps[:n-1]
			ft.scaled, ft.center, ft.scale = true, last.f1, last.f2
		}
	}
	if len(ft.steps) == 0 {
		ft.steps = nil
	}
	c.p.feats = append(c.p.feats, ft)
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

func (c *compiler) step(ft *feat, name string, k kind, st Step) (kind, error) {
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
			if ft.flags&flagImpute == 0 { // a later impute of a category cannot apply
				p.strs = append(p.strs, []byte(s))
				ft.flags |= flagImpute
				ft.b = int32(len(p.strs) - 1)
			}
		default:
			v, ok := st.Value.(float64)
			if !ok || !finite(v) {
				return k, fmt.Errorf("value for a %s must be a finite number, got %v", k, st.Value)
			}
			if ft.src != srcCat && len(ft.steps) == 0 && ft.flags&flagImpute == 0 {
				ft.flags |= flagImpute // folded into the source
				ft.imp = v
			} else {
				ft.steps = append(ft.steps, step{op: opImputeNum, f1: v})
			}
		}
		return k, nil
	case "indicator":
		if k == kindCat {
			ft.catOp = catIndicator
		} else {
			ft.steps = append(ft.steps, step{op: opIndicatorNum})
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
		ft.steps = append(ft.steps, step{op: opCenterScale, f1: center, f2: st.Scale})
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
		ft.steps = append(ft.steps, step{op: opMinMax, mode: mode, a: int32(len(p.minmax) - 1), f1: st.Scale, f2: st.Offset})
		return kindNum, nil
	case "log1p":
		if err := needs(k, kindNum, kindTime); err != nil { // a timestamp is epoch milliseconds
			return k, err
		}
		ft.steps = append(ft.steps, step{op: opLog1p})
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
			ft.steps = append(ft.steps, step{op: opBucket, a: ei})
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
			ft.steps = append(ft.steps, step{op: opBucketOneHot, a: ei, b: first})
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
			ft.catOp, ft.mode = catOrdinal, modeReject
			switch st.Unknown {
			case "", "reject":
			case "value":
				ft.mode, ft.aux = modeValue, st.UnknownValue
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
			ft.table = int32(len(p.tables) - 1)
			return kindNum, nil
		}
		ft.catOp, ft.mode = catOneHot, modeReject
		switch st.Unknown {
		case "", "reject":
		case "zeros":
			ft.mode = modeZeros
		case "column":
			ft.mode = modeColumn
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
		if ft.mode == modeColumn {
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
		ft.table, ft.col = int32(len(p.tables)-1), first
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
		ft.steps = append(ft.steps, step{op: opDatepart, mode: part, a: li})
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
	ft := &p.feats[f]
	switch ft.src {
	case srcNum:
		return row.Num[ft.a] != row.Num[ft.a]
	case srcCat:
		return row.Cat[ft.a] == nil
	}
	return row.Num[ft.a] != row.Num[ft.a] || row.Num[ft.b] != row.Num[ft.b]
}
