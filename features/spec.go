package features

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/streamscore/streamscore/internal/strictjson"
)

// Feature is one entry of the bundle's "features" list: one source (an input,
// or two inputs combined by Derive) and a chain of steps. It produces one
// model column, or several for onehot encodings.
type Feature struct {
	Name   string  `json:"name"`
	Input  string  `json:"input,omitempty"`
	Derive *Derive `json:"derive,omitempty"`
	Steps  []Step  `json:"steps,omitempty"`
}

// Derive combines two number inputs into one source value.
type Derive struct {
	Op     string  `json:"op" bundle:"required"` // one of DeriveOps: ratio | difference | product
	A      string  `json:"a" bundle:"required"`
	B      string  `json:"b" bundle:"required"`
	OnZero float64 `json:"on_zero" bundle:"nan"` // ratio with b == 0; NaN (JSON "nan", null or absent) means missing
}

// deriveOps maps each derive op to its source in the compiled program
// (pipeline.go's Transform computes it).
var deriveOps = map[string]uint8{"ratio": srcRatio, "difference": srcDifference, "product": srcProduct}

// DeriveOps returns every derive op, sorted.
func DeriveOps() []string { return slices.Sorted(maps.Keys(deriveOps)) }

// Step is one operation of a feature chain. Each op is its own type (Impute,
// Standard, OneHot, ...; one file each, op_*.go), registered by name in
// stepOps. Its exported fields are the keys of its JSON object (struct tags,
// read by package strictjson), and its compile method checks its parameters
// and emits its part of the compiled program.
type Step interface {
	// Op is the name the step is registered under, its "op" in bundle.json.
	Op() string
	// compile checks the step against the kind of value reaching it, appends
	// its part of the program to the chain and returns the kind it produces.
	compile(c *chain, k kind) (kind, error)
}

// stepOps is every step op by name. A new op is a new file with its type (its
// fields, Op and compile) plus one entry here; the decoder, the JSON Schema
// test and the docs test read the keys from the type.
var stepOps = strictjson.NewRegistry[Step]("op", Step.Op,
	Impute{}, Indicator{}, Standard{}, Robust{}, MinMax{}, Log1p{},
	Bucketize{}, OneHot{}, Ordinal{}, Datepart{},
)

// StepOps returns every step op, sorted.
func StepOps() []string { return stepOps.Names() }

// StepKeys returns the keys (besides "op") allowed and required for a step op,
// in declaration order, or ok=false for an unknown op. The JSON Schema and
// docs tests read them.
func StepKeys(op string) (allowed, required []string, ok bool) { return stepOps.Keys(op) }

// FeatureKeys and DeriveKeys are the keys allowed in a feature and a derive object.
var (
	FeatureKeys   = []string{"name", "input", "derive", "steps"}
	DeriveKeys, _ = strictjson.Keys(Derive{})
)

// UnmarshalJSON decodes a feature strictly: unknown keys are errors that name
// the key, and every step is checked against the keys of its op.
func (f *Feature) UnmarshalJSON(data []byte) error {
	obj, err := strictjson.Object(data)
	if err != nil {
		return err
	}
	if err := strictjson.CheckKeys(obj, FeatureKeys); err != nil {
		return err
	}
	var out Feature
	if raw, ok := obj["name"]; ok {
		if err := strictjson.Value(raw, &out.Name); err != nil {
			return fmt.Errorf("key \"name\": %w", err)
		}
	}
	where := "feature"
	if out.Name != "" {
		where = fmt.Sprintf("feature %q", out.Name)
	}
	if raw, ok := obj["input"]; ok {
		if err := strictjson.Value(raw, &out.Input); err != nil {
			return fmt.Errorf("%s: key \"input\": %w", where, err)
		}
	}
	if raw, ok := obj["derive"]; ok && !strictjson.IsNull(raw) {
		d := &Derive{}
		dobj, err := strictjson.Object(raw)
		if err == nil {
			err = strictjson.Decode(dobj, d)
		}
		if err != nil {
			return fmt.Errorf("%s: derive: %w", where, err)
		}
		out.Derive = d
	}
	if raw, ok := obj["steps"]; ok && !strictjson.IsNull(raw) {
		var steps []json.RawMessage
		if err := strictjson.Value(raw, &steps); err != nil {
			return fmt.Errorf("%s: key \"steps\": %w", where, err)
		}
		for i, s := range steps {
			st, err := decodeStep(s)
			if err != nil {
				return fmt.Errorf("%s: steps[%d]: %w", where, i, err)
			}
			out.Steps = append(out.Steps, st)
		}
	}
	*f = out
	return nil
}

// decodeStep decodes a step object into the type of its op.
func decodeStep(raw json.RawMessage) (Step, error) {
	obj, err := strictjson.Object(raw)
	if err != nil {
		return nil, err
	}
	return stepOps.Decode(obj)
}

// MarshalJSON writes a feature as bundle.json holds it, each step with its
// "op" first.
func (f Feature) MarshalJSON() ([]byte, error) {
	steps := make([]json.RawMessage, len(f.Steps))
	for i, st := range f.Steps {
		op, err := json.Marshal(st.Op())
		if err != nil {
			return nil, err
		}
		fields, err := json.Marshal(st)
		if err != nil {
			return nil, fmt.Errorf("steps[%d]: %w", i, err)
		}
		s := append([]byte(`{"op":`), op...)
		if len(fields) > 2 {
			s = append(append(s, ','), fields[1:]...)
		} else {
			s = append(s, '}')
		}
		steps[i] = s
	}
	return json.Marshal(struct {
		Name   string            `json:"name"`
		Input  string            `json:"input,omitempty"`
		Derive *Derive           `json:"derive,omitempty"`
		Steps  []json.RawMessage `json:"steps,omitempty"`
	}{f.Name, f.Input, f.Derive, steps})
}
