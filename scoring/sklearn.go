package scoring

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unsafe"
)

// The scikit-learn tree kinds read a JSON file the exporter writes
// (train/streamscore_export/sklearn_trees.py): the arrays of each fitted
// tree's tree_ (sklearn.tree._tree.Tree) as they are, plus what the
// ensemble adds (averaging, or init + learning_rate × trees and a link).
// docs/bundle.md describes the layout.

// skFile is the model file of both kinds. Decoding is strict: an unknown
// key is an error (the file is ours, not the library's).
type skFile struct {
	Estimator      string    `json:"estimator"`
	SklearnVersion string    `json:"sklearn_version"`
	NFeatures      int       `json:"n_features"`
	NClasses       int       `json:"n_classes"`     // classifiers: len(classes_); regressors: 0
	Loss           string    `json:"loss"`          // gradient boosting
	LearningRate   *float64  `json:"learning_rate"` // gradient boosting
	Init           skFloats  `json:"init"`          // gradient boosting: raw prediction of the init estimator, per tree output
	Trees          []*skTree `json:"trees"`
}

// skTree is one tree_: node i has children_left[i], children_right[i] (-1
// for a leaf), feature[i], threshold[i] (a row goes left when
// float32(x) <= threshold), missing_go_to_left[i] (0/1) and the values
// value[i*w : (i+1)*w] (w = classes, or 1).
type skTree struct {
	ChildrenLeft    []int64  `json:"children_left"`
	ChildrenRight   []int64  `json:"children_right"`
	Feature         []int64  `json:"feature"`
	Threshold       skFloats `json:"threshold"`
	MissingGoToLeft []int8   `json:"missing_go_to_left"`
	Value           skFloats `json:"value"`

	width  int       // values per node
	values []float64 // where leaf payloads point (the kind's own leaf values, width per leaf)
	scale  float64   // applied to each leaf value as it is copied (gradient boosting's learning_rate)
}

// skFloats is a JSON array of numbers in which "inf" and "-inf" stand for
// the infinities (a threshold is +inf where scikit-learn sends only the
// missing values right). It is parsed by hand: the files are large and
// hold little else.
type skFloats []float64

func (f *skFloats) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data) // encoding/json has checked it is valid JSON
	if bytes.Equal(data, []byte("null")) {
		*f = nil
		return nil
	}
	if len(data) < 2 || data[0] != '[' {
		return errors.New("want an array of numbers")
	}
	inner := bytes.TrimSpace(data[1 : len(data)-1])
	if len(inner) == 0 {
		*f = skFloats{}
		return nil
	}
	out := make(skFloats, 0, bytes.Count(inner, []byte(","))+1)
	for len(inner) > 0 {
		tok := inner
		if i := bytes.IndexByte(inner, ','); i >= 0 {
			tok, inner = inner[:i], inner[i+1:]
		} else {
			inner = nil
		}
		tok = bytes.TrimSpace(tok)
		var v float64
		switch {
		case string(tok) == `"inf"`:
			v = math.Inf(1)
		case string(tok) == `"-inf"`:
			v = math.Inf(-1)
		case len(tok) > 0 && (tok[0] == '-' || tok[0] >= '0' && tok[0] <= '9'):
			var err error
			if v, err = strconv.ParseFloat(unsafe.String(unsafe.SliceData(tok), len(tok)), 64); err != nil {
				return fmt.Errorf("element %d: %s is not a float64", len(out), tok)
			}
		default:
			return fmt.Errorf("element %d: %.20s is not a number, \"inf\" or \"-inf\"", len(out), tok)
		}
		out = append(out, v)
	}
	*f = out
	return nil
}

// parseSklearn decodes a model file and checks and compiles it with
// compile (newForest, newGB).
func parseSklearn[M Model](data []byte, compile func(f *skFile) (M, error)) (M, error) {
	f, err := decodeSklearn(data)
	if err != nil {
		var none M
		return none, err
	}
	return compile(f)
}

// decodeSklearn decodes a model file.
func decodeSklearn(data []byte) (*skFile, error) {
	var f skFile
	if err := decodeModelFile(data, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// check validates the parts of a model file both kinds share.
func (f *skFile) check() error {
	if f.NFeatures < 1 || f.NFeatures > MaxModelColumns {
		return fmt.Errorf("n_features %d not in [1, %d]", f.NFeatures, MaxModelColumns)
	}
	if f.NClasses < 0 || f.NClasses == 1 || f.NClasses > MaxClasses {
		return fmt.Errorf("n_classes %d: want 0 (a regressor) or 2..%d", f.NClasses, MaxClasses)
	}
	if len(f.Trees) == 0 {
		return errors.New("no trees")
	}
	if len(f.Trees) > MaxTrees {
		return fmt.Errorf("%d trees, more than the limit of %d", len(f.Trees), MaxTrees)
	}
	total := 0
	for t, tr := range f.Trees {
		if tr == nil {
			return fmt.Errorf("tree %d is null", t)
		}
		n := len(tr.ChildrenLeft)
		if n > MaxNodesPerTree {
			return fmt.Errorf("tree %d: %d nodes, more than the limit of %d", t, n, MaxNodesPerTree)
		}
		if total += n; total > MaxTotalNodes {
			return fmt.Errorf("more than %d nodes in total", MaxTotalNodes)
		}
		if len(tr.ChildrenRight) != n || len(tr.Feature) != n || len(tr.Threshold) != n || len(tr.MissingGoToLeft) != n {
			return fmt.Errorf("tree %d: node arrays differ in length (children_left %d, children_right %d, feature %d, threshold %d, missing_go_to_left %d)",
				t, n, len(tr.ChildrenRight), len(tr.Feature), len(tr.Threshold), len(tr.MissingGoToLeft))
		}
	}
	return nil
}

// skTrees is a compiled scikit-learn ensemble: the packed trees, and the
// values of their leaves (width per leaf) that both kinds add up in float64.
type skTrees struct {
	trees  treeEnsemble
	width  int       // values per leaf: classes (a classifier forest), or 1
	values []float64 // leaf values, width per leaf, in the order addTree met the leaves
}

// compile checks the trees' values (w per node) and packs the trees; tree t
// goes to output group(t). Leaf values are copied, times scale, into
// s.values; a leaf's payload is its index there.
func (f *skFile) compile(s *skTrees, w int, scale float64, group func(t int) int32) error {
	s.trees.nFeature, s.width, s.trees.grouped = f.NFeatures, w, true
	for t, tr := range f.Trees {
		n := len(tr.ChildrenLeft)
		if len(tr.Value) != n*w {
			return fmt.Errorf("tree %d: %d values for %d nodes, want %d per node", t, len(tr.Value), n, w)
		}
		tr.width, tr.values, tr.scale = w, s.values, scale
		if err := s.trees.addTree(tr, group(t)); err != nil {
			return fmt.Errorf("tree %d: %w", t, err)
		}
		s.values, tr.values = tr.values, nil
	}
	f.Trees = nil // compiled; let the arrays go
	return nil
}

// sum adds, for each of the n rows of x (groups of rows, as
// skInput.convert made them), the leaf values of every tree to out (k per
// row; a tree's width values at offset width × its group): one tree at a
// time over all rows, so each row's sums are in tree order, as
// scikit-learn adds them.
func (s *skTrees) sum(x []float32, n int, out []float64, k int, hasNaN bool) {
	e := &s.trees
	gs := groupFloats(e.nFeature)
	xb := unsafe.Pointer(unsafe.SliceData(x))
	if n < lanes {
		for r := 0; r < n; r++ {
			s.sumLane(xb, uintptr(r), out[r*k:(r+1)*k], hasNaN)
		}
		return
	}
	nb := unsafe.Pointer(unsafe.SliceData(e.nodes))
	for t, root := range e.roots {
		g, depth := int(e.group[t])*s.width, int(e.depth[t])
		r0 := 0
		if !hasNaN {
			for ; r0+2*lanes <= n; r0 += 2 * lanes {
				xa := unsafe.Add(xb, uintptr(r0/lanes*gs)*4)
				ia, ib := walkGroups(nb, xa, unsafe.Add(xa, uintptr(gs)*4), uint32(root), depth)
				s.addAll(out[(r0*k)+g:], k, ia[:])
				s.addAll(out[(r0+lanes)*k+g:], k, ib[:])
			}
		}
		for ; r0 < n; r0 += lanes {
			i := walkGroup(nb, unsafe.Add(xb, uintptr(r0/lanes*gs)*4), uint32(root), depth, hasNaN)
			s.addAll(out[r0*k+g:], k, i[:min(lanes, n-r0)])
		}
	}
}

// addAll adds the values of leaves[j] to the row at out[j*k:]. Unchecked
// indexing: addTree made every leaf's payload a valid index into values,
// and callers pass an out with len(leaves) rows of k.
func (s *skTrees) addAll(out []float64, k int, leaves []uint32) {
	_ = out[(len(leaves)-1)*k+s.width-1]
	nb := unsafe.Pointer(unsafe.SliceData(s.trees.nodes))
	vb := unsafe.Pointer(unsafe.SliceData(s.values))
	ob := unsafe.Pointer(unsafe.SliceData(out))
	for j, leaf := range leaves {
		vi := uintptr(valueIndex((*node)(unsafe.Add(nb, uintptr(leaf)*unsafe.Sizeof(node{})))))
		o := (*float64)(unsafe.Add(ob, uintptr(j*k)*8))
		switch s.width {
		case 1:
			*o += *(*float64)(unsafe.Add(vb, vi*8))
		case 2:
			v := (*[2]float64)(unsafe.Add(vb, vi*16))
			o2 := (*[2]float64)(unsafe.Pointer(o))
			o2[0] += v[0]
			o2[1] += v[1]
		default:
			s.add(out[j*k:], &s.trees.nodes[leaf])
		}
	}
}

// sumLane is sum for the row in lane k of the group at xt: 8 trees at once,
// added in tree order.
func (s *skTrees) sumLane(xt unsafe.Pointer, k uintptr, o []float64, hasNaN bool) {
	e := &s.trees
	nt := len(e.roots)
	t0 := 0
	for ; t0+lanes <= nt; t0 += lanes {
		g := e.group[t0 : t0+lanes : t0+lanes]
		for j, leaf := range e.treesOfLane(xt, k, t0, hasNaN) {
			s.add(o[int(g[j])*s.width:], &e.nodes[leaf])
		}
	}
	for ; t0 < nt; t0++ {
		s.add(o[int(e.group[t0])*s.width:], &e.nodes[e.walkLane(xt, k, t0)])
	}
}

// add adds a leaf's values to o[:width].
func (s *skTrees) add(o []float64, nd *node) {
	i := valueIndex(nd)
	if s.width == 1 {
		o[0] += s.values[i]
		return
	}
	v := s.values[i*s.width : (i+1)*s.width]
	o = o[:len(v)]
	for c := range v {
		o[c] += v[c]
	}
}

// skInput is a predictor's float32 copy of a block, in groups of rows.
type skInput struct{ x32 []float32 }

// convert casts the n rows of x (w values each) to float32, as scikit-learn
// does, into groups of 8 rows (trees_group.go); it reports whether x holds
// a NaN.
func (b *skInput) convert(x []float64, n, w int) ([]float32, bool) {
	size := (n + lanes - 1) / lanes * groupFloats(w)
	if cap(b.x32) < size {
		b.x32 = make([]float32, size)
	}
	x32 := b.x32[:size]
	return x32, toFloat32Groups(x32, x[:n*w], n, w)
}

// output is what a scikit-learn model produces: n_classes says the task.
// Every scikit-learn tree model casts its input to float32 and refuses what
// becomes infinite.
func (f *skFile) output() ModelOutput {
	o := ModelOutput{Task: TaskRegression, RefusesFloat32Overflow: true}
	switch {
	case f.NClasses == 2:
		o.Task, o.Classes = TaskBinary, 2
	case f.NClasses > 2:
		o.Task, o.Classes = TaskMulticlass, f.NClasses
	}
	return o
}

// sklearnReader is the parse function of a kind whose file parseSklearn
// reads, compiled with compile.
func sklearnReader[M fileModel](compile func(f *skFile) (M, error)) func(data []byte) (M, error) {
	return func(data []byte) (M, error) { return parseSklearn(data, compile) }
}

// modelColumns implements fileModel for both kinds.
func (s *skTrees) modelColumns() (int, string) {
	return s.trees.nFeature, fmt.Sprintf("n_features %d", s.trees.nFeature)
}

func (tr *skTree) numNodes() int { return len(tr.ChildrenLeft) }

func (tr *skTree) children(i int) (int64, int64) { return tr.ChildrenLeft[i], tr.ChildrenRight[i] }

func (tr *skTree) split(i int) (int64, float32, bool, error) {
	t := tr.Threshold[i]
	if math.IsNaN(t) {
		return 0, 0, false, errors.New("threshold is NaN")
	}
	switch tr.MissingGoToLeft[i] {
	case 0, 1:
	default:
		return 0, 0, false, fmt.Errorf("missing_go_to_left %d is not 0 or 1", tr.MissingGoToLeft[i])
	}
	return tr.Feature[i], sklearnCond(t), tr.MissingGoToLeft[i] == 1, nil
}

func (tr *skTree) leaf(i int) (float32, error) {
	v := tr.Value[i*tr.width : (i+1)*tr.width]
	idx := len(tr.values) / tr.width
	for _, x := range v {
		x = float64(tr.scale * x) // the product sklearn forms at predict time, once
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, fmt.Errorf("value %v is not finite", x)
		}
		tr.values = append(tr.values, x)
	}
	return leafIndex(idx), nil
}

// leafIndex stores the index of a scikit-learn leaf's values in node.leaf,
// as the float32 with those bits (node indices stay below 2^25, so the
// float32 is a denormal or small number, never a NaN, and copies keep it
// exactly); valueIndex reads it back.
func leafIndex(i int) float32 { return math.Float32frombits(uint32(i)) }

func valueIndex(nd *node) int { return int(math.Float32bits(nd.leaf)) }

// sklearnCond turns a scikit-learn threshold into the kernel's split
// condition. scikit-learn casts the input to float32 and sends a row left
// when float32(x) <= threshold, the threshold a float64; the kernel sends it
// right when v >= cond, both float32. For a float32 v, v <= t holds exactly
// when v < c, c the smallest float32 above t: every float32 below c is at
// most t. So cond = c: float32(t) when that rounds up, else the next float32
// above it. A threshold of +inf (or above the float32 range) gives +inf,
// which sends every finite value left, as scikit-learn does; +inf inputs
// never reach the model (both sides refuse them).
func sklearnCond(t float64) float32 {
	c := float32(t)
	if float64(c) <= t {
		c = math.Nextafter32(c, float32(math.Inf(1)))
	}
	return c
}

// forestEstimators are the estimators the sklearn_forest kind reads: an
// average of trees (a single tree is an average of one).
var forestEstimators = map[string]bool{
	"DecisionTreeClassifier": true, "DecisionTreeRegressor": true,
	"ExtraTreeClassifier": true, "ExtraTreeRegressor": true,
	"RandomForestClassifier": true, "RandomForestRegressor": true,
	"ExtraTreesClassifier": true, "ExtraTreesRegressor": true,
}

// skForest is a compiled forest: per row, the trees' leaf values summed in
// float64 in tree order and divided by the number of trees, as
// ForestClassifier.predict_proba and ForestRegressor.predict do (a single
// tree: its leaf value, since 0 + v and v / 1 are v).
type skForest struct {
	f *skFile
	skTrees
}

// newForest checks and compiles a decoded forest file.
func newForest(f *skFile) (*skForest, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if !forestEstimators[f.Estimator] {
		return nil, fmt.Errorf("estimator %q is not a forest (want one of DecisionTree*, ExtraTree*, RandomForest*, ExtraTrees*)", f.Estimator)
	}
	if f.Loss != "" || f.LearningRate != nil || f.Init != nil {
		return nil, errors.New("loss, learning_rate and init belong to gradient boosting, not to a forest")
	}
	m := &skForest{f: f}
	if err := f.compile(&m.skTrees, max(f.NClasses, 1), 1, func(int) int32 { return 0 }); err != nil {
		return nil, err
	}
	return m, nil
}

// Output implements Model.
func (m *skForest) Output() ModelOutput { return m.f.output() }

// Describe implements Model.
func (m *skForest) Describe() []string {
	return []string{
		fmt.Sprintf("scikit-learn %s %s, %d trees", m.f.SklearnVersion, m.f.Estimator, len(m.trees.roots)),
		fmt.Sprintf("%d nodes, max depth %d, %d value(s) per leaf", len(m.trees.nodes), m.trees.maxDepth, m.width),
	}
}

// NewPredictor implements Model.
func (m *skForest) NewPredictor(string) Predictor {
	return &skForestPredictor{m: m, in: skInput{make([]float32, blockRows/lanes*groupFloats(m.trees.nFeature))}}
}

type skForestPredictor struct {
	m  *skForest
	in skInput
}

// Predict implements Predictor: [value], or the class probabilities (for a
// binary forest both, as predict_proba computes them).
func (p *skForestPredictor) Predict(x []float64, n int, out []float64) {
	m := p.m
	x32, hasNaN := p.in.convert(x, n, m.trees.nFeature)
	out = out[:n*m.width]
	clear(out)
	m.sum(x32, n, out, m.width, hasNaN)
	nt := float64(len(m.trees.roots))
	for j := range out {
		out[j] /= nt
	}
}
