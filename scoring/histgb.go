package scoring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// histgbJSON is the exporter's file: the estimator's _baseline_prediction,
// its loss link, and per tree the TreePredictor's nodes array (one list per
// field of PREDICTOR_RECORD_DTYPE that prediction reads) and
// raw_left_cat_bitsets; known_cat_bitsets and f_idx_map are the estimator's
// (_bin_mapper.make_known_categories_bitsets()).
type histgbJSON struct {
	Format          string     `json:"format"`
	Estimator       string     `json:"estimator"`
	Sklearn         string     `json:"sklearn"`
	Loss            string     `json:"loss"`
	Link            string     `json:"link"`
	NFeatures       int        `json:"n_features"`
	TreesPerIter    int        `json:"n_trees_per_iteration"`
	Baseline        []float64  `json:"baseline"`
	KnownCatBitsets [][]uint32 `json:"known_cat_bitsets"`
	// The estimator's own preprocessing when it has categorical features
	// (HistGradientBoosting._preprocessor, an OrdinalEncoder in a
	// ColumnTransformer): model feature j is input column Columns[j] (the
	// categorical ones first), and a categorical one is re-encoded as the index
	// of its value in Categories[j] (ascending), unseen values as NaN. Both
	// absent when the estimator has no categorical features.
	Columns    []int        `json:"columns"`
	Categories [][]float64  `json:"categories"`
	FIdxMap    []int64      `json:"f_idx_map"`
	Trees      []histgbTree `json:"trees"`
}

type histgbTree struct {
	Value            []float64   `json:"value"`
	FeatureIdx       []int64     `json:"feature_idx"`
	NumThreshold     []threshold `json:"num_threshold"`
	MissingGoToLeft  []uint8     `json:"missing_go_to_left"`
	Left             []int64     `json:"left"`
	Right            []int64     `json:"right"`
	IsLeaf           []uint8     `json:"is_leaf"`
	IsCategorical    []uint8     `json:"is_categorical"`
	BitsetIdx        []int64     `json:"bitset_idx"`
	RawLeftCatBitset [][]uint32  `json:"raw_left_cat_bitsets"`
}

// threshold is a num_threshold: a JSON number, or "inf" / "-inf" (a split
// of the missing values from all others has threshold +inf).
type threshold float64

func (v *threshold) UnmarshalJSON(data []byte) error {
	switch string(bytes.TrimSpace(data)) {
	case `"inf"`:
		*v = threshold(math.Inf(1))
	case `"-inf"`:
		*v = threshold(math.Inf(-1))
	default:
		var f float64
		if err := json.Unmarshal(data, &f); err != nil {
			return fmt.Errorf("num_threshold %s is not a number, \"inf\" or \"-inf\"", data)
		}
		*v = threshold(f)
	}
	return nil
}

func (h *histgbJSON) layout() string { return h.Format }

// histgbFormat names the file layout; the exporter writes it.
const histgbFormat = "streamscore-histgb-1"

// bitsetWords is the size of scikit-learn's category bitsets (256 bits).
const bitsetWords = 8

// histgbModel is a compiled HistGradientBoosting model.
type histgbModel struct {
	f         forest64
	link      string
	loss      string
	estimator string
	sklearn   string
	baseline  []float64
	cols      []int       // nil: the model reads the input columns as they are
	cats      [][]float64 // per model feature: the categories to re-encode against (nil: numerical)
}

func parseHistGB(data []byte) (*histgbModel, error) {
	var h histgbJSON
	if err := decodeLayoutFile(data, &h, histgbFormat); err != nil {
		return nil, err
	}
	m := &histgbModel{link: h.Link, loss: h.Loss, estimator: h.Estimator, sklearn: h.Sklearn, baseline: h.Baseline}
	if h.NFeatures < 1 || h.NFeatures > MaxModelColumns {
		return nil, fmt.Errorf("n_features %d out of range [1, %d]", h.NFeatures, MaxModelColumns)
	}
	K := h.TreesPerIter
	switch h.Link {
	case "identity", "log", "logit":
		if K != 1 {
			return nil, fmt.Errorf("link %s with n_trees_per_iteration %d, want 1", h.Link, K)
		}
	case "multinomial_logit":
		if K < 3 || K > MaxClasses {
			return nil, fmt.Errorf("link multinomial_logit with n_trees_per_iteration %d, want 3 to %d", K, MaxClasses)
		}
	default:
		return nil, fmt.Errorf("link %q is not supported (want identity, log, logit or multinomial_logit)", h.Link)
	}
	if len(h.Baseline) != K {
		return nil, fmt.Errorf("%d baseline values for %d trees per iteration", len(h.Baseline), K)
	}
	for _, v := range h.Baseline {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.New("baseline is not finite")
		}
	}
	if len(h.FIdxMap) != h.NFeatures {
		return nil, fmt.Errorf("f_idx_map has %d entries for %d features", len(h.FIdxMap), h.NFeatures)
	}
	for i, b := range h.KnownCatBitsets {
		if len(b) != bitsetWords {
			return nil, fmt.Errorf("known_cat_bitsets[%d] has %d words, want %d", i, len(b), bitsetWords)
		}
	}
	if len(h.Trees) == 0 || len(h.Trees)%K != 0 {
		return nil, fmt.Errorf("%d trees is not a positive multiple of %d trees per iteration", len(h.Trees), K)
	}
	if len(h.Trees) > MaxTrees {
		return nil, fmt.Errorf("%d trees, more than the limit of %d", len(h.Trees), MaxTrees)
	}
	m.f.nFeature, m.f.nGroup = h.NFeatures, K
	if err := m.setRemap(&h); err != nil {
		return nil, err
	}
	m.f.catRange(0, 32*bitsetWords) // v < 0 and NaN take the missing direction; scikit-learn casts to uint8
	for t := range h.Trees {
		spec, err := h.spec(&h.Trees[t])
		if err != nil {
			return nil, fmt.Errorf("tree %d: %w", t, err)
		}
		if err := m.f.addTree(spec, t%K); err != nil {
			return nil, fmt.Errorf("tree %d: %w", t, err)
		}
	}
	return m, nil
}

// spec turns a predictor's nodes array (leaves and splits in one array,
// root first) into a treeSpec, folding each categorical split's left set,
// the feature's known categories and missing_go_to_left into one "goes
// left" bitset, as _predict_one_from_raw_data decides: in the left set ->
// left, known -> right, unknown -> the missing direction.
func (h *histgbJSON) spec(t *histgbTree) (*treeSpec, error) {
	n := len(t.Value)
	if n == 0 || n > MaxNodesPerTree {
		return nil, fmt.Errorf("%d nodes, want 1 to %d", n, MaxNodesPerTree)
	}
	for _, l := range [][]int64{t.FeatureIdx, t.Left, t.Right, t.BitsetIdx} {
		if len(l) != n {
			return nil, errors.New("node arrays differ in length")
		}
	}
	if len(t.NumThreshold) != n || len(t.MissingGoToLeft) != n || len(t.IsLeaf) != n || len(t.IsCategorical) != n {
		return nil, errors.New("node arrays differ in length")
	}
	// number the splits and the leaves separately
	ref := make([]int32, n)
	nSplit, nLeaf := 0, 0
	for i := range n {
		if t.IsLeaf[i] != 0 {
			ref[i] = ^int32(nLeaf)
			nLeaf++
		} else {
			ref[i] = int32(nSplit)
			nSplit++
		}
	}
	if nLeaf != nSplit+1 || (n > 1 && t.IsLeaf[0] != 0) {
		return nil, fmt.Errorf("%d leaves and %d splits do not make a binary tree rooted at node 0", nLeaf, nSplit)
	}
	s := &treeSpec{leaves: make([]float64, 0, nLeaf)}
	for i := range n {
		if t.IsLeaf[i] != 0 {
			s.leaves = append(s.leaves, t.Value[i])
		}
	}
	if nSplit == 0 {
		return s, nil
	}
	for _, c := range t.RawLeftCatBitset {
		if len(c) != bitsetWords {
			return nil, fmt.Errorf("raw_left_cat_bitsets entry has %d words, want %d", len(c), bitsetWords)
		}
	}
	s.left, s.right = make([]int32, nSplit), make([]int32, nSplit)
	s.feat, s.thr = make([]int32, nSplit), make([]float64, nSplit)
	s.missLeft, s.cat = make([]bool, nSplit), make([]int32, nSplit)
	child := func(c int64) (int32, error) {
		if c <= 0 || c >= int64(n) { // 0 is the root, never a child
			return 0, fmt.Errorf("child %d out of range [1, %d)", c, n)
		}
		return ref[c], nil
	}
	for i := range n {
		if t.IsLeaf[i] != 0 {
			continue
		}
		j := ref[i]
		var err error
		if s.left[j], err = child(t.Left[i]); err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		if s.right[j], err = child(t.Right[i]); err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		fi := t.FeatureIdx[i]
		if fi < 0 || fi >= int64(h.NFeatures) {
			return nil, fmt.Errorf("node %d: feature_idx %d out of range [0, %d)", i, fi, h.NFeatures)
		}
		s.feat[j], s.thr[j], s.missLeft[j], s.cat[j] = int32(fi), float64(t.NumThreshold[i]), t.MissingGoToLeft[i] != 0, -1
		if t.IsCategorical[i] == 0 {
			continue
		}
		bi, ki := t.BitsetIdx[i], h.FIdxMap[fi]
		if bi < 0 || bi >= int64(len(t.RawLeftCatBitset)) {
			return nil, fmt.Errorf("node %d: bitset_idx %d out of range [0, %d)", i, bi, len(t.RawLeftCatBitset))
		}
		if ki < 0 || ki >= int64(len(h.KnownCatBitsets)) {
			return nil, fmt.Errorf("node %d: f_idx_map[%d] = %d out of range [0, %d)", i, fi, ki, len(h.KnownCatBitsets))
		}
		left, known := t.RawLeftCatBitset[bi], h.KnownCatBitsets[ki]
		bits := make([]uint32, bitsetWords)
		for w := range bits {
			bits[w] = left[w]
			if s.missLeft[j] {
				bits[w] |= ^known[w]
			}
		}
		s.cat[j] = int32(len(s.catSets))
		s.catSets = append(s.catSets, bits)
	}
	return s, nil
}

// setRemap checks and keeps the estimator's column order and category
// re-encoding.
func (m *histgbModel) setRemap(h *histgbJSON) error {
	if h.Columns == nil && h.Categories == nil {
		return nil
	}
	n := h.NFeatures
	if len(h.Columns) != n || len(h.Categories) != n {
		return fmt.Errorf("columns and categories need %d entries each, got %d and %d", n, len(h.Columns), len(h.Categories))
	}
	seen := make([]bool, n)
	for j, c := range h.Columns {
		if c < 0 || c >= n || seen[c] {
			return fmt.Errorf("columns[%d] = %d: not a permutation of [0, %d)", j, c, n)
		}
		seen[c] = true
	}
	for j, cs := range h.Categories {
		if len(cs) > 32*bitsetWords {
			return fmt.Errorf("categories[%d]: %d categories, more than %d", j, len(cs), 32*bitsetWords)
		}
		for i, v := range cs {
			if math.IsNaN(v) || math.IsInf(v, 0) || (i > 0 && !(v > cs[i-1])) {
				return fmt.Errorf("categories[%d] must be finite and ascending", j)
			}
		}
	}
	m.cols, m.cats = h.Columns, h.Categories
	return nil
}

// remap writes the block in the estimator's feature order with categorical
// values re-encoded (OrdinalEncoder.transform: exact match, unseen or missing
// -> NaN).
func (m *histgbModel) remap(dst, x []float64, n int) {
	w := m.f.nFeature
	for r := 0; r < n; r++ {
		src, out := x[r*w:(r+1)*w], dst[r*w:(r+1)*w]
		for j, c := range m.cols {
			v := src[c]
			if cs := m.cats[j]; cs != nil {
				v = categoryIndex(cs, v)
			}
			out[j] = v
		}
	}
}

// categoryIndex is the position of v in the ascending cs, or NaN.
func categoryIndex(cs []float64, v float64) float64 {
	lo, hi := 0, len(cs)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if cs[mid] < v {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(cs) && cs[lo] == v {
		return float64(lo)
	}
	return math.NaN()
}

// modelColumns implements fileModel.
func (m *histgbModel) modelColumns() (int, string) {
	return m.f.nFeature, fmt.Sprintf("n_features %d", m.f.nFeature)
}

// Output implements Model.
func (m *histgbModel) Output() ModelOutput {
	switch m.link {
	case "logit":
		return ModelOutput{Task: TaskBinary, Classes: 2}
	case "multinomial_logit":
		return ModelOutput{Task: TaskMulticlass, Classes: m.f.nGroup}
	}
	return ModelOutput{Task: TaskRegression}
}

// Describe implements Model.
func (m *histgbModel) Describe() []string {
	s := fmt.Sprintf("histgb (scikit-learn %s %s), loss %s, link %s, %d trees", m.sklearn, m.estimator, m.loss, m.link, len(m.f.roots))
	return []string{s, m.f.describe() + fmt.Sprintf(", baseline %v", m.baseline)}
}

// NewPredictor implements Model.
func (m *histgbModel) NewPredictor(string) Predictor {
	p := &histgbPredictor{m: m, margin: make([]float64, blockRows*m.f.nGroup)}
	if m.cols != nil {
		p.x = make([]float64, blockRows*m.f.nFeature)
	}
	return p
}

type histgbPredictor struct {
	m         *histgbModel
	margin, x []float64
}

// Predict implements Predictor: baseline plus the trees in iteration order
// (BaseHistGradientBoosting._raw_predict), then the loss's inverse link:
// expit for logit (predict_proba's [1-p, p]), softmax, exp, or identity.
func (p *histgbPredictor) Predict(x []float64, n int, out []float64) {
	m := p.m
	G := m.f.nGroup
	x = x[:n*m.f.nFeature]
	if m.cols != nil {
		if cap(p.x) < len(x) {
			p.x = make([]float64, len(x))
		}
		m.remap(p.x[:len(x)], x, n)
		x = p.x[:len(x)]
	}
	hasNaN, _ := scanBlock(x)
	if cap(p.margin) < n*G {
		p.margin = make([]float64, n*G)
	}
	margin := p.margin[:n*G]
	for r := 0; r < n; r++ {
		copy(margin[r*G:(r+1)*G], m.baseline)
	}
	m.f.predict(x, n, margin, hasNaN)
	switch m.link {
	case "logit":
		out = out[:2*n]
		for r, v := range margin {
			q := expit(v)
			out[2*r], out[2*r+1] = 1-q, q
		}
	case "multinomial_logit":
		for r := 0; r+G <= len(margin); r += G {
			softmaxLGB(margin[r:r+G], out[r:r+G]) // sklearn.utils.extmath.softmax: the same steps
		}
	case "log":
		for i, v := range margin {
			out[i] = exp64(v)
		}
	default:
		copy(out, margin)
	}
}
