package scoring

import (
	"fmt"
	"math"
	"strings"
	"unsafe"
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

func (f *mlpFile) layout() string { return f.Format }

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
	var f mlpFile
	if err := decodeLayoutFile(data, &f, MLPFormat); err != nil {
		return nil, err
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

// modelColumns implements fileModel.
func (m *mlpModel) modelColumns() (int, string) {
	return m.inputs, fmt.Sprintf("%d inputs", m.inputs)
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
	width  int // widest row of the activation buffers: the inputs, or a layer's padded units
}

// denseLayer is one layer, its kernel packed for the tile kernels: the
// units in panels of panelWidth (64 bytes: 16 float32 or 8 float64), each
// panel in rows of panelWidth weights, one row per input, zero past units.
type denseLayer[T float32 | float64] struct {
	in, units int
	stride    int // units rounded up to panelWidth: the row stride of the layer's output
	act       activation
	w         []T // stride x in, panel by panel
	b         []T
	tile      tileFunc[T] // the assembly tile kernel, or nil for goTile
}

// tileFunc computes 4 rows x one panel of a layer (mlp_amd64.s): for each
// row r and unit u of the panel, c[r][u] = sum over i < k of x[r][i] *
// w[i][u], one fused multiply-add per i in i order. Rows of x are xs bytes
// apart, rows of c cs bytes apart.
type tileFunc[T float32 | float64] func(x *T, xs uintptr, w *T, k int, c *T, cs uintptr)

func panelWidth[T float32 | float64]() int { return 64 / int(unsafe.Sizeof(T(0))) }

func newMLPNet[T float32 | float64](f mlpFile) (*mlpNet[T], error) {
	P := panelWidth[T]()
	n := &mlpNet[T]{width: f.Inputs}
	in := f.Inputs
	for i, l := range f.Layers {
		units := len(l.Bias)
		stride := (units + P - 1) / P * P
		d := denseLayer[T]{in: in, units: units, stride: stride, act: activations[l.Activation],
			w: make([]T, stride*in), b: make([]T, units), tile: asmTile[T]()}
		for r, row := range l.Weights {
			for j, v := range row {
				t := T(v)
				if !isFinite(float64(t)) {
					return nil, fmt.Errorf("layer %d: weight [%d][%d] %v is not a finite %s", i, r, j, v, f.DType)
				}
				d.w[j/P*P*in+r*P+j%P] = t
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
		n.width = max(n.width, stride)
		in = units
	}
	return n, nil
}

// mlpPredictor holds one Scorer's activations of a block: two buffers of
// blockRows rows, used in turn as a layer's input and output.
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
		src, dst, stride := p.a, p.b, in
		for i, v := range x[r0*in : (r0+rows)*in] {
			src[i] = T(v)
		}
		for i := range layers {
			l := &layers[i]
			dense(dst, src, rows, stride, l)
			src, dst, stride = dst, src, l.stride
		}
		o := out[r0*k : (r0+rows)*k]
		for r := range rows {
			v := src[r*stride : r*stride+last]
			if p.binary {
				q := float64(v[0])
				o[2*r], o[2*r+1] = 1-q, q
				continue
			}
			for j, y := range v {
				o[r*last+j] = float64(y)
			}
		}
	}
}

// dense computes the layer for n rows of src (rows stride values apart;
// src and dst are whole blockRows buffers) into dst (rows l.stride apart),
// then adds the bias and applies the activation. Every output is the fused
// multiply-add chain over the inputs in order, then + bias, as sklearn (dot,
// then += intercepts) and Keras (matmul, then add bias) order them; the same
// chain for every row, whether it is scored alone or in a block. The tile
// kernels take rows four at a time: a block's last tile may read and write
// rows past n, which are inside the buffers and never read back.
func dense[T float32 | float64](dst, src []T, n, stride int, l *denseLayer[T]) {
	if l.tile != nil {
		sz := unsafe.Sizeof(T(0))
		P := panelWidth[T]()
		for r := 0; r < n; r += 4 {
			for p := 0; p < l.stride; p += P {
				l.tile(&src[r*stride], uintptr(stride)*sz, &l.w[p*l.in], l.in, &dst[r*l.stride+p], uintptr(l.stride)*sz)
			}
		}
	} else {
		goTile(dst, src, n, stride, l)
	}
	for r := range n {
		row := dst[r*l.stride : r*l.stride+l.units]
		for j, b := range l.b[:len(row)] {
			row[j] += b
		}
		activate(row, l.units, l.act)
	}
}

// goTile is the tile kernels' arithmetic in Go, for CPUs without them.
// math.FMA rounds once, as the instruction does (float64 exactly; float32
// through float64, which can differ from a float32 FMA in the last bit).
func goTile[T float32 | float64](dst, src []T, n, stride int, l *denseLayer[T]) {
	P := panelWidth[T]()
	for r := range n {
		x := src[r*stride : r*stride+l.in]
		for u := range l.units {
			w := l.w[u/P*P*l.in+u%P:]
			var acc T
			for i, v := range x {
				acc = T(math.FMA(float64(v), float64(w[i*P]), float64(acc)))
			}
			dst[r*l.stride+u] = acc
		}
	}
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
