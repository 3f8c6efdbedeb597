package scoring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// xgbJSON is the part of Booster.save_model JSON that prediction needs.
// Unknown keys are ignored on purpose: XGBoost adds keys between versions and
// the file is not ours to police, only to read exactly.
type xgbJSON struct {
	Version []int `json:"version"`
	Learner *struct {
		Attributes      map[string]string `json:"attributes"`
		FeatureNames    []string          `json:"feature_names"`
		GradientBooster *struct {
			Name  string     `json:"name"`
			Model *xgbGBTree `json:"model"`
		} `json:"gradient_booster"`
		LearnerModelParam *struct {
			BaseScore  string `json:"base_score"`
			NumClass   string `json:"num_class"`
			NumFeature string `json:"num_feature"`
			NumTarget  string `json:"num_target"`
		} `json:"learner_model_param"`
		Objective *struct {
			Name string `json:"name"`
		} `json:"objective"`
	} `json:"learner"`
}

type xgbGBTree struct {
	Param struct {
		NumTrees        string `json:"num_trees"`
		NumParallelTree string `json:"num_parallel_tree"`
	} `json:"gbtree_model_param"`
	IterationIndptr []int64   `json:"iteration_indptr"`
	TreeInfo        []int64   `json:"tree_info"`
	Trees           []xgbTree `json:"trees"`
}

type xgbTree struct {
	Param struct {
		NumNodes       string `json:"num_nodes"`
		SizeLeafVector string `json:"size_leaf_vector"`
	} `json:"tree_param"`
	LeftChildren    []int64    `json:"left_children"`
	RightChildren   []int64    `json:"right_children"`
	SplitIndices    []int64    `json:"split_indices"`
	SplitConditions []float32  `json:"split_conditions"` // float32 parse, as XGBoost reads them
	DefaultLeft     []flexBool `json:"default_left"`
	SplitType       []int64    `json:"split_type"`
}

// flexBool reads default_left entries, which are 0/1 integers in current
// XGBoost and true/false in some older writers.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	switch string(bytes.TrimSpace(data)) {
	case "1", "true":
		*b = true
	case "0", "false":
		*b = false
	default:
		return fmt.Errorf("default_left entry %s is not 0, 1, true or false", data)
	}
	return nil
}

// objective is the XGBoost objective's prediction transform.
type objective uint8

const (
	objSquaredError objective = iota
	objLogistic               // reg:logistic, binary:logistic
	objLogitRaw               // binary:logitraw
	objPoisson                // count:poisson
	objSoftprob               // multi:softprob
	objSoftmax                // multi:softmax
)

var objectives = map[string]objective{
	"reg:squarederror": objSquaredError,
	"reg:logistic":     objLogistic,
	"binary:logistic":  objLogistic,
	"binary:logitraw":  objLogitRaw,
	"count:poisson":    objPoisson,
	"multi:softprob":   objSoftprob,
	"multi:softmax":    objSoftmax,
}

// xgbModel is a compiled gbtree ensemble.
type xgbModel struct {
	obj        objective
	objName    string
	nGroup     int          // outputs before the transform: num_class, or 1
	base       []float32    // per group, already in margin space
	baseRaw    []float32    // as written in the file (for summaries)
	trees      treeEnsemble // group = tree_info; a leaf's payload is its float32 value
	version    string
	bestIter   int // -1 when all trees are used
	totalTrees int // trees in the file
	featNames  []string
	qs         *quickScorer // the trees for the QuickScorer kernel, nil when it cannot run them
}

// modelColumns implements fileModel.
func (m *xgbModel) modelColumns() (int, string) {
	return m.trees.nFeature, fmt.Sprintf("num_feature %d", m.trees.nFeature)
}

// Output implements Model. The logistic objectives may also be served as a
// number: reg:logistic as its probability, binary:logitraw as its margin.
func (m *xgbModel) Output() ModelOutput {
	switch m.obj {
	case objLogistic, objLogitRaw:
		return ModelOutput{Task: TaskBinary, Classes: 2, AlsoRegression: true}
	case objSoftprob, objSoftmax:
		return ModelOutput{Task: TaskMulticlass, Classes: m.nGroup}
	}
	return ModelOutput{Task: TaskRegression}
}

// FeatureNames implements FeatureNamer: the file's feature_names, if any.
func (m *xgbModel) FeatureNames() []string { return m.featNames }

// Describe implements Model.
func (m *xgbModel) Describe() []string {
	s := fmt.Sprintf("xgboost %s, %s, %d trees", m.version, m.objName, len(m.trees.roots))
	if m.bestIter >= 0 {
		s += fmt.Sprintf(" (of %d, up to best_iteration %d)", m.totalTrees, m.bestIter)
	}
	return []string{s, fmt.Sprintf("%d nodes, max depth %d, %d output group(s), base_score %v (margin %v)",
		len(m.trees.nodes), m.trees.maxDepth, m.nGroup, m.baseRaw, m.base)}
}

// NewPredictor implements Model.
func (m *xgbModel) NewPredictor(task string) Predictor {
	p := &xgbPredictor{m: m, binary: task == TaskBinary, nOut: m.nGroup}
	if p.binary {
		p.nOut = 2
	}
	p.x32 = make([]float32, blockRows*m.trees.nFeature)
	p.margin = make([]float32, blockRows*m.nGroup)
	if m.qs != nil {
		p.xt = make([]float32, qsRows*m.trees.nFeature)
		p.mt = make([]float32, qsRows*m.nGroup)
	}
	return p
}

// xgbPredictor holds one Scorer's float32 copy of a block and its margins.
type xgbPredictor struct {
	m      *xgbModel
	binary bool // binary task: outputs [1-p, p], and binary:logitraw margins go through the sigmoid
	nOut   int
	x32    []float32
	margin []float32
	xt, mt []float32 // the QuickScorer kernel's rows and margins
}

// Predict implements Predictor: the block is converted to float32 (XGBoost
// compares in float32) and scored by the QuickScorer kernel, or walked by
// the lock-step kernel when the model or the CPU does not suit the former,
// or the block is too small for it to pay.
func (p *xgbPredictor) Predict(x []float64, n int, out []float64) {
	m := p.m
	x32, margin := p.grow(n*m.trees.nFeature, n*m.nGroup)
	if m.qs != nil && n >= lanes {
		m.setBase(margin, n)
		m.qs.predict(x, n, m.nGroup, margin, p.xt, p.mt)
	} else {
		hasNaN := toFloat32(x32, x[:len(x32)])
		m.predict(x32, n, margin, hasNaN)
	}
	m.transform(margin, p.binary)
	if p.nOut == 2 && m.nGroup == 1 {
		binaryProbs(out, margin)
	} else {
		widen(out, margin)
	}
}

// grow returns the predictor's buffers sized for a block.
func (p *xgbPredictor) grow(nx, nm int) ([]float32, []float32) {
	if cap(p.x32) < nx {
		p.x32 = make([]float32, nx)
	}
	if cap(p.margin) < nm {
		p.margin = make([]float32, nm)
	}
	return p.x32[:nx], p.margin[:nm]
}

// binaryProbs writes [1-p, p] per row, computed in float32 like predict_proba.
func binaryProbs(out []float64, p []float32) {
	out = out[:2*len(p)]
	for r, v := range p {
		out[2*r], out[2*r+1] = float64(1-v), float64(v)
	}
}

// widen copies float32 outputs into float64 ones.
func widen(out []float64, v []float32) {
	out = out[:len(v)]
	for j, x := range v {
		out[j] = float64(x)
	}
}

// parseXGBoost reads and validates a save_model JSON document.
func parseXGBoost(data []byte) (*xgbModel, error) {
	if err := checkModelSize(data); err != nil {
		return nil, err
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errors.New("not an XGBoost JSON model (save the model with a .json name; UBJSON is not supported)")
	}
	var f xgbJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, jsonError(err, data)
	}
	l := f.Learner
	if l == nil {
		return nil, errors.New("missing \"learner\"")
	}
	if l.GradientBooster == nil || l.Objective == nil || l.LearnerModelParam == nil {
		return nil, errors.New("learner: missing gradient_booster, objective or learner_model_param")
	}
	if name := l.GradientBooster.Name; name != "gbtree" {
		return nil, fmt.Errorf("booster %q is not supported (only gbtree)", name)
	}
	gb := l.GradientBooster.Model
	if gb == nil {
		return nil, errors.New("gradient_booster: missing \"model\"")
	}
	m := &xgbModel{objName: l.Objective.Name, bestIter: -1, featNames: l.FeatureNames}
	if len(f.Version) == 3 {
		m.version = fmt.Sprintf("%d.%d.%d", f.Version[0], f.Version[1], f.Version[2])
	}
	obj, ok := objectives[m.objName]
	if !ok {
		return nil, fmt.Errorf("objective %q is not supported (want one of reg:squarederror, reg:logistic, binary:logistic, binary:logitraw, multi:softprob, multi:softmax, count:poisson)", m.objName)
	}
	m.obj = obj

	p := l.LearnerModelParam
	nFeature, err := atoiParam("num_feature", p.NumFeature, 0, MaxModelColumns)
	if err != nil {
		return nil, err
	}
	nClass, err := atoiParam("num_class", p.NumClass, 0, MaxClasses)
	if err != nil {
		return nil, err
	}
	if p.NumTarget != "" {
		nTarget, err := atoiParam("num_target", p.NumTarget, 0, MaxClasses)
		if err != nil {
			return nil, err
		}
		if nTarget > 1 {
			return nil, fmt.Errorf("multi-target models (num_target %d) are not supported", nTarget)
		}
	}
	m.trees.nFeature = nFeature
	m.nGroup = max(nClass, 1)
	multi := obj == objSoftprob || obj == objSoftmax
	if multi && nClass < 2 {
		return nil, fmt.Errorf("objective %s needs num_class >= 2, got %d", m.objName, nClass)
	}
	if !multi && nClass > 1 {
		return nil, fmt.Errorf("objective %s with num_class %d is not supported", m.objName, nClass)
	}
	if m.baseRaw, err = parseBaseScore(p.BaseScore, m.nGroup); err != nil {
		return nil, err
	}
	if m.base, err = probToMargin(obj, m.baseRaw); err != nil {
		return nil, err
	}

	// Trees to use: all, or up to best_iteration as the scikit-learn wrapper does.
	nTrees := len(gb.Trees)
	m.totalTrees = nTrees
	if nTrees > MaxTrees {
		return nil, fmt.Errorf("%d trees, more than the limit of %d", nTrees, MaxTrees)
	}
	if nTrees == 0 {
		return nil, errors.New("model has no trees")
	}
	if len(gb.TreeInfo) != nTrees {
		return nil, fmt.Errorf("tree_info has %d entries for %d trees", len(gb.TreeInfo), nTrees)
	}
	if s, ok := l.Attributes["best_iteration"]; ok {
		best, err := strconv.Atoi(s)
		if err != nil || best < 0 {
			return nil, fmt.Errorf("attribute best_iteration %q is not a non-negative integer", s)
		}
		use, err := treesUpTo(gb, best, m.nGroup)
		if err != nil {
			return nil, err
		}
		m.bestIter = best
		nTrees = use
	}

	for t := 0; t < nTrees; t++ {
		tr := &gb.Trees[t]
		g := gb.TreeInfo[t]
		if g < 0 || g >= int64(m.nGroup) {
			return nil, fmt.Errorf("tree %d: tree_info group %d out of range [0, %d)", t, g, m.nGroup)
		}
		if err := tr.check(); err != nil {
			return nil, fmt.Errorf("tree %d: %w", t, err)
		}
		if err := m.trees.addTree(tr, int32(g)); err != nil {
			return nil, fmt.Errorf("tree %d: %w", t, err)
		}
	}
	m.qs = newQuickScorer(&m.trees)
	return m, nil
}

// treesUpTo returns how many trees make up iterations 0..best.
func treesUpTo(gb *xgbGBTree, best, nGroup int) (int, error) {
	if len(gb.IterationIndptr) > 0 {
		if best+1 >= len(gb.IterationIndptr) {
			return 0, fmt.Errorf("best_iteration %d beyond the %d iterations in iteration_indptr", best, len(gb.IterationIndptr)-1)
		}
		n := gb.IterationIndptr[best+1]
		if n <= 0 || n > int64(len(gb.Trees)) {
			return 0, fmt.Errorf("iteration_indptr[%d] = %d out of range", best+1, n)
		}
		return int(n), nil
	}
	par := 1
	if s := gb.Param.NumParallelTree; s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > MaxTrees {
			return 0, fmt.Errorf("num_parallel_tree %q is not a positive integer", s)
		}
		par = v
	}
	n := (best + 1) * par * nGroup
	if n > len(gb.Trees) || n <= 0 {
		return 0, fmt.Errorf("best_iteration %d needs %d trees, the model has %d", best, n, len(gb.Trees))
	}
	return n, nil
}

func atoiParam(name, s string, lo, hi int) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("learner_model_param: missing %s", name)
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("learner_model_param: %s %q is not an integer in [%d, %d]", name, s, lo, hi)
	}
	return v, nil
}

// parseBaseScore reads learner_model_param.base_score: a float string ("5E-1",
// XGBoost < 3.1) or a bracketed list ("[4.9E-1]", "[a,b,c]" per class since
// 3.1). A single value is broadcast to every output, as XGBoost does for old
// models. Values are parsed as float32, the type XGBoost keeps them in.
func parseBaseScore(s string, n int) ([]float32, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("learner_model_param: missing base_score")
	}
	inner := s
	if strings.HasPrefix(s, "[") {
		if !strings.HasSuffix(s, "]") {
			return nil, fmt.Errorf("base_score %q: unterminated list", s)
		}
		inner = s[1 : len(s)-1]
	}
	parts := strings.Split(inner, ",")
	if len(parts) != 1 && len(parts) != n {
		return nil, fmt.Errorf("base_score %q has %d values, want 1 or %d", s, len(parts), n)
	}
	vals := make([]float32, 0, n)
	for _, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("base_score %q: %q is not a finite number", s, p)
		}
		vals = append(vals, float32(v))
	}
	for len(vals) < n {
		vals = append(vals, vals[0])
	}
	return vals, nil
}

// probToMargin applies the objective's link to the intercept, as
// ObjFunction::ProbToMargin does when XGBoost (>= 2) loads a model, in
// float32. binary:logitraw and the softmax objectives keep the intercept as
// it is (it is a margin already); XGBoost 1.x applied the logit to logitraw.
func probToMargin(obj objective, base []float32) ([]float32, error) {
	out := make([]float32, len(base))
	for i, v := range base {
		switch obj {
		case objLogistic:
			// XGBoost accepts [0, 1] (all-one-label training data) and clamps to
			// [1e-6, 1-1e-6] before the logit; inside that range this is its
			// float32 -log(1/p - 1).
			if !(v >= 0 && v <= 1) {
				return nil, fmt.Errorf("base_score %g must be in [0, 1] for a logistic objective", v)
			}
			v = min(max(v, 1e-6), 1-1e-6)
			out[i] = -logf(1/v-1) + 0 // + 0: print 0, not -0, for p = 0.5
		case objPoisson:
			if !(v > 0) {
				return nil, fmt.Errorf("base_score %g must be positive for count:poisson", v)
			}
			out[i] = logf(v)
		default:
			out[i] = v
		}
	}
	return out, nil
}

// check validates what addTree does not: the node arrays' lengths, the tree
// parameters XGBoost writes and the split types.
func (tr *xgbTree) check() error {
	n := len(tr.LeftChildren)
	if n > MaxNodesPerTree {
		return fmt.Errorf("%d nodes, more than the limit of %d", n, MaxNodesPerTree)
	}
	if len(tr.RightChildren) != n || len(tr.SplitIndices) != n || len(tr.SplitConditions) != n || len(tr.DefaultLeft) != n {
		return fmt.Errorf("node arrays differ in length (left_children %d, right_children %d, split_indices %d, split_conditions %d, default_left %d)",
			n, len(tr.RightChildren), len(tr.SplitIndices), len(tr.SplitConditions), len(tr.DefaultLeft))
	}
	if s := tr.Param.NumNodes; s != "" && s != strconv.Itoa(n) {
		return fmt.Errorf("tree_param.num_nodes %q but %d nodes", s, n)
	}
	switch tr.Param.SizeLeafVector {
	case "", "0", "1":
	default:
		return fmt.Errorf("vector leaves (size_leaf_vector %s) are not supported", tr.Param.SizeLeafVector)
	}
	if len(tr.SplitType) != 0 && len(tr.SplitType) != n {
		return fmt.Errorf("split_type has %d entries for %d nodes", len(tr.SplitType), n)
	}
	for i, st := range tr.SplitType {
		if st != 0 && tr.LeftChildren[i] != -1 {
			return fmt.Errorf("node %d: categorical splits are not supported; one-hot encode in the feature spec", i)
		}
	}
	return nil
}

// xgbTree is a treeSource: split_conditions hold the split condition of an
// internal node (right when v >= cond, as XGBoost compares in float32) and
// the value of a leaf; both must be finite.
func (tr *xgbTree) numNodes() int { return len(tr.LeftChildren) }

func (tr *xgbTree) children(i int) (int64, int64) { return tr.LeftChildren[i], tr.RightChildren[i] }

func (tr *xgbTree) split(i int) (int64, float32, bool, error) {
	v := tr.SplitConditions[i]
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return 0, 0, false, fmt.Errorf("value %v is not finite", v)
	}
	return tr.SplitIndices[i], v, bool(tr.DefaultLeft[i]), nil
}

func (tr *xgbTree) leaf(i int) (float32, error) {
	v := tr.SplitConditions[i]
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return 0, fmt.Errorf("value %v is not finite", v)
	}
	return v, nil
}

// predict adds the trees' leaf values of rows x (float32, row-major,
// nFeature columns, n rows) to margin (n × nGroup) after setting it to the
// base score. Block-wise: one tree at a time over all rows, lanes rows in
// lock-step; with fewer rows than lanes, lanes trees of one row in lock-step.
// Each row's margin is summed in float32 in tree order, as XGBoost's CPU
// predictor does, so results match it bit for bit. hasNaN says whether any
// of the rows has a missing value (the kernel skips the check otherwise).
func (m *xgbModel) predict(x []float32, n int, margin []float32, hasNaN bool) {
	e := &m.trees
	w, G := e.nFeature, m.nGroup
	m.setBase(margin, n)
	if n < lanes {
		for r := 0; r < n; r++ {
			m.predictRow(x[r*w:(r+1)*w], margin[r*G:(r+1)*G])
		}
		return
	}
	nodes := e.nodes
	nb := unsafe.Pointer(unsafe.SliceData(nodes))
	rowBytes := uintptr(w) * 4
	for t, root := range e.roots {
		g, depth := int(e.group[t]), int(e.depth[t])
		r0 := 0
		for ; r0+lanes <= n; r0 += lanes {
			x0 := unsafe.Pointer(&x[r0*w])
			var i [lanes]int32
			if hasNaN {
				i = walk8NaN(nb, x0, rowBytes, root, depth)
			} else {
				i = walk8(nb, x0, rowBytes, root, depth)
			}
			for k := range i {
				margin[(r0+k)*G+g] += nodes[i[k]].leaf
			}
		}
		for ; r0 < n; r0++ {
			margin[r0*G+g] += nodes[e.walk(t, x[r0*w:(r0+1)*w])].leaf
		}
	}
}

// setBase sets the margins of n rows to the base score.
func (m *xgbModel) setBase(margin []float32, n int) {
	G := m.nGroup
	for r := 0; r < n; r++ {
		copy(margin[r*G:r*G+G], m.base)
	}
}

// predictRow walks 8 trees of one row in lock-step (single-row scoring).
func (m *xgbModel) predictRow(row []float32, margin []float32) {
	e := &m.trees
	hasNaN := hasNaN32(row)
	nodes := e.nodes
	nb := unsafe.Pointer(unsafe.SliceData(nodes))
	x := unsafe.Pointer(unsafe.SliceData(row))
	nt := len(e.roots)
	t0 := 0
	for ; t0+lanes <= nt; t0 += lanes {
		r := e.roots[t0 : t0+lanes : t0+lanes]
		i0, i1, i2, i3, i4, i5, i6, i7 := r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
		depth := slices.Max(e.depth[t0 : t0+lanes]) // the lanes walk in lock-step to the deepest
		if hasNaN {
			for d := int32(0); d < depth; d++ {
				i0 = stepNaN(nb, x, i0)
				i1 = stepNaN(nb, x, i1)
				i2 = stepNaN(nb, x, i2)
				i3 = stepNaN(nb, x, i3)
				i4 = stepNaN(nb, x, i4)
				i5 = stepNaN(nb, x, i5)
				i6 = stepNaN(nb, x, i6)
				i7 = stepNaN(nb, x, i7)
			}
		} else {
			for d := int32(0); d < depth; d++ {
				i0 = step(nb, x, i0)
				i1 = step(nb, x, i1)
				i2 = step(nb, x, i2)
				i3 = step(nb, x, i3)
				i4 = step(nb, x, i4)
				i5 = step(nb, x, i5)
				i6 = step(nb, x, i6)
				i7 = step(nb, x, i7)
			}
		}
		g := e.group[t0 : t0+lanes : t0+lanes]
		// in tree order: the float32 sum must match XGBoost's
		margin[g[0]] += nodes[i0].leaf
		margin[g[1]] += nodes[i1].leaf
		margin[g[2]] += nodes[i2].leaf
		margin[g[3]] += nodes[i3].leaf
		margin[g[4]] += nodes[i4].leaf
		margin[g[5]] += nodes[i5].leaf
		margin[g[6]] += nodes[i6].leaf
		margin[g[7]] += nodes[i7].leaf
	}
	for ; t0 < nt; t0++ {
		margin[e.group[t0]] += nodes[e.walk(t0, row)].leaf
	}
}

// transform turns margins into the objective's output, in float32 as XGBoost
// does. binaryTask applies a sigmoid to binary:logitraw margins so that the
// score of a binary task is always a probability.
func (m *xgbModel) transform(margin []float32, binaryTask bool) {
	switch m.obj {
	case objLogistic:
		for i, v := range margin {
			margin[i] = sigmoidf(v)
		}
	case objLogitRaw:
		if binaryTask {
			for i, v := range margin {
				margin[i] = sigmoidf(v)
			}
		}
	case objPoisson:
		for i, v := range margin {
			margin[i] = expf(v)
		}
	case objSoftprob, objSoftmax:
		G := m.nGroup
		for r := 0; r+G <= len(margin); r += G {
			softmaxf(margin[r : r+G])
		}
	}
}

func logf(x float32) float32 { return float32(math.Log(float64(x))) }

// sigmoidf is common::Sigmoid(float) of XGBoost: the exponent is capped at
// 88.7 to avoid overflow and the sum is done in float32.
func sigmoidf(x float32) float32 {
	e := min(-x, 88.7)
	denom := expf(e) + 1 // + 1e-16f in XGBoost, which cannot change a float32 >= 1
	return 1 / denom
}

// softmaxf is common::Softmax: float32 exponentials, a float64 sum.
func softmaxf(v []float32) {
	wmax := v[0]
	for _, x := range v[1:] {
		wmax = max(wmax, x)
	}
	var sum float64
	for i, x := range v {
		e := expf(x - wmax)
		v[i] = e
		sum += float64(e)
	}
	s := float32(sum)
	for i := range v {
		v[i] /= s
	}
}
