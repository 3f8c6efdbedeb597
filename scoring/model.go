package scoring

import (
	"encoding/json"
	"fmt"

	"github.com/streamscore/streamscore/internal/strictjson"
)

// Model is a loaded model of one kind (linear.go, xgboost.go, sklearn*.go). It is
// immutable and safe for concurrent use; what one goroutine needs to score
// (scratch buffers, converted inputs) lives in the Predictor it makes.
type Model interface {
	// Output says what the model produces; Parse checks it against the
	// manifest's task.
	Output() ModelOutput
	// NewPredictor returns the scoring state of one Scorer, for the
	// manifest's task (one that Output allows).
	NewPredictor(task string) Predictor
	// Describe returns the model's lines for `streamscore validate`: a
	// one-line description first (Bundle.ModelDescription), then details.
	Describe() []string
}

// Predictor scores blocks of feature rows for one goroutine. After its first
// calls have grown its buffers it must not allocate.
type Predictor interface {
	// Predict scores n rows of x (row-major float64, one value per model
	// column, NaN for missing) and writes each row's outputs to out, in the
	// layout of the task the Predictor was made for: [value] for regression,
	// [1-p, p] for binary (p the positive-class probability), the class
	// probabilities for multiclass. The model converts x to what it computes
	// in (float32 for XGBoost) itself.
	Predict(x []float64, n int, out []float64)
}

// ModelOutput is what a model produces.
type ModelOutput struct {
	Task    string // TaskRegression, TaskBinary or TaskMulticlass
	Classes int    // classifiers: number of classes (2 for binary); 0 for regression
	// AlsoRegression: a binary model whose score may be served as a number
	// under a regression task (XGBoost reg:logistic gives the probability,
	// binary:logitraw its raw margin).
	AlsoRegression bool
	// RefusesNaN: the training library refuses missing (NaN) inputs, as
	// scikit-learn's linear models do; the Scorer rejects such rows before the
	// model sees them (missing_field or not_finite).
	RefusesNaN bool
	// Tolerance, when not 0, is the relative difference from the training
	// library's outputs a reference check allows for this model, in place of
	// the defaults (float32 networks: 1e-5; see docs/bundle.md).
	Tolerance float64
	// RefusesFloat32Overflow: the library casts the inputs to float32 and
	// refuses a value beyond its range, as scikit-learn's trees do (the value
	// would be infinite); the Scorer rejects such rows (not_finite).
	RefusesFloat32Overflow bool
}

// ModelOutput is what the bundle's model produces (Model.Output).
func (b *Bundle) ModelOutput() ModelOutput { return b.out }

// FeatureNamer is implemented by models whose file names the columns it was
// trained on (XGBoost's feature_names). Parse checks the count against the
// feature pipeline's columns and warns (Bundle.Warnings) when names differ.
type FeatureNamer interface {
	FeatureNames() []string
}

// modelKind is one kind of the manifest's "model" object. Its exported
// fields are the object's keys besides "kind" (struct tags, decoded strictly
// by package strictjson); load reads the model's files through b and
// validates it against the feature columns.
type modelKind interface {
	Kind() string
	load(b bundleFiles) (Model, error)
}

// bundleFiles is what a model kind may read when it loads.
type bundleFiles struct {
	open    func(name string) ([]byte, error) // a file of the bundle directory, size-limited
	columns []string                          // the model columns the features produce, in order
}

// fileModel is a model read from one file of the bundle. modelColumns is
// how many columns it takes, and how its file says so, for the error when
// the features produce another number.
type fileModel interface {
	Model
	modelColumns() (n int, says string)
}

// loadModelFile is the load of a kind whose model is one file of the bundle
// (kind's key "file"): it reads the file, parses it and checks its columns
// against the features'. Errors name the file.
func loadModelFile(b bundleFiles, kind, file string, parse func(data []byte) (fileModel, error)) (Model, error) {
	if file == "" {
		return nil, fmt.Errorf("%s needs a file name", kind)
	}
	data, err := b.open(file)
	if err != nil {
		return nil, err
	}
	m, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if n, says := m.modelColumns(); n != len(b.columns) {
		return nil, fmt.Errorf("%s: %s but the features produce %d columns", file, says, len(b.columns))
	}
	return m, nil
}

// modelKinds is every model kind by name. A new kind is a new file with its
// Model and how its file is read, plus one entry here (or, for a kind with
// other keys than "file", its own type: fields = keys, Kind, load); the
// manifest decoder, the JSON Schema test and the docs test read it.
var modelKinds = strictjson.NewRegistry[modelKind]("kind", modelKind.Kind,
	linearKind{}, // the coefficients inline
	// a gbtree model saved by Booster.save_model as JSON
	fileKind{kind: "xgboost", read: readAs(parseXGBoost)},
	// a LightGBM model in its text format (Booster.save_model / model_to_string)
	fileKind{kind: "lightgbm", read: readAs(parseLightGBM)},
	// a fitted scikit-learn HistGradientBoostingClassifier or Regressor, its
	// predictors written as JSON by train/streamscore_export/histgb_model.py
	fileKind{kind: "histgb", read: readAs(parseHistGB)},
	// a feed-forward network of dense layers in JSON, written by
	// train/streamscore_export from scikit-learn's MLPClassifier/MLPRegressor
	// or a Keras model of Dense layers
	fileKind{kind: "mlp", read: readAs(parseMLP)},
	// a scikit-learn decision tree, random forest or extra-trees ensemble
	fileKind{kind: "sklearn_forest", read: readAs(sklearnReader(newForest))},
	// a scikit-learn GradientBoostingClassifier or GradientBoostingRegressor
	fileKind{kind: "sklearn_gradient_boosting", read: readAs(sklearnReader(newGB))},
)

// fileKind is the model object of a kind whose model is one file of the
// bundle, {"kind": ..., "file": ...}: File is the object's key, kind and
// read are the registry entry's.
type fileKind struct {
	File string `json:"file" bundle:"required"` // model file name inside the bundle
	kind string
	read func(data []byte) (fileModel, error)
}

// Kind implements modelKind.
func (k fileKind) Kind() string { return k.kind }

func (k fileKind) load(b bundleFiles) (Model, error) { return loadModelFile(b, k.kind, k.File, k.read) }

// readAs turns a kind's parse function into a fileKind's read.
func readAs[M fileModel](parse func(data []byte) (M, error)) func([]byte) (fileModel, error) {
	return func(data []byte) (fileModel, error) { return parse(data) }
}

// ModelKinds returns every model kind, sorted.
func ModelKinds() []string { return modelKinds.Names() }

// ModelKeys returns the keys (besides "kind") allowed and required in the
// model object of a kind, or ok=false for an unknown kind.
func ModelKeys(kind string) (allowed, required []string, ok bool) { return modelKinds.Keys(kind) }

// decodeModel decodes the manifest's model object into its kind's type.
func decodeModel(raw json.RawMessage) (modelKind, error) {
	obj, err := object(raw, nil, "model")
	if err != nil {
		return nil, err
	}
	k, err := modelKinds.Decode(obj)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return k, nil
}
