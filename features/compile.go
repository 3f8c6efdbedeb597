package features

import (
	"fmt"
	"math"
	"strings"
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
				ops[j] = st.Op()
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
		op, ok := deriveOps[d.Op]
		if !ok {
			return "", fmt.Errorf("derive: unknown op %q (want one of %s)", d.Op, strings.Join(DeriveOps(), ", "))
		}
		ft.src = op
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
	ch := &chain{compiler: c, ft: &ft, name: f.Name}
	for si, st := range f.Steps {
		if st == nil {
			return "", fmt.Errorf("steps[%d]: no step", si)
		}
		if k == kindDone {
			return "", fmt.Errorf("steps[%d] (%s): follows a step that already wrote the columns", si, st.Op())
		}
		nk, err := st.compile(ch, k)
		if err != nil {
			return "", fmt.Errorf("steps[%d] (%s): %w", si, st.Op(), err)
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

// chain is the feature entry being compiled, as its steps see it: the
// compiler (pipeline tables, columns) and the feature's program record.
type chain struct {
	*compiler
	ft   *feat
	name string // the feature's name, the prefix of the columns a terminal step writes
}

// emit appends a numeric step to the feature's program.
func (c *chain) emit(s step) { c.ft.steps = append(c.ft.steps, s) }

// categories checks that a category reaches an encoder and its category
// list (non-empty, no duplicates, within the total limit), and builds the
// lookup table.
func (c *chain) categories(k kind, cats []string) (catTable, map[string]bool, error) {
	if err := needs(k, kindCat); err != nil {
		return catTable{}, nil, err
	}
	if len(cats) == 0 {
		return catTable{}, nil, fmt.Errorf("no categories")
	}
	c.nCats += len(cats)
	if c.nCats > MaxCategories {
		return catTable{}, nil, fmt.Errorf("more than %d categories in total", MaxCategories)
	}
	dup := make(map[string]bool, len(cats))
	for _, s := range cats {
		if dup[s] {
			return catTable{}, nil, fmt.Errorf("category %q listed twice", s)
		}
		dup[s] = true
	}
	return newCatTable(cats), dup, nil
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
