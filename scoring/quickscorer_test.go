package scoring

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strconv"
	"testing"
)

// xgbPaths returns m's predictors: the QuickScorer kernels' (those this
// CPU and the model allow) and the walk kernels'.
func xgbPaths(m *xgbModel, task string) map[string]Predictor {
	walk := *m
	walk.qs = nil
	p := map[string]Predictor{"walk": walk.NewPredictor(task)}
	if m.qs != nil {
		p["quickscorer"] = m.NewPredictor(task)
		if m.qs.avx512 {
			avx2, qs := *m, *m.qs
			qs.avx512 = false
			avx2.qs = &qs
			p["quickscorer-avx2"] = avx2.NewPredictor(task)
		}
	}
	return p
}

// TestXGBoostKernelsAgree: on every XGBoost bundle's reference rows, in
// blocks of every size up to 64, the QuickScorer kernel's outputs are the
// walk kernels' bit for bit (and the parity tests hold the walk to XGBoost).
func TestXGBoostKernelsAgree(t *testing.T) {
	dirs := []string{"../examples/fraud", "../examples/iris-xgb", "../examples/diabetes-xgb"}
	fixtures, _ := filepath.Glob(filepath.Join("testdata", "bundles", "*xgb*"))
	dirs = append(dirs, fixtures...)
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			b, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			m := b.model.(*xgbModel)
			if haveQS && m.qs == nil && m.trees.maxDepth <= 6 {
				t.Fatalf("no QuickScorer kernel for trees of depth %d on an AVX2 CPU", m.trees.maxDepth)
			}
			w := b.pipe.Width()
			var x []float64
			for _, row := range fixtureRows(t, dir, b) {
				if row == nil {
					continue
				}
				v := make([]float64, w)
				if rej := b.pipe.Transform(row, v, nil); rej.OK() {
					x = append(x, v...)
				}
			}
			n := len(x) / w
			paths := xgbPaths(m, b.Task())
			checkPathsAgree(t, paths, x, n, w, b.nOut)
		})
	}
}

// checkPathsAgree scores the n rows of x in blocks of 1 to 64 rows with
// every predictor and fails on any output that differs from the walk's.
func checkPathsAgree(t *testing.T, paths map[string]Predictor, x []float64, n, w, nOut int) {
	t.Helper()
	want := make([]float64, n*nOut)
	for r0, k := 0, 1; r0 < n; r0, k = r0+k, k%blockRows+1 {
		k = min(k, n-r0)
		paths["walk"].Predict(x[r0*w:(r0+k)*w], k, want[r0*nOut:(r0+k)*nOut])
	}
	for name, p := range paths {
		checkBlocks(t, name, p, x, n, w, []int{1, 7, 8, 9, 31, 32, 33, 63, blockRows}, "walk", want)
	}
}

// checkBlocks scores the n rows of x (w columns) with p in blocks of each
// of the sizes and fails on the first output whose bits differ from want,
// what ref (the reference's name) computed.
func checkBlocks(t *testing.T, name string, p Predictor, x []float64, n, w int, sizes []int, ref string, want []float64) {
	t.Helper()
	nOut := len(want) / n
	got := make([]float64, len(want))
	for _, block := range sizes {
		for r0 := 0; r0 < n; r0 += block {
			k := min(block, n-r0)
			p.Predict(x[r0*w:(r0+k)*w], k, got[r0*nOut:(r0+k)*nOut])
		}
		for i := range want {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Fatalf("%s, blocks of %d: row %d output %d: got %v, %s %v", name, block, i/nOut, i%nOut, got[i], ref, want[i])
			}
		}
	}
}

// FuzzXGBoostTrees builds XGBoost models straight from the fuzzer's bytes
// (tree shapes up to depth 7, so some trees have more than 64 leaves and
// take the walk; features, thresholds, default directions, leaf values),
// loads them through parseXGBoost and checks every kernel's outputs
// against a plain walk of the file's arrays with XGBoost's rule (float32
// value < split condition goes left, NaN by default_left), summed in
// float32 in tree order from the base score. Rows hold NaN, infinities,
// signed zeros and the thresholds themselves.
func FuzzXGBoostTrees(f *testing.F) {
	f.Add([]byte{3, 1, 0, 7, 2, 1, 200, 5, 1, 9, 0, 30, 2, 2, 3, 4, 5, 6, 7, 8}, uint8(3), uint8(1))
	f.Add([]byte{255, 3, 4, 255, 2, 9, 255, 1, 1, 255, 0, 0, 255, 3, 3, 255, 2, 2, 255, 1, 1, 255, 0, 0}, uint8(9), uint8(3))
	const nFeat = 4
	values := []float32{0, float32(math.Copysign(0, -1)), 0.5, -1, 1e30, -1e-40, 3, float32(math.Inf(1)), float32(math.Inf(-1)), 2.5}
	x := make([]float64, blockRows*nFeat)
	for i := range x {
		x[i] = float64(values[(i*7+i/nFeat)%len(values)])
		if i%11 == 3 {
			x[i] = math.NaN()
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, trees, classes uint8) {
		nGroup := 1
		if classes%2 == 1 {
			nGroup = 3
		}
		nTrees := int(trees%12) + 1
		file, ref := fuzzXGBModel(data, nTrees, nGroup, nFeat, values)
		m, err := parseXGBoost(file)
		if err != nil {
			t.Fatalf("generated model refused: %v", err)
		}
		n := blockRows
		want := make([]float64, n*nGroup)
		for r := 0; r < n; r++ {
			margin := make([]float32, nGroup)
			copy(margin, m.base)
			for ti, tr := range ref {
				margin[ti%nGroup] += tr.leafOf(x[r*nFeat : (r+1)*nFeat])
			}
			if nGroup > 1 {
				softmaxf(margin)
			}
			for g, v := range margin {
				want[r*nGroup+g] = float64(v)
			}
		}
		task := TaskRegression
		if nGroup > 1 {
			task = TaskMulticlass
		}
		for name, p := range xgbPaths(m, task) {
			checkBlocks(t, name, p, x, n, nFeat, []int{1, 7, 8, 9, 32, 33, blockRows}, "plain walk", want)
		}
	})
}

// fuzzTree is a generated tree in XGBoost's arrays.
type fuzzTree struct {
	left, right, feat []int64
	cond              []float32
	defaultLeft       []int
}

// leafOf is XGBoost's walk of one row: the value of the leaf it reaches.
func (tr *fuzzTree) leafOf(row []float64) float32 {
	i := 0
	for tr.left[i] != -1 {
		v := float32(row[tr.feat[i]])
		switch {
		case v != v:
			if tr.defaultLeft[i] == 1 {
				i = int(tr.left[i])
			} else {
				i = int(tr.right[i])
			}
		case v < tr.cond[i]:
			i = int(tr.left[i])
		default:
			i = int(tr.right[i])
		}
	}
	return tr.cond[i]
}

// fuzzXGBModel turns data into nTrees trees (3 bytes a node, consumed in
// breadth-first order: split or leaf with the feature and default
// direction, threshold, leaf value) and returns the save_model JSON and
// the trees.
func fuzzXGBModel(data []byte, nTrees, nGroup, nFeat int, values []float32) ([]byte, []*fuzzTree) {
	pos := 0
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[pos%len(data)]
		pos++
		return b
	}
	var trees []*fuzzTree
	var js []map[string]any
	var info []int
	for ti := 0; ti < nTrees; ti++ {
		tr := &fuzzTree{}
		type item struct{ id, depth int }
		queue := []item{{0, 0}}
		tr.left, tr.right, tr.feat, tr.cond, tr.defaultLeft = []int64{-1}, []int64{-1}, []int64{0}, []float32{0}, []int{0}
		for len(queue) > 0 {
			it := queue[0]
			queue = queue[1:]
			kind, th, val := next(), next(), next()
			if it.depth >= 7 || kind%4 == 0 || pos > 3*len(data)*nTrees {
				tr.cond[it.id] = float32(int(val)-128) / 8
				continue
			}
			l := int64(len(tr.left))
			tr.left[it.id], tr.right[it.id] = l, l+1
			tr.feat[it.id] = int64(kind>>2) % int64(nFeat)
			tr.cond[it.id] = values[int(th)%len(values)]
			if math.IsInf(float64(tr.cond[it.id]), 0) {
				tr.cond[it.id] = float32(th) / 16
			}
			tr.defaultLeft[it.id] = int(kind>>5) & 1
			for range 2 {
				tr.left, tr.right, tr.feat = append(tr.left, -1), append(tr.right, -1), append(tr.feat, 0)
				tr.cond, tr.defaultLeft = append(tr.cond, 0), append(tr.defaultLeft, 0)
			}
			queue = append(queue, item{int(l), it.depth + 1}, item{int(l + 1), it.depth + 1})
		}
		trees = append(trees, tr)
		info = append(info, ti%nGroup)
		js = append(js, map[string]any{
			"tree_param":       map[string]string{"num_nodes": strconv.Itoa(len(tr.left)), "size_leaf_vector": "1"},
			"left_children":    tr.left,
			"right_children":   tr.right,
			"split_indices":    tr.feat,
			"split_conditions": tr.cond,
			"default_left":     tr.defaultLeft,
			"split_type":       make([]int, len(tr.left)),
		})
	}
	obj, nClass := "reg:squarederror", "0"
	if nGroup > 1 {
		obj, nClass = "multi:softprob", strconv.Itoa(nGroup)
	}
	file, err := json.Marshal(map[string]any{
		"version": []int{3, 2, 0},
		"learner": map[string]any{
			"gradient_booster": map[string]any{"name": "gbtree", "model": map[string]any{
				"gbtree_model_param": map[string]string{"num_trees": strconv.Itoa(nTrees), "num_parallel_tree": "1"},
				"tree_info":          info,
				"trees":              js,
			}},
			"learner_model_param": map[string]string{"base_score": "[2.5E-1]", "num_class": nClass,
				"num_feature": strconv.Itoa(nFeat), "num_target": "1"},
			"objective": map[string]string{"name": obj},
		},
	})
	if err != nil {
		panic(err)
	}
	return file, trees
}
