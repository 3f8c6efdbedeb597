package scoring

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSklearnCond proves the threshold mapping: for every float32 x near a
// threshold t (float32(t) and 40 float32 steps to either side, the
// infinities, zeros and denormals), scikit-learn's "left when
// float64(x) <= t" equals the kernel's "left when x < cond".
func TestSklearnCond(t *testing.T) {
	inf := math.Inf(1)
	thresholds := []float64{
		0, math.Copysign(0, -1), 0.1, -0.1, 1, -1, 0.5, 1.0 / 3, 2.5e-4, 1e-30, -1e-30,
		float64(float32(0.1)),                                       // a float32 value itself
		float64(float32(0.1)) + 1e-12,                               // just above a float32
		float64(float32(0.1)) - 1e-12,                               // just below a float32
		(float64(float32(1)) + float64(math.Nextafter32(1, 2))) / 2, // halfway between two float32s
		math.SmallestNonzeroFloat64, 1e-45, 7e-46, float64(math.SmallestNonzeroFloat32),
		math.MaxFloat32, math.MaxFloat32 * (1 + 1e-9), -math.MaxFloat32, 1e300, -1e300, math.MaxFloat64,
		inf, -inf,
	}
	for _, th := range thresholds {
		c := sklearnCond(th)
		xs := []float32{float32(inf), float32(-inf), 0, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32,
			-math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32}
		up, down := float32(th), float32(th)
		for k := 0; k < 40; k++ {
			xs = append(xs, up, down)
			up, down = math.Nextafter32(up, float32(inf)), math.Nextafter32(down, float32(-inf))
		}
		for _, x := range xs {
			if math.IsInf(float64(x), 1) && math.IsInf(th, 1) {
				continue // +inf <= +inf; infinite inputs never reach the kernel
			}
			want := float64(x) <= th
			if got := x < c; got != want {
				t.Errorf("threshold %v (cond %v), x %v: kernel left=%v, scikit-learn left=%v", th, c, x, got, want)
			}
		}
	}
}

func TestSkFloats(t *testing.T) {
	tests := []struct {
		in   string
		want []float64
		err  string
	}{
		{`[]`, []float64{}, ""},
		{`[ 1 , -2.5e-3,0]`, []float64{1, -2.5e-3, 0}, ""},
		{`["inf", "-inf", 1e308]`, []float64{math.Inf(1), math.Inf(-1), 1e308}, ""},
		{`[1e999]`, nil, "element 0: 1e999 is not a float64"},
		{`[1, "nan"]`, nil, `element 1: "nan" is not a number`},
		{`[true]`, nil, "element 0: true is not a number"},
		{`[[1,2]]`, nil, "element 0: [1 is not a number"},
		{`["1,2"]`, nil, `element 0: "1 is not a number`},
		{`{"a": 1}`, nil, "want an array of numbers"},
		{`3`, nil, "want an array of numbers"},
	}
	for _, tt := range tests {
		var got struct {
			V skFloats `json:"v"`
		}
		err := json.Unmarshal([]byte(`{"v": `+tt.in+`}`), &got)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: got error %v, want one containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if len(got.V) != len(tt.want) {
			t.Errorf("%s: got %v, want %v", tt.in, got.V, tt.want)
			continue
		}
		for i := range tt.want {
			if got.V[i] != tt.want[i] {
				t.Errorf("%s: got %v, want %v", tt.in, got.V, tt.want)
			}
		}
	}
}

// TestSklearnModelErrors: a model file that is broken or hostile is a load
// error naming the file and what is wrong, never a panic.
func TestSklearnModelErrors(t *testing.T) {
	tree := func(m map[string]any) map[string]any { return obj(arr(m["trees"])[0]) }
	tests := []struct {
		fixture string
		edit    func(m map[string]any)
		want    string
	}{
		{"gen-sk-rf-binary", func(m map[string]any) { m["max_depth"] = 3 }, `model.json: unknown key "max_depth"`},
		{"gen-sk-rf-binary", func(m map[string]any) { m["n_features"] = 5 }, "n_features 5 but the features produce 4 columns"},
		{"gen-sk-rf-binary", func(m map[string]any) { m["n_classes"] = 1 }, "n_classes 1: want 0 (a regressor) or 2.."},
		{"gen-sk-rf-binary", func(m map[string]any) { m["estimator"] = "IsolationForest" }, `estimator "IsolationForest" is not a forest`},
		{"gen-sk-rf-binary", func(m map[string]any) { m["learning_rate"] = 0.1 }, "belong to gradient boosting"},
		{"gen-sk-rf-binary", func(m map[string]any) { m["trees"] = []any{} }, "no trees"},
		{"gen-sk-rf-binary", func(m map[string]any) { m["trees"] = []any{nil} }, "tree 0 is null"},
		{"gen-sk-rf-binary", func(m map[string]any) { tree(m)["feature"] = arr(tree(m)["feature"])[1:] }, "tree 0: node arrays differ in length"},
		{"gen-sk-rf-binary", func(m map[string]any) { tree(m)["value"] = arr(tree(m)["value"])[1:] }, "tree 0: 121 values for 61 nodes, want 2 per node"},
		{"gen-sk-rf-binary", func(m map[string]any) { arr(tree(m)["children_left"])[0] = 0.0 }, "tree 0: node 0: children 0, 32 out of range"},
		{"gen-sk-rf-binary", func(m map[string]any) { arr(tree(m)["children_right"])[1] = 0.0 }, "tree 0: node 1: children 2, 0 out of range"},
		{"gen-sk-rf-binary", func(m map[string]any) { arr(tree(m)["children_right"])[1] = 32.0 }, "a child is reached twice"},
		{"gen-sk-rf-binary", func(m map[string]any) { arr(tree(m)["children_right"])[5] = 5.0 }, "tree 0: node 5: left child -1 but right child 5"},
		{"gen-sk-rf-binary", func(m map[string]any) { arr(tree(m)["feature"])[0] = 4.0 }, "node 0: split feature 4 out of range [0, 4)"},
		{"gen-sk-rf-binary", func(m map[string]any) { arr(tree(m)["feature"])[0] = -2.0 }, "node 0: split feature -2 out of range"},
		{"gen-sk-rf-binary", func(m map[string]any) { arr(tree(m)["threshold"])[0] = "nan" }, `"nan" is not a number`},
		{"gen-sk-rf-binary", func(m map[string]any) { arr(tree(m)["missing_go_to_left"])[0] = 2.0 }, "missing_go_to_left 2 is not 0 or 1"},
		{"gen-sk-rf-binary", func(m map[string]any) { arr(tree(m)["value"])[10] = "inf" }, "value +Inf is not finite"},
		{"gen-sk-gb-multiclass", func(m map[string]any) { m["init"] = []any{0.1, 0.2} }, "init has 2 values, want 3"},
		{"gen-sk-gb-multiclass", func(m map[string]any) { m["init"] = []any{0.1, 0.2, "inf"} }, "init[2] is not finite"},
		{"gen-sk-gb-multiclass", func(m map[string]any) { m["trees"] = arr(m["trees"])[1:] }, "35 trees is not a whole number of stages of 3"},
		{"gen-sk-gb-multiclass", func(m map[string]any) { m["loss"] = "huber" }, `loss "huber" with GradientBoostingClassifier`},
		{"gen-sk-gb-multiclass", func(m map[string]any) { m["loss"] = "exponential" }, "loss exponential needs 2 classes"},
		{"gen-sk-gb-multiclass", func(m map[string]any) { m["loss"] = "deviance" }, `loss "deviance" is not supported`},
		{"gen-sk-gb-multiclass", func(m map[string]any) { delete(m, "learning_rate") }, "learning_rate must be a finite number"},
		{"gen-sk-gb-multiclass", func(m map[string]any) { m["estimator"] = "RandomForestClassifier" }, `estimator "RandomForestClassifier" is not GradientBoosting`},
		{"gen-sk-gb-multiclass", func(m map[string]any) { tree(m)["value"] = []any{1.0} }, "tree 0: 1 values for 7 nodes, want 1 per node"},
	}
	for _, tt := range tests {
		manifest := readFixture(t, tt.fixture, "bundle.json")
		model := edit(t, readFixture(t, tt.fixture, "model.json"), tt.edit)
		_, err := Parse(manifest, func(string) ([]byte, error) { return model, nil })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got error %v, want one containing %q", tt.fixture, err, tt.want)
		}
	}
	// a forest's file under the boosting kind and the other way round
	for _, swap := range [][2]string{{"gen-sk-rf-binary", "sklearn_gradient_boosting"}, {"gen-sk-gb-binary", "sklearn_forest"}} {
		manifest := edit(t, readFixture(t, swap[0], "bundle.json"), func(m map[string]any) { obj(m["model"])["kind"] = swap[1] })
		model := readFixture(t, swap[0], "model.json")
		if _, err := Parse(manifest, func(string) ([]byte, error) { return model, nil }); err == nil {
			t.Errorf("%s as %s: loaded, want an error", swap[0], swap[1])
		}
	}
}

// FuzzSklearnModel feeds arbitrary model files to both scikit-learn kinds
// (4 model columns, as the gen-sk-* fixtures). A file they accept must score
// hostile rows without panicking. Seeds: the fixtures' model files.
func FuzzSklearnModel(f *testing.F) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "bundles", "gen-sk-*"))
	for _, d := range dirs {
		if data, err := os.ReadFile(filepath.Join(d, "model.json")); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"estimator":"DecisionTreeRegressor","n_features":4,"n_classes":0,"trees":[{"children_left":[1,-1,-1],` +
		`"children_right":[2,-1,-1],"feature":[3,-2,-2],"threshold":["inf",-2,-2],"missing_go_to_left":[1,0,0],"value":[0,1,2]}]}`))
	x := make([]float64, blockRows*4)
	for i := range x {
		switch i % 5 {
		case 0:
			x[i] = math.NaN()
		case 1:
			x[i] = math.MaxFloat32
		case 2:
			x[i] = -1e-45
		default:
			x[i] = float64(i) - 100
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var models []Model
		if m, err := parseSklearn(data, newForest); err == nil && m.trees.nFeature == 4 {
			models = append(models, m)
		}
		if m, err := parseSklearn(data, newGB); err == nil && m.trees.nFeature == 4 {
			models = append(models, m)
		}
		predictAll(models, x)
	})
}

// TestSklearnRejects: what scikit-learn refuses, the Scorer rejects with the
// reason and the column: a value beyond float32's range (every kind), a
// missing value (gradient boosting only; the forests take it down each node's
// missing_go_to_left).
func TestSklearnRejects(t *testing.T) {
	tests := []struct {
		fixture, event, reason, feature string
	}{
		{"gen-sk-rf-binary", `{"a": 1, "b": 2, "c": 3.5e38, "d": 1}`, "not_finite", "c"},
		{"gen-sk-rf-binary", `{"a": 1, "b": -1e39, "c": 0, "d": 1}`, "not_finite", "b"},
		{"gen-sk-rf-binary", `{"a": 3.4028235e38, "c": 0, "d": 1}`, "", ""}, // rounds to the largest float32; b missing
		{"gen-sk-gb-binary", `{"a": 1, "b": 2, "c": 0, "d": 3.5e38}`, "not_finite", "d"},
		{"gen-sk-gb-binary", `{"a": 1, "c": 0, "d": 1}`, "missing_field", "b"},
		{"gen-sk-gb-binary", `{"b": 1, "d": 1}`, "", ""}, // a and c are imputed
	}
	for _, tt := range tests {
		b := loadFixture(t, tt.fixture)
		p := b.NewScorer().ScoreOne(jsonRow(t, b, tt.event))
		if string(p.Reject) != tt.reason || p.RejectFeature != tt.feature {
			t.Errorf("%s %s: got reject %q (%q), want %q (%q)", tt.fixture, tt.event, p.Reject, p.RejectFeature, tt.reason, tt.feature)
		}
	}
}

// FuzzSklearnTrees builds small trees straight from the fuzzer's bytes
// (children, features, thresholds, default directions, values: 5 bytes a
// node, most of them hostile), so that the tree checks and the kernels see
// far more shapes than mutated JSON reaches. What the loader accepts must be
// scored without panicking, and a forest's outputs must equal a plain
// walk of the file's arrays with scikit-learn's rule (float32(x) <= threshold
// goes left, NaN by missing_go_to_left), summed in tree order.
func FuzzSklearnTrees(f *testing.F) {
	f.Add([]byte{1, 2, 0, 128, 1, 255, 255, 0, 0, 0, 255, 255, 0, 0, 0}, uint8(0), uint8(2))
	f.Add([]byte{1, 2, 3, 0, 0, 3, 4, 1, 7, 1, 255, 255, 0, 0, 0, 255, 255, 0, 0, 0, 255, 255, 0, 0, 0}, uint8(1), uint8(3))
	x := make([]float64, blockRows*4)
	for i := range x {
		x[i] = []float64{math.NaN(), 0, -1, 0.5, 1e30, -1e-40}[i%6]
	}
	thresholds := []float64{0, 0.5, -1, math.Inf(1), math.Inf(-1), math.NaN(), 1e39, math.SmallestNonzeroFloat64}
	f.Fuzz(func(t *testing.T, data []byte, trees, classes uint8) {
		const per = 5
		n := min(len(data)/per, 64)
		if n == 0 {
			return
		}
		nClasses := int(classes % 4) // 0 regressor, 1 invalid, 2 binary, 3 classes
		w := max(nClasses, 1)
		tree := &skTree{}
		for i := 0; i < n; i++ {
			b := data[i*per : (i+1)*per]
			child := func(v byte) int64 {
				if v == 255 {
					return -1
				}
				return int64(v) % int64(n+1)
			}
			tree.ChildrenLeft = append(tree.ChildrenLeft, child(b[0]))
			tree.ChildrenRight = append(tree.ChildrenRight, child(b[1]))
			tree.Feature = append(tree.Feature, int64(b[2]%6)-1)
			tree.Threshold = append(tree.Threshold, thresholds[b[3]%8]+float64(b[3]>>3))
			tree.MissingGoToLeft = append(tree.MissingGoToLeft, int8(b[4]%3))
			for c := 0; c < w; c++ {
				tree.Value = append(tree.Value, float64(b[4])/float64(c+1))
			}
		}
		nt := int(trees%9) + 1
		lr := 0.1
		mk := func(est, loss string) *skFile {
			fl := &skFile{Estimator: est, NFeatures: 4, NClasses: nClasses, Loss: loss}
			for range nt {
				c := *tree
				fl.Trees = append(fl.Trees, &c)
			}
			if loss != "" {
				fl.LearningRate = &lr
				k := 1
				if nClasses > 2 {
					k = nClasses
				}
				fl.Init = make(skFloats, k)
			}
			return fl
		}
		var models []Model
		if m, err := newForest(mk("RandomForestClassifier", "")); err == nil {
			models = append(models, m)
			out := make([]float64, blockRows*w)
			m.NewPredictor("").Predict(x, blockRows, out)
			for r := 0; r < blockRows; r++ {
				leaf := refWalk(tree, x[r*4:(r+1)*4])
				for c := 0; c < w; c++ {
					want := 0.0
					for range nt {
						want += tree.Value[leaf*w+c]
					}
					want /= float64(nt)
					if got := out[r*w+c]; got != want {
						t.Fatalf("row %d class %d: kernel %v, plain walk %v (leaf %d)", r, c, got, want, leaf)
					}
				}
			}
		}
		loss := "squared_error"
		if nClasses > 0 {
			loss = "log_loss"
		}
		if m, err := newGB(mk("GradientBoostingClassifier", loss)); err == nil {
			models = append(models, m)
		}
		if m, err := newGB(mk("GradientBoostingRegressor", loss)); err == nil {
			models = append(models, m)
		}
		predictAll(models, x)
	})
}

// refWalk is scikit-learn's apply for one row: the leaf it reaches.
func refWalk(tr *skTree, row []float64) int {
	i := 0
	for tr.ChildrenLeft[i] != -1 {
		v := float32(row[tr.Feature[i]])
		left := float64(v) <= tr.Threshold[i]
		if v != v {
			left = tr.MissingGoToLeft[i] == 1
		}
		if left {
			i = int(tr.ChildrenLeft[i])
		} else {
			i = int(tr.ChildrenRight[i])
		}
	}
	return i
}

// predictAll scores blocks of 1, 7, 8, 17 and 64 rows of x (4 columns)
// with each model, every path of the kernels.
func predictAll(models []Model, x []float64) {
	for _, m := range models {
		o := m.Output()
		nOut := max(o.Classes, 1)
		out := make([]float64, blockRows*nOut)
		p := m.NewPredictor(o.Task)
		for _, rows := range []int{1, 7, 8, 17, blockRows} {
			p.Predict(x[:rows*4], rows, out[:rows*nOut])
		}
		_ = m.Describe()
	}
}
