package scoring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Limits on an mlp model file, so that a hostile or broken file is an error
// and not an out-of-memory kill: layers, units per layer and weights in all.
const (
	MaxMLPLayers  = 64
	MaxMLPUnits   = 1 << 16
	MaxMLPWeights = 1 << 26
)

// MLPFormat is the "format" value of an mlp model file.
const MLPFormat = "streamscore-mlp/1"

// mlpFloat32Tolerance is the relative difference from the training library
// that a float32 network may show (docs/bundle.md): its sums run in another
// order than the library's GEMM, and float32 carries 7 digits.
const mlpFloat32Tolerance = 1e-5

// mlpKind is the "mlp" model object: a feed-forward network of dense layers
// in a JSON file of the bundle (written by train/streamscore_export from
// scikit-learn's MLPClassifier/MLPRegressor or a Keras model of Dense layers).
type mlpKind struct {
	File string `json:"file" bundle:"required"` // model file name inside the bundle
}

func (mlpKind) Kind() string { return "mlp" }

func (k mlpKind) load(b bundleFiles) (Model, error) {
	if k.File == "" {
		return nil, errors.New("mlp needs a file name")
	}
	data, err := b.open(k.File)
	if err != nil {
		return nil, err
	}
	m, err := parseMLP(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.File, err)
	}
	if m.inputs != len(b.columns) {
		return nil, fmt.Errorf("%s: %d inputs but the features produce %d columns", k.File, m.inputs, len(b.columns))
	}
	return m, nil
}

// mlpFile is the model file. Weights are JSON numbers: float64 values in
// shortest form, float32 ones as their exact value, so both read back
// exactly; see docs/bundle.md.
type mlpFile struct {
	Format string         `json:"format"` // MLPFormat
	Source string         `json:"source"` // what it was exported from (informational)
	DType  string         `json:"dtype"`  // float32 | float64: what the network computes in
	Inputs int            `json:"inputs"` // model columns
	Layers []mlpFileLayer `json:"layers"`
}

type mlpFileLayer struct {
	Activation string      `json:"activation"` // identity | relu | tanh | logistic | softmax
	Weights    [][]float64 `json:"weights"`    // one row per input of the layer, one value per unit (Keras kernel, sklearn coefs_)
	Bias       []float64   `json:"bias"`       // one value per unit
}

// activation is a layer's activation function.
type activation uint8

const (
	actIdentity activation = iota
	actReLU
	actTanh
	actLogistic
	actSoftmax
)

var activations = map[string]activation{
	"identity": actIdentity, "relu": actReLU, "tanh": actTanh, "logistic": actLogistic, "softmax": actSoftmax,
}

var activationNames = [...]string{"identity", "relu", "tanh", "logistic", "softmax"}

// mlpModel is a loaded network, in float32 or float64.
type mlpModel struct {
	dtype  string
	source string
	inputs int
	units  []int // per layer
	acts   []activation
	nW     int // weights and biases in all
	out    ModelOutput
	net32  *mlpNet[float32]
	net64  *mlpNet[float64]
}

// parseMLP reads and validates a model file.
func parseMLP(data []byte) (*mlpModel, error) {
	if len(data) > MaxModelBytes {
		return nil, fmt.Errorf("model file is %d bytes, more than the limit of %d", len(data), MaxModelBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f mlpFile
	if err := dec.Decode(&f); err != nil {
		return nil, jsonError(err, data)
	}
	if dec.More() {
		return nil, errors.New("data after the model object")
	}
	if f.Format != MLPFormat {
		return nil, fmt.Errorf("format %q, want %q", f.Format, MLPFormat)
	}
	if f.DType != "float32" && f.DType != "float64" {
		return nil, fmt.Errorf("dtype %q (want float32 or float64)", f.DType)
	}
	if f.Inputs < 1 || f.Inputs > MaxModelColumns {
		return nil, fmt.Errorf("inputs %d not in [1, %d]", f.Inputs, MaxModelColumns)
	}
	if len(f.Layers) == 0 || len(f.Layers) > MaxMLPLayers {
		return nil, fmt.Errorf("%d layers, want 1 to %d", len(f.Layers), MaxMLPLayers)
	}
	m := &mlpModel{dtype: f.DType, source: f.Source, inputs: f.Inputs}
	width := f.Inputs
	for i, l := range f.Layers {
		units := len(l.Bias)
		if units < 1 || units > MaxMLPUnits {
			return nil, fmt.Errorf("layer %d: %d units, want 1 to %d", i, units, MaxMLPUnits)
		}
		if len(l.Weights) != width {
			return nil, fmt.Errorf("layer %d: %d weight rows, want one per input (%d)", i, len(l.Weights), width)
		}
		m.nW += (width + 1) * units
		if m.nW > MaxMLPWeights {
			return nil, fmt.Errorf("more than %d weights in all", MaxMLPWeights)
		}
		for r, row := range l.Weights {
			if len(row) != units {
				return nil, fmt.Errorf("layer %d: weight row %d has %d values, want one per unit (%d)", i, r, len(row), units)
			}
		}
		act, ok := activations[l.Activation]
		if !ok {
			return nil, fmt.Errorf("layer %d: activation %q (want one of %s)", i, l.Activation, strings.Join(activationNames[:], ", "))
		}
		m.units = append(m.units, units)
		m.acts = append(m.acts, act)
		width = units
	}
	var err error
	if m.dtype == "float32" {
		m.net32, err = newMLPNet[float32](f)
	} else {
		m.net64, err = newMLPNet[float64](f)
	}
	if err != nil {
		return nil, err
	}
	if m.out, err = m.output(); err != nil {
		return nil, err
	}
	return m, nil
}

// output says what the last layer makes: one logistic unit or two softmax
// units are binary, more softmax units multiclass, one unit of any other
// activation a regression.
func (m *mlpModel) output() (ModelOutput, error) {
	o := ModelOutput{RefusesNaN: true}
	if m.dtype == "float32" {
		o.Tolerance = mlpFloat32Tolerance
	}
	last := len(m.units) - 1
	units, act := m.units[last], m.acts[last]
	switch {
	case act == actLogistic && units == 1:
		o.Task, o.Classes, o.AlsoRegression = TaskBinary, 2, true
	case act == actSoftmax && units == 2:
		o.Task, o.Classes = TaskBinary, 2
	case act == actSoftmax && units > 2:
		if units > MaxClasses {
			return o, fmt.Errorf("last layer: %d classes, more than the limit of %d", units, MaxClasses)
		}
		o.Task, o.Classes = TaskMulticlass, units
	case units == 1 && act != actSoftmax:
		o.Task = TaskRegression
	default:
		return o, fmt.Errorf("last layer: %d units with activation %s is neither a classifier (one logistic unit, softmax units) "+
			"nor a single-output regression; multi-label and multi-output models are not supported", units, activationNames[act])
	}
	return o, nil
}

// Output implements Model. Both libraries refuse or propagate NaN, so rows
// with a missing model column are rejected before the network.
func (m *mlpModel) Output() ModelOutput { return m.out }

// Describe implements Model.
func (m *mlpModel) Describe() []string {
	shape := []string{fmt.Sprint(m.inputs)}
	acts := make([]string, len(m.acts))
	for i, u := range m.units {
		shape = append(shape, fmt.Sprint(u))
		acts[i] = activationNames[m.acts[i]]
	}
	lines := []string{fmt.Sprintf("mlp %s, %s (%s), %d weights", m.dtype, strings.Join(shape, "-"), strings.Join(acts, ", "), m.nW)}
	if m.source != "" {
		lines = append(lines, "exported from "+m.source)
	}
	return lines
}

// NewPredictor implements Model.
func (m *mlpModel) NewPredictor(task string) Predictor {
	binary := m.out.Task == TaskBinary && m.units[len(m.units)-1] == 1 && task == TaskBinary
	if m.net32 != nil {
		return newMLPPredictor(m.net32, binary)
	}
	return newMLPPredictor(m.net64, binary)
}

// mlpNet is the network in the type it computes in.
type mlpNet[T float32 | float64] struct {
	layers []denseLayer[T]
	width  int // widest layer input or output
}

// denseLayer is one layer: the kernel transposed (a row of in weights per
// unit, so that each output is a dot product over contiguous memory).
type denseLayer[T float32 | float64] struct {
	in, units int
	act       activation
	w         []T // units x in
	b         []T
}

func newMLPNet[T float32 | float64](f mlpFile) (*mlpNet[T], error) {
	n := &mlpNet[T]{width: f.Inputs}
	in := f.Inputs
	for i, l := range f.Layers {
		units := len(l.Bias)
		d := denseLayer[T]{in: in, units: units, act: activations[l.Activation], w: make([]T, units*in), b: make([]T, units)}
		for r, row := range l.Weights {
			for j, v := range row {
				t := T(v)
				if !isFinite(float64(t)) {
					return nil, fmt.Errorf("layer %d: weight [%d][%d] %v is not a finite %s", i, r, j, v, f.DType)
				}
				d.w[j*in+r] = t
			}
		}
		for j, v := range l.Bias {
			t := T(v)
			if !isFinite(float64(t)) {
				return nil, fmt.Errorf("layer %d: bias [%d] %v is not a finite %s", i, j, v, f.DType)
			}
			d.b[j] = t
		}
		n.layers = append(n.layers, d)
		n.width = max(n.width, units)
		in = units
	}
	return n, nil
}

// mlpPredictor holds one Scorer's activations of a block, two buffers used
// in turn as a layer's input and output.
type mlpPredictor[T float32 | float64] struct {
	net    *mlpNet[T]
	binary bool // one logistic unit served as [1-p, p]
	a, b   []T  // blockRows x width each
}

func newMLPPredictor[T float32 | float64](net *mlpNet[T], binary bool) *mlpPredictor[T] {
	return &mlpPredictor[T]{net: net, binary: binary, a: make([]T, blockRows*net.width), b: make([]T, blockRows*net.width)}
}

// Predict implements Predictor: blocks of up to blockRows rows are
// converted to T and sent through the layers.
func (p *mlpPredictor[T]) Predict(x []float64, n int, out []float64) {
	layers := p.net.layers
	in := layers[0].in
	last := layers[len(layers)-1].units
	k := last
	if p.binary {
		k = 2
	}
	for r0 := 0; r0 < n; r0 += blockRows {
		rows := min(blockRows, n-r0)
		src := p.a[:rows*in]
		for i, v := range x[r0*in : (r0+rows)*in] {
			src[i] = T(v)
		}
		dst := p.b
		for i := range layers {
			l := &layers[i]
			d := dst[:rows*l.units]
			dense(d, src, rows, l)
			src, dst = d, src[:cap(src)]
		}
		o := out[r0*k : (r0+rows)*k]
		if p.binary {
			for r, v := range src {
				q := float64(v)
				o[2*r], o[2*r+1] = 1-q, q
			}
		} else {
			for i, v := range src {
				o[i] = float64(v)
			}
		}
	}
}

// dense computes the layer for n rows of src into dst and applies its
// activation. Every output is sum_k x[k]*w[k] in k order, each product
// rounded to T (the conversions keep the compiler from fusing them into FMAs
// on some platforms and not others), then + bias, as sklearn (dot, then +=
// intercepts) and Keras (matmul, then add bias) do; the same order for every
// row, whether it is scored alone or in a block. Rows go four at a time
// against two units: eight independent sums keep the FPU busy.
func dense[T float32 | float64](dst, src []T, n int, l *denseLayer[T]) {
	in, units, w, b := l.in, l.units, l.w, l.b
	r := 0
	for ; r+4 <= n; r += 4 {
		x0 := src[r*in : r*in+in]
		x1 := src[(r+1)*in : (r+1)*in+in]
		x2 := src[(r+2)*in : (r+2)*in+in]
		x3 := src[(r+3)*in : (r+3)*in+in]
		j := 0
		for ; j+2 <= units; j += 2 {
			w0 := w[j*in : j*in+in]
			w1 := w[(j+1)*in : (j+1)*in+in]
			var s00, s01, s10, s11, s20, s21, s30, s31 T
			for k, a := range w0 {
				c := w1[k]
				v0, v1, v2, v3 := x0[k], x1[k], x2[k], x3[k]
				s00 += T(v0 * a)
				s01 += T(v0 * c)
				s10 += T(v1 * a)
				s11 += T(v1 * c)
				s20 += T(v2 * a)
				s21 += T(v2 * c)
				s30 += T(v3 * a)
				s31 += T(v3 * c)
			}
			b0, b1 := b[j], b[j+1]
			dst[r*units+j], dst[r*units+j+1] = s00+b0, s01+b1
			dst[(r+1)*units+j], dst[(r+1)*units+j+1] = s10+b0, s11+b1
			dst[(r+2)*units+j], dst[(r+2)*units+j+1] = s20+b0, s21+b1
			dst[(r+3)*units+j], dst[(r+3)*units+j+1] = s30+b0, s31+b1
		}
		for ; j < units; j++ {
			w0 := w[j*in : j*in+in]
			var s0, s1, s2, s3 T
			for k, a := range w0 {
				s0 += T(x0[k] * a)
				s1 += T(x1[k] * a)
				s2 += T(x2[k] * a)
				s3 += T(x3[k] * a)
			}
			dst[r*units+j] = s0 + b[j]
			dst[(r+1)*units+j] = s1 + b[j]
			dst[(r+2)*units+j] = s2 + b[j]
			dst[(r+3)*units+j] = s3 + b[j]
		}
	}
	for ; r < n; r++ {
		x0 := src[r*in : r*in+in]
		for j := range units {
			w0 := w[j*in : j*in+in]
			var s T
			for k, a := range w0 {
				s += T(x0[k] * a)
			}
			dst[r*units+j] = s + b[j]
		}
	}
	activate(dst[:n*units], units, l.act)
}

// activate applies an activation in place to rows of units values. The
// transcendental functions are computed in float64 and rounded to T.
func activate[T float32 | float64](v []T, units int, act activation) {
	switch act {
	case actReLU:
		for i, x := range v {
			v[i] = max(x, 0) // NaN stays NaN, as np.maximum and jax.nn.relu
		}
	case actTanh:
		for i, x := range v {
			v[i] = T(math.Tanh(float64(x)))
		}
	case actLogistic:
		for i, x := range v {
			v[i] = T(1 / (1 + math.Exp(-float64(x))))
		}
	case actSoftmax:
		for r := 0; r+units <= len(v); r += units {
			softmaxT(v[r : r+units])
		}
	}
}

// softmaxT is sklearn's inplace_softmax (and jax.nn.softmax): subtract the
// row's max, exponentiate, divide by the sum (summed in T, in order).
func softmaxT[T float32 | float64](v []T) {
	mx := v[0]
	for _, x := range v[1:] {
		mx = max(mx, x)
	}
	var s T
	for i, x := range v {
		e := T(math.Exp(float64(x - mx)))
		v[i] = e
		s += e
	}
	for i := range v {
		v[i] /= s
	}
}
