package scoring

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// mlpDoc is a small valid float32 model file: 2 inputs, 3 relu units, one
// logistic output.
func mlpDoc() map[string]any {
	return map[string]any{
		"format": MLPFormat, "source": "test", "dtype": "float32", "inputs": 2,
		"layers": []any{
			map[string]any{"activation": "relu", "weights": []any{[]any{1.0, -1.0, 0.5}, []any{0.25, 2.0, -3.0}}, "bias": []any{0.1, 0.2, 0.3}},
			map[string]any{"activation": "logistic", "weights": []any{[]any{1.0}, []any{-1.0}, []any{0.5}}, "bias": []any{-0.5}},
		},
	}
}

func layer(m map[string]any, i int) map[string]any { return obj(arr(m["layers"])[i]) }

func TestMLPLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(m map[string]any)
		raw  string // used instead of the edited document when set
		want string
	}{
		{"not json", nil, "{", "unexpected end"},
		{"trailing data", nil, `{"format":"streamscore-mlp/1"} {}`, "data after the model object"},
		{"unknown key", func(m map[string]any) { m["optimizer"] = "adam" }, "", `unknown key "optimizer"`},
		{"format", func(m map[string]any) { m["format"] = "keras" }, "", `format "keras"`},
		{"dtype", func(m map[string]any) { m["dtype"] = "float16" }, "", `dtype "float16"`},
		{"no inputs", func(m map[string]any) { m["inputs"] = 0 }, "", "inputs 0 not in"},
		{"no layers", func(m map[string]any) { m["layers"] = []any{} }, "", "0 layers"},
		{"too many layers", func(m map[string]any) {
			var ls []any
			for range MaxMLPLayers + 1 {
				ls = append(ls, map[string]any{"activation": "relu", "weights": []any{[]any{1.0}}, "bias": []any{0.0}})
			}
			m["inputs"], m["layers"] = 1, ls
		}, "", "65 layers"},
		{"no units", func(m map[string]any) { layer(m, 0)["bias"] = []any{} }, "", "layer 0: 0 units"},
		{"too many units", func(m map[string]any) { layer(m, 0)["bias"] = make([]any, MaxMLPUnits+1) }, "", "layer 0: 65537 units"},
		{"weight rows", func(m map[string]any) { m["inputs"] = 3 }, "", "layer 0: 2 weight rows, want one per input (3)"},
		{"weight row width", func(m map[string]any) { arr(layer(m, 1)["weights"])[2] = []any{1.0, 2.0} }, "", "layer 1: weight row 2 has 2 values"},
		{"activation", func(m map[string]any) { layer(m, 0)["activation"] = "gelu" }, "", `layer 0: activation "gelu"`},
		{"float32 overflow", func(m map[string]any) { arr(layer(m, 0)["weights"])[0] = []any{1e39, 0.0, 0.0} }, "", "not a finite float32"},
		{"bias overflow", func(m map[string]any) { layer(m, 1)["bias"] = []any{-1e300} }, "", "bias [0] -1e+300 is not a finite float32"},
		{"multi-label", func(m map[string]any) {
			layer(m, 1)["weights"] = []any{[]any{1.0, 1.0}, []any{1.0, 1.0}, []any{1.0, 1.0}}
			layer(m, 1)["bias"] = []any{0.0, 0.0}
		}, "", "last layer: 2 units with activation logistic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.raw)
			if tt.raw == "" {
				m := mlpDoc()
				tt.edit(m)
				var err error
				if data, err = json.Marshal(m); err != nil {
					t.Fatal(err)
				}
			}
			_, err := parseMLP(data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestMLPLoadChecksColumns(t *testing.T) {
	data, err := json.Marshal(mlpDoc())
	if err != nil {
		t.Fatal(err)
	}
	open := func(string) ([]byte, error) { return data, nil }
	mlp := fileKind{File: "model.json", kind: "mlp", read: readAs(parseMLP)}
	_, err = mlp.load(bundleFiles{open: open, columns: []string{"a", "b", "c"}})
	if want := "model.json: 2 inputs but the features produce 3 columns"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	m, err := mlp.load(bundleFiles{open: open, columns: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	got := m.Output()
	want := ModelOutput{Task: TaskBinary, Classes: 2, AlsoRegression: true, RefusesNaN: true, Tolerance: 1e-5}
	if got != want {
		t.Errorf("output: got %+v, want %+v", got, want)
	}
	if d := m.Describe()[0]; d != "mlp float32, 2-3-1 (relu, logistic), 13 weights" {
		t.Errorf("describe: got %q", d)
	}
}

// TestMLPPredictHandComputed: the predictor's outputs on the small network,
// against the arithmetic written out.
func TestMLPPredictHandComputed(t *testing.T) {
	data, _ := json.Marshal(mlpDoc())
	m, err := parseMLP(data)
	if err != nil {
		t.Fatal(err)
	}
	x := []float64{1, 2, -3, 0.5}
	want := func(a, b float32) float64 {
		h := []float32{max(a*1+b*0.25+0.1, 0), max(a*-1+b*2+0.2, 0), max(a*0.5+b*-3+0.3, 0)}
		z := h[0]*1 + h[1]*-1 + h[2]*0.5 + -0.5
		return float64(float32(1 / (1 + math.Exp(-float64(z)))))
	}
	for _, task := range []string{TaskBinary, TaskRegression} {
		out := make([]float64, 4)
		m.NewPredictor(task).Predict(x, 2, out)
		p0, p1 := want(1, 2), want(-3, 0.5)
		exp := []float64{1 - p0, p0, 1 - p1, p1}
		if task == TaskRegression {
			exp = []float64{p0, p1, 0, 0}
		}
		for i := range exp {
			if out[i] != exp[i] {
				t.Errorf("%s: out[%d] = %v, want %v", task, i, out[i], exp[i])
			}
		}
	}
}

// TestDenseKernel: the layer kernels (assembly tiles where the CPU has
// them, and the Go tile) give the fused multiply-add chain over the inputs in
// order, then + bias, for every row count and layer shape: the tiles and
// their padding must not change a row's arithmetic. float64 must match bit
// for bit; float32 within one rounding of the float64-emulated FMA.
func TestDenseKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, shape := range [][3]int{{1, 1, 1}, {3, 5, 1}, {4, 2, 2}, {7, 9, 3}, {9, 17, 5}, {64, 33, 17}, {13, 1, 16}, {5, 40, 9}} {
		n, in, units := shape[0], shape[1], shape[2]
		f := mlpFile{Format: MLPFormat, Inputs: in, Layers: []mlpFileLayer{{Activation: "tanh", Bias: make([]float64, units)}}}
		for range in {
			row := make([]float64, units)
			for j := range row {
				row[j] = rng.NormFloat64()
			}
			f.Layers[0].Weights = append(f.Layers[0].Weights, row)
		}
		for j := range units {
			f.Layers[0].Bias[j] = rng.NormFloat64()
		}
		x := make([]float64, n*in)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			checkDense[float32](t, f, x, n, 1e-6)
			checkDense[float64](t, f, x, n, 0)
		})
	}
}

func checkDense[T float32 | float64](t *testing.T, f mlpFile, x []float64, n int, tol float64) {
	t.Helper()
	net, err := newMLPNet[T](f)
	if err != nil {
		t.Fatal(err)
	}
	goNet := *net
	goNet.layers = append([]denseLayer[T](nil), net.layers...)
	goNet.layers[0].tile = nil
	in, units := f.Inputs, len(f.Layers[0].Bias)
	for name, nt := range map[string]*mlpNet[T]{"asm": net, "go": &goNet} {
		got := make([]float64, n*units)
		newMLPPredictor(nt, false).Predict(x, n, got)
		for r := range n {
			for j := range units {
				var s T
				for k := range in {
					s = T(math.FMA(float64(T(x[r*in+k])), float64(T(f.Layers[0].Weights[k][j])), float64(s)))
				}
				want := float64(T(math.Tanh(float64(s + T(f.Layers[0].Bias[j])))))
				if g := got[r*units+j]; math.Abs(g-want) > tol {
					t.Fatalf("%T %s: row %d unit %d: got %v, want %v", s, name, r, j, g, want)
				}
			}
		}
	}
}

func TestMLPSoftmaxRowsSumToOne(t *testing.T) {
	b := loadFixture(t, "gen-mlp-sk-multiclass")
	rows := fixtureRows(t, "testdata/bundles/gen-mlp-sk-multiclass", b)
	s := b.NewScorer()
	out := make([]Prediction, len(rows))
	s.ScoreBatch(rows, out)
	scored := 0
	for i, p := range out {
		if p.Reject != "" {
			continue
		}
		scored++
		sum := 0.0
		for _, v := range p.Probs {
			sum += v
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Errorf("row %d: probabilities sum to %v", i, sum)
		}
	}
	if scored == 0 {
		t.Fatal("no row scored")
	}
}

// TestLayoutFileOfAnotherLayout: a model file streamscore_export wrote in
// another layout (another kind, another exporter version) is refused by its
// "format", with the layout wanted, by both kinds that have one.
func TestLayoutFileOfAnotherLayout(t *testing.T) {
	for _, tc := range []struct {
		kind  string
		parse func([]byte) error
		file  string
		want  string // the layout the kind wants
	}{
		{"histgb", func(b []byte) error { _, err := parseHistGB(b); return err }, `{"format":"streamscore-mlp/1"}`, histgbFormat},
		{"mlp", func(b []byte) error { _, err := parseMLP(b); return err }, `{"format":"streamscore-histgb-2"}`, MLPFormat},
		{"mlp without format", func(b []byte) error { _, err := parseMLP(b); return err }, `{"dtype":"float32"}`, MLPFormat},
	} {
		want := fmt.Sprintf("want %q (write the file with streamscore_export)", tc.want)
		if err := tc.parse([]byte(tc.file)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s given %s: %v, want an error containing %q", tc.kind, tc.file, err, want)
		}
	}
}
