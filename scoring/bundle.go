package scoring

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/streamscore/streamscore/features"
)

// Tasks a bundle can declare in output.task.
const (
	TaskBinary     = "binary"
	TaskMulticlass = "multiclass"
	TaskRegression = "regression"
)

// Bundle is a loaded, validated model bundle: input layout, compiled feature
// pipeline, model and decision policy. It is immutable and safe for
// concurrent use; per-goroutine state lives in a Scorer.
type Bundle struct {
	Name        string
	Version     string
	Description string
	Manifest    *Manifest

	layout   *features.Layout
	pipe     *features.Pipeline
	model    Model
	out      ModelOutput
	policy   policy
	nOut     int // model outputs per row: classes for classifiers, 1 for regression
	warnings []string
}

// Load reads the bundle in dir (bundle.json and the model file it names) and
// validates everything: manifest, feature spec, model structure, that the
// pipeline's columns match what the model expects, and, when the manifest
// records them, that reference.jsonl (if there) has the rows and SHA-256 it
// had when exported.
func Load(dir string) (*Bundle, error) {
	data, err := readLimited(dir, "bundle.json", MaxManifestBytes)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	b, err := Parse(data, func(name string) ([]byte, error) { return readLimited(dir, name, MaxModelBytes) })
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	if ref := b.Manifest.Reference; ref != nil {
		if err := ref.check(dir); err != nil {
			return nil, fmt.Errorf("bundle %s: %w", dir, err)
		}
	}
	return b, nil
}

// readLimited reads a file inside dir without following paths out of it.
func readLimited(dir, name string, limit int64) ([]byte, error) {
	if !filepath.IsLocal(name) || strings.ContainsAny(name, `\`) {
		return nil, fmt.Errorf("file %q must be a relative path inside the bundle directory", name)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, noFile(name)
		}
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than the limit of %d bytes", name, limit)
	}
	return data, nil
}

// noFile is a file of the bundle that is not there: it reads "NAME: no such
// file" and is fs.ErrNotExist for errors.Is.
type noFile string

func (e noFile) Error() string { return string(e) + ": no such file" }
func (e noFile) Unwrap() error { return fs.ErrNotExist }

// Parse builds a bundle from manifest bytes; open returns the bytes of a file
// the manifest names (such as the XGBoost model). It is Load without the file
// system, for tests and fuzzing.
func Parse(manifest []byte, open func(name string) ([]byte, error)) (*Bundle, error) {
	m, err := ParseManifest(manifest)
	if err != nil {
		return nil, fmt.Errorf("bundle.json: %w", err)
	}
	b := &Bundle{Name: m.Name, Version: m.Version, Description: m.Description, Manifest: m}
	if b.layout, err = features.NewLayout(m.Inputs); err != nil {
		return nil, fmt.Errorf("bundle.json: inputs: %w", err)
	}
	if b.pipe, err = features.Compile(b.layout, m.Features); err != nil {
		return nil, fmt.Errorf("bundle.json: %w", err)
	}
	cols := b.pipe.Columns()
	if b.model, err = m.Model.kind.load(bundleFiles{open: open, columns: cols}); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	b.out = b.model.Output()
	if fn, ok := b.model.(FeatureNamer); ok {
		if names := fn.FeatureNames(); len(names) > 0 {
			if len(names) != len(cols) {
				return nil, fmt.Errorf("model: %d feature names in the model but the features produce %d columns", len(names), len(cols))
			}
			for i := range names {
				if names[i] != cols[i] {
					b.warnings = append(b.warnings, fmt.Sprintf("model column %d is %q in the model file and %q in the manifest", i, names[i], cols[i]))
					break
				}
			}
		}
	}
	if err := b.checkTask(); err != nil {
		return nil, fmt.Errorf("bundle.json: output: %w", err)
	}
	return b, nil
}

// checkTask matches the declared task with what the model produces and sets
// the decision policy.
func (b *Bundle) checkTask() error {
	o := b.Manifest.Output
	modelOut, nClass := b.out.Task, b.out.Classes
	if o.Task == TaskRegression && modelOut == TaskBinary && b.out.AlsoRegression {
		modelOut = TaskRegression // reg:logistic or a raw margin scored as a number
	}
	switch o.Task {
	case TaskBinary, TaskMulticlass, TaskRegression:
	default:
		return fmt.Errorf("task %q (want binary, multiclass or regression)", o.Task)
	}
	if o.Task != modelOut {
		return fmt.Errorf("task %q but the model is a %s model (%s)", o.Task, modelOut, b.ModelDescription())
	}
	for i, th := range o.Thresholds {
		if !isFinite(th.Above) || th.Label == "" {
			return fmt.Errorf("thresholds[%d]: above must be finite and label non-empty", i)
		}
	}
	switch o.Task {
	case TaskRegression:
		if len(o.Classes) > 0 {
			return errors.New("a regression task has no classes")
		}
		b.nOut = 1
	case TaskBinary:
		if len(o.Classes) != 2 {
			return fmt.Errorf("a binary task needs 2 classes, got %d", len(o.Classes))
		}
		b.nOut = 2
	case TaskMulticlass:
		if len(o.Classes) != nClass {
			return fmt.Errorf("the model has %d classes but %d are listed", nClass, len(o.Classes))
		}
		if len(o.Thresholds) > 0 || o.DefaultLabel != "" {
			return errors.New("a multiclass task takes the most probable class; thresholds and default_label do not apply")
		}
		b.nOut = nClass
	}
	seen := map[string]bool{}
	for _, c := range o.Classes {
		if c == "" || seen[c] {
			return fmt.Errorf("class names must be non-empty and unique (%q)", c)
		}
		seen[c] = true
	}
	b.policy = newPolicy(o)
	return nil
}

// Layout is the row layout decoders must fill.
func (b *Bundle) Layout() *features.Layout { return b.layout }

// Pipeline is the compiled feature pipeline.
func (b *Bundle) Pipeline() *features.Pipeline { return b.pipe }

// Classes are the class labels in model output order (nil for regression).
func (b *Bundle) Classes() []string { return b.Manifest.Output.Classes }

// Labels are every label the decision policy can give, each once, in a
// stable order (classes, then threshold labels, then the default label), so a
// caller can create one metric series per label up front.
func (b *Bundle) Labels() []string {
	o := b.Manifest.Output
	var out []string
	add := func(l string) {
		if l != "" && !contains(out, l) {
			out = append(out, l)
		}
	}
	if o.Task != TaskBinary || len(o.Thresholds) == 0 {
		for _, c := range o.Classes {
			add(c)
		}
	}
	for _, t := range o.Thresholds {
		add(t.Label)
	}
	if o.Task != TaskMulticlass && (o.Task == TaskRegression || len(o.Thresholds) > 0) {
		add(b.policy.defaultLabel)
	}
	return out
}

// Task is binary, multiclass or regression.
func (b *Bundle) Task() string { return b.Manifest.Output.Task }

// FeatureNames are the model column names, in the order of the vectors that
// Scorer.Features returns. Per-feature counts use Pipeline().Features().
func (b *Bundle) FeatureNames() []string { return b.pipe.Columns() }

// Warnings are non-fatal findings of Load (such as model feature names that
// differ from the manifest's column names).
func (b *Bundle) Warnings() []string { return b.warnings }

// ModelDescription is a one-line description of the model.
func (b *Bundle) ModelDescription() string { return b.model.Describe()[0] }

// policy turns model outputs into the score, label and probabilities.
type policy struct {
	task         string
	classes      []string
	thresholds   []Threshold
	defaultLabel string
}

func newPolicy(o OutputSpec) policy {
	p := policy{task: o.Task, classes: o.Classes, thresholds: o.Thresholds, defaultLabel: o.DefaultLabel}
	if p.task == TaskBinary && p.defaultLabel == "" {
		p.defaultLabel = p.classes[0]
	}
	return p
}

// decide fills score and label from the model outputs (the probabilities for
// classifiers, [value] for regression). Labels point at the manifest's strings.
func (p *policy) decide(out []float64) (score float64, label string) {
	switch p.task {
	case TaskMulticlass:
		best := 0
		for k, v := range out {
			if v > out[best] {
				best = k
			}
		}
		return out[best], p.classes[best]
	case TaskBinary:
		score = out[1]
		if len(p.thresholds) == 0 {
			if score > 0.5 {
				return score, p.classes[1]
			}
			return score, p.classes[0]
		}
	default:
		score = out[0]
	}
	for i := range p.thresholds {
		if score > p.thresholds[i].Above {
			return score, p.thresholds[i].Label
		}
	}
	return score, p.defaultLabel
}
