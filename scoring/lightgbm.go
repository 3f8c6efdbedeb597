package scoring

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// lgbObjective is the objective's output transform (ConvertOutput in
// LightGBM's src/objective/*.hpp).
type lgbObjective uint8

const (
	lgbIdentity lgbObjective = iota // regression, regression_l1, huber, fair, quantile, mape
	lgbSqrt                         // the same with "sqrt" (reg_sqrt): sign(x) * x^2
	lgbExp                          // poisson, gamma, tweedie
	lgbSigmoid                      // binary, multiclassova: 1 / (1 + exp(-sigmoid * x)); cross_entropy: sigmoid 1
	lgbSoftmax                      // multiclass
	lgbLog1pExp                     // cross_entropy_lambda: log1p(exp(x))
)

// lgbObjectives maps an objective name to its transform and whether a
// "sqrt" token applies (LightGBM ignores it for huber and the exp family).
var lgbObjectives = map[string]struct {
	obj      lgbObjective
	sqrtOK   bool
	task     string
	regToo   bool // a binary model whose probability may be served as a number
	wantsSig bool // needs sigmoid:
}{
	"regression":           {lgbIdentity, true, TaskRegression, false, false},
	"regression_l1":        {lgbIdentity, true, TaskRegression, false, false},
	"huber":                {lgbIdentity, false, TaskRegression, false, false},
	"fair":                 {lgbIdentity, true, TaskRegression, false, false},
	"quantile":             {lgbIdentity, true, TaskRegression, false, false},
	"mape":                 {lgbIdentity, true, TaskRegression, false, false},
	"poisson":              {lgbExp, false, TaskRegression, false, false},
	"gamma":                {lgbExp, false, TaskRegression, false, false},
	"tweedie":              {lgbExp, false, TaskRegression, false, false},
	"binary":               {lgbSigmoid, false, TaskBinary, true, true},
	"cross_entropy":        {lgbSigmoid, false, TaskBinary, true, false},
	"cross_entropy_lambda": {lgbLog1pExp, false, TaskRegression, false, false},
	"multiclass":           {lgbSoftmax, false, TaskMulticlass, false, false},
	"multiclassova":        {lgbSigmoid, false, TaskMulticlass, false, true},
}

// lgbModel is a compiled LightGBM model.
type lgbModel struct {
	f         forest64
	obj       lgbObjective
	objLine   string
	objName   string
	sigmoid   float64
	task      string
	regToo    bool
	average   bool // average_output (boosting=rf): margins divided by the iterations
	nIter     int
	version   string
	featNames []string
}

// kZeroThreshold is LightGBM's 1e-35f, a float widened to double: inputs
// with |x| <= kZeroThreshold are read as 0 (c_api.cpp drops them from the
// row) and missing_type Zero treats them as missing.
const kZeroThreshold = float64(float32(1e-35))

// parseLightGBM reads and validates a model in LightGBM's text format
// (GBDT::SaveModelToString, read back by GBDT::LoadModelFromString and
// Tree::Tree(const char*)).
func parseLightGBM(data []byte) (*lgbModel, error) {
	if err := checkModelSize(data); err != nil {
		return nil, err
	}
	r := &lineReader{data: data}
	first, ok := r.next()
	if !ok || first != "tree" {
		return nil, errors.New("not a LightGBM text model (the first line must be \"tree\"; save with Booster.save_model or model_to_string)")
	}
	// header: key=value lines up to the first Tree=
	hdr := map[string]string{}
	var treeStart int
	for {
		start, line, ok := r.nextNonBlank()
		if !ok {
			return nil, errors.New("no trees (no line Tree=0)")
		}
		if strings.HasPrefix(line, "Tree=") || line == "end of trees" {
			treeStart = start
			r.pos = start
			break
		}
		key, val, _ := strings.Cut(line, "=")
		if !lgbHeaderKeys[key] {
			return nil, fmt.Errorf("header line %d: unknown key %q", r.line, key)
		}
		if _, dup := hdr[key]; dup {
			return nil, fmt.Errorf("header: %s given twice", key)
		}
		hdr[key] = val
	}
	m := &lgbModel{version: hdr["version"]}
	switch m.version {
	case "v3", "v4":
	default:
		return nil, fmt.Errorf("version %q is not supported (want v3 or v4, LightGBM >= 3)", m.version)
	}
	for _, k := range []string{"num_class", "max_feature_idx", "feature_names", "feature_infos"} {
		if _, ok := hdr[k]; !ok {
			return nil, fmt.Errorf("header: missing %s", k)
		}
	}
	nClass, err := atoiIn("num_class", hdr["num_class"], 1, MaxClasses)
	if err != nil {
		return nil, err
	}
	perIter := nClass
	if s, ok := hdr["num_tree_per_iteration"]; ok {
		if perIter, err = atoiIn("num_tree_per_iteration", s, 1, MaxClasses); err != nil {
			return nil, err
		}
	}
	maxFeat, err := atoiIn("max_feature_idx", hdr["max_feature_idx"], 0, MaxModelColumns-1)
	if err != nil {
		return nil, err
	}
	m.f.nFeature = maxFeat + 1
	m.f.nGroup = perIter
	m.f.catRange(math.Nextafter(-1, 0), maxCategoryCode)
	m.featNames = strings.Split(hdr["feature_names"], " ")
	if len(m.featNames) != m.f.nFeature {
		return nil, fmt.Errorf("header: %d feature_names for max_feature_idx %d", len(m.featNames), maxFeat)
	}
	if n := len(strings.Split(hdr["feature_infos"], " ")); n != m.f.nFeature {
		return nil, fmt.Errorf("header: %d feature_infos for max_feature_idx %d", n, maxFeat)
	}
	_, m.average = hdr["average_output"]
	if err := m.setObjective(hdr, nClass, perIter); err != nil {
		return nil, err
	}

	// trees
	var sizes []int
	if s, ok := hdr["tree_sizes"]; ok && s != "" {
		for _, f := range strings.Split(s, " ") {
			v, err := strconv.Atoi(f)
			if err != nil || v <= 0 || v > len(data) {
				return nil, fmt.Errorf("header: tree_sizes entry %q is not a size", f)
			}
			sizes = append(sizes, v)
		}
	}
	pos := treeStart
	nTrees := 0
	for {
		start, line, ok := r.nextNonBlank()
		if !ok {
			return nil, errors.New("missing \"end of trees\"")
		}
		if line == "end of trees" {
			if sizes != nil && start != pos {
				return nil, errors.New("tree_sizes disagree with the tree blocks")
			}
			break
		}
		if line != "Tree="+strconv.Itoa(nTrees) {
			return nil, fmt.Errorf("line %d: want \"Tree=%d\", got %q", r.line, nTrees, clip(line, 60))
		}
		if nTrees >= MaxTrees {
			return nil, fmt.Errorf("more than %d trees", MaxTrees)
		}
		if sizes != nil {
			if nTrees >= len(sizes) || start != pos {
				return nil, errors.New("tree_sizes disagree with the tree blocks")
			}
			pos += sizes[nTrees]
		}
		spec, err := readLGBTree(r)
		if err != nil {
			return nil, fmt.Errorf("tree %d: %w", nTrees, err)
		}
		if err := m.f.addTree(spec, nTrees%perIter); err != nil {
			return nil, fmt.Errorf("tree %d: %w", nTrees, err)
		}
		nTrees++
	}
	if sizes != nil && len(sizes) != nTrees {
		return nil, fmt.Errorf("tree_sizes lists %d trees, the file has %d", len(sizes), nTrees)
	}
	if nTrees == 0 {
		return nil, errors.New("model has no trees")
	}
	if nTrees%perIter != 0 {
		return nil, fmt.Errorf("%d trees is not a whole number of iterations of %d trees", nTrees, perIter)
	}
	m.nIter = nTrees / perIter
	return m, nil
}

var lgbHeaderKeys = map[string]bool{
	"version": true, "num_class": true, "num_tree_per_iteration": true, "label_index": true,
	"max_feature_idx": true, "objective": true, "average_output": true, "feature_names": true,
	"monotone_constraints": true, "feature_infos": true, "tree_sizes": true,
}

// setObjective reads the objective line ("binary sigmoid:1",
// "multiclass num_class:3", "regression sqrt") as
// ObjectiveFunction::CreateObjectiveFunction does.
func (m *lgbModel) setObjective(hdr map[string]string, nClass, perIter int) error {
	line, ok := hdr["objective"]
	if !ok {
		return errors.New("the model has no objective line (trained with a custom objective): its scores are raw margins with no known transform; train with a built-in objective")
	}
	m.objLine = line
	toks := strings.Split(line, " ")
	m.objName = toks[0]
	o, ok := lgbObjectives[m.objName]
	if !ok {
		return fmt.Errorf("objective %q is not supported (want one of regression, regression_l1, huber, fair, quantile, mape, poisson, gamma, tweedie, binary, cross_entropy, cross_entropy_lambda, multiclass, multiclassova)", m.objName)
	}
	m.obj, m.task, m.regToo = o.obj, o.task, o.regToo
	m.sigmoid = 1
	sigSeen, classes := false, -1
	for _, t := range toks[1:] {
		k, v, hasVal := strings.Cut(t, ":")
		switch {
		case t == "sqrt":
			if o.sqrtOK {
				m.obj = lgbSqrt
			}
		case hasVal && k == "sigmoid" && o.wantsSig:
			s, err := atofLegacy(v)
			if err != nil || !(s > 0) || math.IsInf(s, 0) {
				return fmt.Errorf("objective %q: sigmoid %q must be a positive number", line, v)
			}
			m.sigmoid, sigSeen = s, true
		case hasVal && k == "num_class" && o.task == TaskMulticlass:
			c, err := atoiIn("objective num_class", v, 2, MaxClasses)
			if err != nil {
				return err
			}
			classes = c
		default:
			return fmt.Errorf("objective %q: unknown parameter %q", line, t)
		}
	}
	if o.wantsSig && !sigSeen {
		return fmt.Errorf("objective %q: no sigmoid parameter", line)
	}
	if o.task == TaskMulticlass {
		if classes != nClass || nClass < 2 || perIter != nClass {
			return fmt.Errorf("objective %q with num_class=%d and num_tree_per_iteration=%d: the class counts must agree", line, nClass, perIter)
		}
	} else if nClass != 1 || perIter != 1 {
		return fmt.Errorf("objective %s with num_class=%d, num_tree_per_iteration=%d is not supported", m.objName, nClass, perIter)
	}
	return nil
}

// lgbTreeKeys are the keys Tree::ToString writes.
var lgbTreeKeys = map[string]bool{
	"num_leaves": true, "num_cat": true, "split_feature": true, "split_gain": true, "threshold": true,
	"decision_type": true, "left_child": true, "right_child": true, "leaf_value": true, "leaf_weight": true,
	"leaf_count": true, "internal_value": true, "internal_weight": true, "internal_count": true,
	"cat_boundaries": true, "cat_threshold": true, "is_linear": true, "leaf_const": true, "num_features": true,
	"leaf_features": true, "leaf_coeff": true, "shrinkage": true,
}

// readLGBTree reads one tree block (key=value lines up to a blank line).
func readLGBTree(r *lineReader) (*treeSpec, error) {
	kv := map[string]string{}
	for {
		line, ok := r.next()
		if !ok || line == "" {
			break
		}
		key, val, found := strings.Cut(line, "=")
		if !found || !lgbTreeKeys[key] {
			return nil, fmt.Errorf("line %d: unknown line %q", r.line, clip(line, 60))
		}
		if _, dup := kv[key]; dup {
			return nil, fmt.Errorf("%s given twice", key)
		}
		kv[key] = val
	}
	for _, k := range []string{"num_leaves", "num_cat", "leaf_value"} {
		if _, ok := kv[k]; !ok {
			return nil, fmt.Errorf("missing %s", k)
		}
	}
	if s, ok := kv["is_linear"]; ok && s != "0" {
		return nil, errors.New("linear trees (is_linear=1, linear_tree=True) are not supported: their leaves are linear models the bundle cannot express; train with linear_tree=False")
	}
	nLeaves, err := atoiIn("num_leaves", kv["num_leaves"], 1, MaxNodesPerTree/2)
	if err != nil {
		return nil, err
	}
	nCat, err := atoiIn("num_cat", kv["num_cat"], 0, nLeaves-1)
	if err != nil {
		return nil, err
	}
	t := &treeSpec{}
	if t.leaves, err = floats("leaf_value", kv["leaf_value"], nLeaves); err != nil {
		return nil, err
	}
	n := nLeaves - 1
	if n == 0 {
		return t, nil
	}
	for _, k := range []string{"split_feature", "threshold", "left_child", "right_child"} {
		if _, ok := kv[k]; !ok {
			return nil, fmt.Errorf("missing %s", k)
		}
	}
	if t.feat, err = ints("split_feature", kv["split_feature"], n, 0, MaxModelColumns); err != nil {
		return nil, err
	}
	if t.thr, err = floats("threshold", kv["threshold"], n); err != nil {
		return nil, err
	}
	if t.left, err = ints("left_child", kv["left_child"], n, -nLeaves, n-1); err != nil {
		return nil, err
	}
	if t.right, err = ints("right_child", kv["right_child"], n, -nLeaves, n-1); err != nil {
		return nil, err
	}
	dt := make([]int32, n)
	if s, ok := kv["decision_type"]; ok {
		if dt, err = ints("decision_type", s, n, 0, 15); err != nil {
			return nil, err
		}
	}
	var bounds []int32
	var words []uint32
	if nCat > 0 {
		if bounds, err = ints("cat_boundaries", kv["cat_boundaries"], nCat+1, 0, maxCatWords); err != nil {
			return nil, err
		}
		f := strings.Fields(kv["cat_threshold"])
		if bounds[0] != 0 || int(bounds[nCat]) != len(f) {
			return nil, fmt.Errorf("cat_boundaries %v do not span the %d cat_threshold words", bounds, len(f))
		}
		for i := 1; i <= nCat; i++ {
			if bounds[i] < bounds[i-1] {
				return nil, errors.New("cat_boundaries are not ascending")
			}
		}
		words = make([]uint32, len(f))
		for i, s := range f {
			v, err := strconv.ParseUint(s, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("cat_threshold entry %q is not a 32-bit word", s)
			}
			words[i] = uint32(v)
		}
		for c := 0; c < nCat; c++ {
			t.catSets = append(t.catSets, words[bounds[c]:bounds[c+1]])
		}
	}
	t.missLeft = make([]bool, n)
	t.zeroMiss = make([]bool, n)
	t.cat = make([]int32, n)
	usedCat := make([]bool, nCat)
	for i := 0; i < n; i++ {
		d, thr := dt[i], t.thr[i]
		t.cat[i] = -1
		if d&1 != 0 { // categorical: NaN, negative and unseen codes go right
			c := int(thr)
			if float64(c) != thr || c < 0 || c >= nCat || usedCat[c] {
				return nil, fmt.Errorf("node %d: categorical threshold %v is not an unused category set index below num_cat %d", i, thr, nCat)
			}
			usedCat[c] = true
			t.cat[i] = int32(c)
			continue
		}
		defaultLeft := d&2 != 0
		switch (d >> 2) & 3 {
		case 0: // None: NaN is read as 0
			t.missLeft[i] = 0 <= thr
		case 1: // Zero: NaN is read as 0, and 0 takes the default direction
			t.missLeft[i] = defaultLeft
			t.zeroMiss[i] = defaultLeft != (0 <= thr)
		case 2: // NaN: NaN takes the default direction
			t.missLeft[i] = defaultLeft
		default:
			return nil, fmt.Errorf("node %d: decision_type %d has missing type 3", i, d)
		}
	}
	return t, nil
}

// modelColumns implements fileModel.
func (m *lgbModel) modelColumns() (int, string) {
	return m.f.nFeature, fmt.Sprintf("max_feature_idx %d (%d features)", m.f.nFeature-1, m.f.nFeature)
}

// Output implements Model. Binary and cross_entropy models may also be
// served as a number (the probability).
func (m *lgbModel) Output() ModelOutput {
	o := ModelOutput{Task: m.task, AlsoRegression: m.regToo}
	switch m.task {
	case TaskBinary:
		o.Classes = 2
	case TaskMulticlass:
		o.Classes = m.f.nGroup
	}
	return o
}

// FeatureNames implements FeatureNamer: the file's feature_names (LightGBM
// writes Column_0, ... when it was trained without names).
func (m *lgbModel) FeatureNames() []string {
	if len(m.featNames) > 0 && m.featNames[0] == "Column_0" {
		return nil
	}
	return m.featNames
}

// Describe implements Model.
func (m *lgbModel) Describe() []string {
	s := fmt.Sprintf("lightgbm %s, %s, %d trees (%d iterations", m.version, m.objLine, len(m.f.roots), m.nIter)
	if m.f.nGroup > 1 {
		s += fmt.Sprintf(" x %d classes", m.f.nGroup)
	}
	s += ")"
	if m.average {
		s += ", averaged (random forest)"
	}
	return []string{s, m.f.describe()}
}

// NewPredictor implements Model.
func (m *lgbModel) NewPredictor(task string) Predictor {
	return &lgbPredictor{m: m, binaryTask: task == TaskBinary,
		x: make([]float64, blockRows*m.f.nFeature), margin: make([]float64, blockRows*m.f.nGroup)}
}

// lgbPredictor holds one Scorer's margins and, for blocks with values LightGBM
// reads as zero, a copy of the block.
type lgbPredictor struct {
	m          *lgbModel
	binaryTask bool
	x, margin  []float64
}

// Predict implements Predictor.
func (p *lgbPredictor) Predict(x []float64, n int, out []float64) {
	m := p.m
	w, G := m.f.nFeature, m.f.nGroup
	x = x[:n*w]
	hasNaN, tiny := scanBlock(x)
	if tiny {
		if cap(p.x) < len(x) {
			p.x = make([]float64, len(x))
		}
		c := p.x[:len(x)]
		for j, v := range x {
			if math.Abs(v) <= kZeroThreshold {
				v = 0
			}
			c[j] = v
		}
		x = c
	}
	if cap(p.margin) < n*G {
		p.margin = make([]float64, n*G)
	}
	margin := p.margin[:n*G]
	clear(margin)
	m.f.predict(x, n, margin, hasNaN)
	if m.average {
		iters := float64(m.nIter)
		for i := range margin {
			margin[i] /= iters
		}
	}
	m.transform(margin, out, p.binaryTask)
}

// scanBlock reports whether x holds a NaN and whether it holds a non-zero
// value LightGBM reads as zero (|v| <= kZeroThreshold).
func scanBlock(x []float64) (nan, tiny bool) {
	for _, v := range x {
		if v != v {
			nan = true
		} else if a := math.Abs(v); a <= kZeroThreshold && a != 0 {
			tiny = true
		}
	}
	return nan, tiny
}

// transform applies the objective's ConvertOutput in float64 and writes the
// outputs: [1-p, p] per row for a binary task, the class values for
// multiclass, the value for regression.
func (m *lgbModel) transform(margin, out []float64, binaryTask bool) {
	switch m.obj {
	case lgbIdentity:
		copy(out, margin)
	case lgbSqrt:
		for i, v := range margin {
			out[i] = math.Copysign(1, v) * v * v
			if v == 0 {
				out[i] = 0 // Common::Sign(0) is 0
			}
		}
	case lgbExp:
		for i, v := range margin {
			out[i] = exp64(v)
		}
	case lgbLog1pExp:
		for i, v := range margin {
			out[i] = math.Log1p(exp64(v))
		}
	case lgbSoftmax:
		G := m.f.nGroup
		for r := 0; r+G <= len(margin); r += G {
			softmaxLGB(margin[r:r+G], out[r:r+G])
		}
	case lgbSigmoid:
		s := m.sigmoid
		if m.task == TaskBinary && binaryTask {
			out = out[:2*len(margin)]
			for r, v := range margin {
				q := 1 / (1 + exp64(-s*v))
				out[2*r], out[2*r+1] = 1-q, q
			}
			return
		}
		for i, v := range margin {
			out[i] = 1 / (1 + exp64(-s*v))
		}
	}
}

// softmaxLGB is Common::Softmax: subtract the max, exponentiate, divide by
// the sum (in class order).
func softmaxLGB(in, out []float64) {
	mx := in[0]
	for _, v := range in[1:] {
		mx = max(mx, v)
	}
	sum := 0.0
	for i, v := range in {
		out[i] = exp64(v - mx)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
}

// atofLegacy is LightGBM's Common::Atof, with which it reads the objective's
// sigmoid: integer digits accumulated, plus the fraction digits as an
// integer divided by 10^digits, times or over a power of ten. It is not
// always the correctly rounded value, so strconv would not give LightGBM's
// number.
func atofLegacy(s string) (float64, error) {
	p := s
	sign := 1.0
	if strings.HasPrefix(p, "-") {
		sign, p = -1, p[1:]
	} else if strings.HasPrefix(p, "+") {
		p = p[1:]
	}
	if p == "" {
		return 0, errors.New("empty number")
	}
	digits := func() (v float64, n int) {
		for n < len(p) && p[n] >= '0' && p[n] <= '9' {
			v = v*10 + float64(p[n]-'0')
			n++
		}
		p = p[n:]
		return v, n
	}
	value, _ := digits()
	if strings.HasPrefix(p, ".") {
		p = p[1:]
		right, nn := digits()
		value += right / powLegacy(10, nn)
	}
	scale, neg := 1.0, false
	if strings.HasPrefix(p, "e") || strings.HasPrefix(p, "E") {
		p = p[1:]
		if strings.HasPrefix(p, "-") {
			neg, p = true, p[1:]
		} else if strings.HasPrefix(p, "+") {
			p = p[1:]
		}
		e, n := 0, 0
		for n < len(p) && p[n] >= '0' && p[n] <= '9' && e <= 308 {
			e = e*10 + int(p[n]-'0')
			n++
		}
		p = p[n:]
		e = min(e, 308)
		for ; e >= 50; e -= 50 {
			scale *= 1e50
		}
		for ; e >= 8; e -= 8 {
			scale *= 1e8
		}
		for ; e > 0; e-- {
			scale *= 10
		}
	}
	if p != "" {
		return 0, fmt.Errorf("trailing %q", p)
	}
	if neg {
		return sign * (value / scale), nil
	}
	return sign * (value * scale), nil
}

// powLegacy is Common::Pow for the exponents Atof uses.
func powLegacy(base float64, n int) float64 {
	switch {
	case n == 0:
		return 1
	case n%2 == 0:
		return powLegacy(base*base, n/2)
	case n%3 == 0:
		return powLegacy(base*base*base, n/3)
	}
	return base * powLegacy(base, n-1)
}

// lineReader splits a text model into lines (\n or \r\n) without copying.
type lineReader struct {
	data []byte
	pos  int
	line int
}

func (r *lineReader) next() (string, bool) {
	if r.pos >= len(r.data) {
		return "", false
	}
	rest := r.data[r.pos:]
	i := bytes.IndexByte(rest, '\n')
	var l []byte
	if i < 0 {
		l, r.pos = rest, len(r.data)
	} else {
		l, r.pos = rest[:i], r.pos+i+1
	}
	r.line++
	return string(bytes.TrimSuffix(l, []byte("\r"))), true
}

// nextNonBlank is next past empty lines; start is the offset where the line
// it returns begins.
func (r *lineReader) nextNonBlank() (start int, line string, ok bool) {
	for {
		start = r.pos
		if line, ok = r.next(); !ok || line != "" {
			return start, line, ok
		}
	}
}

func atoiIn(name, s string, lo, hi int) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%s %q is not an integer in [%d, %d]", name, clip(s, 60), lo, hi)
	}
	return v, nil
}

// ints parses exactly n space-separated integers in [lo, hi].
func ints(name, s string, n, lo, hi int) ([]int32, error) {
	f := strings.Split(s, " ")
	if len(f) != n {
		return nil, fmt.Errorf("%s has %d values, want %d", name, len(f), n)
	}
	out := make([]int32, n)
	for i, x := range f {
		v, err := strconv.Atoi(x)
		if err != nil || v < lo || v > hi {
			return nil, fmt.Errorf("%s[%d] %q is not an integer in [%d, %d]", name, i, clip(x, 60), lo, hi)
		}
		out[i] = int32(v)
	}
	return out, nil
}

// floats parses exactly n space-separated float64 values (correctly
// rounded, as LightGBM's AtofPrecise reads thresholds and leaf values).
func floats(name, s string, n int) ([]float64, error) {
	f := strings.Split(s, " ")
	if len(f) != n {
		return nil, fmt.Errorf("%s has %d values, want %d", name, len(f), n)
	}
	out := make([]float64, n)
	for i, x := range f {
		v, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return nil, fmt.Errorf("%s[%d] %q is not a number", name, i, clip(x, 60))
		}
		out[i] = v
	}
	return out, nil
}
