package scoring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/streamscore/streamscore/features"
)

// FormatVersion is the bundle format this package reads.
const FormatVersion = 1

// Manifest is bundle.json, decoded. See docs/bundle.md.
type Manifest struct {
	FormatVersion int                `json:"format_version"`
	Name          string             `json:"name"`
	Version       string             `json:"version"`
	Description   string             `json:"description,omitempty"`
	Inputs        []features.Input   `json:"inputs"`
	Features      []features.Feature `json:"features"`
	Model         ModelSpec          `json:"model"`
	Output        OutputSpec         `json:"output"`
	Drift         *DriftStats        `json:"drift,omitempty"` // training distributions (drift.go); nil: none
	// Reference is what reference.jsonl was when exported (reference.go);
	// nil: not recorded, so a copy of it cut short goes unnoticed.
	Reference *ReferenceSpec `json:"reference,omitempty"`
}

// ModelSpec is the manifest's "model" object: its kind and that kind's own
// keys, decoded strictly by the kind's type (model.go's modelKinds).
type ModelSpec struct {
	Kind string
	kind modelKind
}

// OutputSpec is the manifest's "output" object: the decision policy.
type OutputSpec struct {
	Task         string      `json:"task"` // binary | multiclass | regression
	Classes      []string    `json:"classes,omitempty"`
	Thresholds   []Threshold `json:"thresholds,omitempty"`
	DefaultLabel string      `json:"default_label,omitempty"`
}

// Threshold maps a score strictly above Above to Label.
type Threshold struct {
	Above float64 `json:"above"`
	Label string  `json:"label"`
}

// Keys allowed in each manifest object; bundle.schema.json must agree (tested).
// The model object's keys belong to its kind (model.go).
var (
	manifestKeys  = []string{"format_version", "name", "version", "description", "inputs", "features", "model", "output", "drift", "reference"}
	inputKeys     = []string{"name", "type", "required", "path", "range", "categories"}
	outputKeys    = []string{"task", "classes", "thresholds", "default_label"}
	thresholdKeys = []string{"above", "label"}
)

// Limits on the manifest itself.
const (
	MaxManifestBytes = 64 << 20
	MaxInputs        = 100_000
	MaxClasses       = 10_000
	MaxThresholds    = 1_000
)

// ParseManifest decodes bundle.json strictly: unknown keys, missing required
// keys and wrong types are errors that say where they are.
func ParseManifest(data []byte) (*Manifest, error) {
	if len(data) > MaxManifestBytes {
		return nil, fmt.Errorf("manifest is %d bytes, more than the limit of %d", len(data), MaxManifestBytes)
	}
	top, err := requiredObject(data, manifestKeys, []string{"format_version", "name", "version", "inputs", "features", "model", "output"}, "manifest")
	if err != nil {
		return nil, err
	}
	m := &Manifest{}
	if err := field(top, "format_version", &m.FormatVersion, "manifest"); err != nil {
		return nil, err
	}
	if m.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("manifest: format_version %d is not supported (this build reads %d)", m.FormatVersion, FormatVersion)
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"name", &m.Name}, {"version", &m.Version}, {"description", &m.Description}} {
		if err := field(top, f.key, f.dst, "manifest"); err != nil {
			return nil, err
		}
	}
	if m.Name == "" || m.Version == "" {
		return nil, errors.New("manifest: name and version must not be empty")
	}

	var rawInputs []json.RawMessage
	if err := field(top, "inputs", &rawInputs, "manifest"); err != nil {
		return nil, err
	}
	if len(rawInputs) > MaxInputs {
		return nil, fmt.Errorf("manifest: %d inputs, more than the limit of %d", len(rawInputs), MaxInputs)
	}
	m.Inputs, err = decodeList(rawInputs, "inputs", inputKeys, []string{"name", "type"}, func(in *features.Input) error {
		if in.Range != nil && (!isFinite(in.Range[0]) || !isFinite(in.Range[1])) {
			return errors.New("range must be finite")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	var rawFeatures []json.RawMessage
	if err := field(top, "features", &rawFeatures, "manifest"); err != nil {
		return nil, err
	}
	if len(rawFeatures) > features.MaxFeatures {
		return nil, fmt.Errorf("manifest: %d features, more than the limit of %d", len(rawFeatures), features.MaxFeatures)
	}
	for i, raw := range rawFeatures {
		var f features.Feature
		if err := f.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("features[%d]: %w", i, err)
		}
		m.Features = append(m.Features, f)
	}

	kind, err := decodeModel(top["model"])
	if err != nil {
		return nil, err
	}
	m.Model = ModelSpec{Kind: kind.Kind(), kind: kind}

	outObj, err := requiredObject(top["output"], outputKeys, []string{"task"}, "output")
	if err != nil {
		return nil, err
	}
	if err := field(outObj, "task", &m.Output.Task, "output"); err != nil {
		return nil, err
	}
	if err := field(outObj, "classes", &m.Output.Classes, "output"); err != nil {
		return nil, err
	}
	if err := field(outObj, "default_label", &m.Output.DefaultLabel, "output"); err != nil {
		return nil, err
	}
	if len(m.Output.Classes) > MaxClasses {
		return nil, fmt.Errorf("output: %d classes, more than the limit of %d", len(m.Output.Classes), MaxClasses)
	}
	if raw, ok := outObj["thresholds"]; ok && !isNull(raw) {
		var rawTh []json.RawMessage
		if err := decodeInto(raw, &rawTh); err != nil {
			return nil, fmt.Errorf("output: key \"thresholds\": %w", err)
		}
		if len(rawTh) > MaxThresholds {
			return nil, fmt.Errorf("output: %d thresholds, more than the limit of %d", len(rawTh), MaxThresholds)
		}
		if m.Output.Thresholds, err = decodeList[Threshold](rawTh, "output.thresholds", thresholdKeys, thresholdKeys, nil); err != nil {
			return nil, err
		}
	}
	if raw, ok := top["drift"]; ok && !isNull(raw) {
		if m.Drift, err = parseDrift(raw, m.Inputs); err != nil {
			return nil, err
		}
	}
	if raw, ok := top["reference"]; ok && !isNull(raw) {
		if m.Reference, err = parseReferenceSpec(raw); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// decodeList decodes each object of raws into a T: no key but allowed, every
// one of required present, then check (if any) on the value; an error names
// the object as where[i].
func decodeList[T any](raws []json.RawMessage, where string, allowed, required []string, check func(*T) error) ([]T, error) {
	var out []T
	for i, raw := range raws {
		w := fmt.Sprintf("%s[%d]", where, i)
		if _, err := requiredObject(raw, allowed, required, w); err != nil {
			return nil, err
		}
		var v T
		if err := decodeInto(raw, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", w, err)
		}
		if check != nil {
			if err := check(&v); err != nil {
				return nil, fmt.Errorf("%s: %w", w, err)
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// object decodes a JSON object into its members and rejects keys outside
// allowed (when allowed is not nil).
func object(data []byte, allowed []string, where string) (map[string]json.RawMessage, error) {
	if isNull(data) {
		return nil, fmt.Errorf("%s: want an object, got null", where)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("%s: %w", where, jsonError(err, data))
	}
	var bad []string
	for k := range obj {
		if allowed != nil && !contains(allowed, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, fmt.Errorf("%s: unknown key %q (allowed: %s)", where, bad[0], strings.Join(allowed, ", "))
	}
	return obj, nil
}

// requiredObject is object that also requires every key of required.
func requiredObject(data []byte, allowed, required []string, where string) (map[string]json.RawMessage, error) {
	obj, err := object(data, allowed, where)
	if err != nil {
		return nil, err
	}
	for _, k := range required {
		if _, ok := obj[k]; !ok {
			return nil, fmt.Errorf("%s: missing key %q", where, k)
		}
	}
	return obj, nil
}

// field decodes obj[key] into dst when present.
func field(obj map[string]json.RawMessage, key string, dst any, where string) error {
	raw, ok := obj[key]
	if !ok || isNull(raw) {
		return nil
	}
	if err := decodeInto(raw, dst); err != nil {
		return fmt.Errorf("%s: key %q: %w", where, key, err)
	}
	return nil
}

// decodeInto decodes with unknown fields disallowed and readable errors.
func decodeInto(raw []byte, dst any) error {
	_, err := decodeFirst(raw, dst)
	return err
}

// decodeFirst decodes the first JSON value of raw as decodeInto does; more
// says whether anything but white space follows it.
func decodeFirst(raw []byte, dst any) (more bool, err error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return false, jsonError(err, raw)
	}
	return dec.More(), nil
}

// checkModelSize refuses a model file larger than MaxModelBytes.
func checkModelSize(data []byte) error {
	if len(data) > MaxModelBytes {
		return fmt.Errorf("model file is %d bytes, more than the limit of %d", len(data), MaxModelBytes)
	}
	return nil
}

// decodeModelFile checks a JSON model file's size (checkModelSize),
// decodes it into dst (decodeFirst) and refuses anything after the object.
func decodeModelFile(data []byte, dst any) error {
	if err := checkModelSize(data); err != nil {
		return err
	}
	if more, err := decodeFirst(data, dst); err != nil {
		return err
	} else if more {
		return errors.New("data after the model object")
	}
	return nil
}

// layoutFile is a model file streamscore_export writes in a layout of its
// own (histgb, mlp); layout is its "format" key.
type layoutFile interface{ layout() string }

// decodeLayoutFile is decodeModelFile for a layoutFile: one that names
// another layout (another kind, another exporter version) is refused.
func decodeLayoutFile(data []byte, dst layoutFile, want string) error {
	if err := decodeModelFile(data, dst); err != nil {
		return err
	}
	if got := dst.layout(); got != want {
		return fmt.Errorf("format %q, want %q (write the file with streamscore_export)", got, want)
	}
	return nil
}

// jsonError rewrites encoding/json errors into one short line that names the
// key or the offset.
func jsonError(err error, data []byte) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Errorf("key %q: got JSON %s, want %s", te.Field, te.Value, goTypeName(te.Type.String()))
		}
		return fmt.Errorf("got JSON %s, want %s", te.Value, goTypeName(te.Type.String()))
	case errors.As(err, &se):
		line, col := position(data, se.Offset)
		return fmt.Errorf("invalid JSON at line %d column %d: %v", line, col, se)
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fmt.Errorf("unknown key %s", rest)
	}
	if msg == "EOF" || msg == "unexpected EOF" {
		return errors.New("invalid JSON: unexpected end of input")
	}
	return errors.New(strings.TrimPrefix(msg, "json: "))
}

func goTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "float"), strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "a number"
	case t == "string", strings.HasSuffix(t, "InputType"):
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "[]"), strings.HasPrefix(t, "["):
		return "an array"
	case strings.HasPrefix(t, "map"), strings.Contains(t, "."):
		return "an object"
	}
	return t
}

func position(data []byte, off int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < off && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

func isNull(raw []byte) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
