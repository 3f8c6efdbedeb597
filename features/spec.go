package features

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
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
	Op     string  `json:"op"` // ratio | difference | product
	A      string  `json:"a"`
	B      string  `json:"b"`
	OnZero float64 `json:"on_zero"` // ratio with b == 0; NaN (JSON "nan", null or absent) means missing
}

// Step is one operation of a feature chain. Only the fields of its Op are
// meaningful; the JSON decoder rejects keys that do not belong to the op.
type Step struct {
	Op string `json:"op"`

	// impute
	Value    any    `json:"value,omitempty"`    // float64 for numbers, string for categories
	Strategy string `json:"strategy,omitempty"` // informational

	// standard (Mean, Scale), robust (Center, Scale), minmax (Scale, Offset, DataMin, DataMax)
	Mean         float64     `json:"mean,omitempty"`
	Center       float64     `json:"center,omitempty"`
	Scale        float64     `json:"scale,omitempty"`
	Offset       float64     `json:"offset,omitempty"`
	DataMin      float64     `json:"data_min,omitempty"`
	DataMax      float64     `json:"data_max,omitempty"`
	OutOfRange   string      `json:"out_of_range,omitempty"`  // extrapolate | clip | reject
	FeatureRange *[2]float64 `json:"feature_range,omitempty"` // clip bounds; default data_min/data_max mapped

	// bucketize
	Edges  []float64 `json:"edges,omitempty"`
	Encode string    `json:"encode,omitempty"` // ordinal | onehot

	// onehot, ordinal
	Categories   []string `json:"categories,omitempty"`
	Unknown      string   `json:"unknown,omitempty"` // onehot: zeros|column|reject; ordinal: value|reject
	Drop         *string  `json:"drop,omitempty"`
	UnknownValue float64  `json:"unknown_value,omitempty"` // ordinal; NaN allowed (JSON null or "nan")

	// datepart
	Part string `json:"part,omitempty"`
	TZ   string `json:"tz,omitempty"`
}

// stepKeys lists, per op, the keys a step may carry and which are required.
// It is the single source of truth for strict decoding; scoring's JSON Schema
// test checks bundle.schema.json against it.
var stepKeys = map[string]struct{ allowed, required []string }{
	"impute":    {[]string{"value", "strategy"}, []string{"value"}},
	"indicator": {nil, nil},
	"standard":  {[]string{"mean", "scale"}, []string{"mean", "scale"}},
	"robust":    {[]string{"center", "scale"}, []string{"center", "scale"}},
	"minmax":    {[]string{"scale", "offset", "data_min", "data_max", "out_of_range", "feature_range"}, []string{"scale", "offset", "data_min", "data_max"}},
	"log1p":     {nil, nil},
	"bucketize": {[]string{"edges", "encode"}, []string{"edges"}},
	"onehot":    {[]string{"categories", "unknown", "drop"}, []string{"categories"}},
	"ordinal":   {[]string{"categories", "unknown", "unknown_value"}, []string{"categories"}},
	"datepart":  {[]string{"part", "tz"}, []string{"part"}},
}

// StepKeys returns the keys (besides "op") allowed and required for a step op,
// or ok=false for an unknown op. Used to keep the JSON Schema in sync.
func StepKeys(op string) (allowed, required []string, ok bool) {
	k, ok := stepKeys[op]
	return k.allowed, k.required, ok
}

// StepOps returns every step op, sorted.
func StepOps() []string {
	ops := make([]string, 0, len(stepKeys))
	for op := range stepKeys {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// FeatureKeys and DeriveKeys are the keys allowed in a feature and a derive object.
var (
	FeatureKeys = []string{"name", "input", "derive", "steps"}
	DeriveKeys  = []string{"op", "a", "b", "on_zero"}
)

// UnmarshalJSON decodes a feature strictly: unknown keys are errors that name
// the key, and every step is checked against the keys of its op.
func (f *Feature) UnmarshalJSON(data []byte) error {
	obj, err := objectKeys(data, FeatureKeys)
	if err != nil {
		return err
	}
	var out Feature
	if raw, ok := obj["name"]; ok {
		if err := decodeValue(raw, &out.Name); err != nil {
			return fmt.Errorf("key \"name\": %w", err)
		}
	}
	where := "feature"
	if out.Name != "" {
		where = fmt.Sprintf("feature %q", out.Name)
	}
	if raw, ok := obj["input"]; ok {
		if err := decodeValue(raw, &out.Input); err != nil {
			return fmt.Errorf("%s: key \"input\": %w", where, err)
		}
	}
	if raw, ok := obj["derive"]; ok && !isNull(raw) {
		d, err := decodeDerive(raw)
		if err != nil {
			return fmt.Errorf("%s: derive: %w", where, err)
		}
		out.Derive = d
	}
	if raw, ok := obj["steps"]; ok && !isNull(raw) {
		var steps []json.RawMessage
		if err := decodeValue(raw, &steps); err != nil {
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

func decodeDerive(raw json.RawMessage) (*Derive, error) {
	obj, err := objectKeys(raw, DeriveKeys)
	if err != nil {
		return nil, err
	}
	d := &Derive{OnZero: math.NaN()}
	for _, k := range []struct {
		key string
		dst *string
	}{{"op", &d.Op}, {"a", &d.A}, {"b", &d.B}} {
		r, ok := obj[k.key]
		if !ok {
			return nil, fmt.Errorf("missing key %q", k.key)
		}
		if err := decodeValue(r, k.dst); err != nil {
			return nil, fmt.Errorf("key %q: %w", k.key, err)
		}
	}
	if r, ok := obj["on_zero"]; ok {
		v, err := decodeNaNable(r)
		if err != nil {
			return nil, fmt.Errorf("key \"on_zero\": %w", err)
		}
		d.OnZero = v
	}
	return d, nil
}

func decodeStep(raw json.RawMessage) (Step, error) {
	var st Step
	obj, err := objectKeys(raw, nil)
	if err != nil {
		return st, err
	}
	opRaw, ok := obj["op"]
	if !ok {
		return st, errors.New("missing key \"op\"")
	}
	if err := decodeValue(opRaw, &st.Op); err != nil {
		return st, fmt.Errorf("key \"op\": %w", err)
	}
	keys, ok := stepKeys[st.Op]
	if !ok {
		return st, fmt.Errorf("unknown op %q (want one of %s)", st.Op, strings.Join(StepOps(), ", "))
	}
	allowed := append([]string{"op"}, keys.allowed...)
	if err := checkKeys(obj, allowed); err != nil {
		return st, fmt.Errorf("op %q: %w", st.Op, err)
	}
	for _, k := range keys.required {
		if _, ok := obj[k]; !ok {
			return st, fmt.Errorf("op %q: missing key %q", st.Op, k)
		}
	}
	st.UnknownValue = math.NaN()
	for key, r := range obj {
		var err error
		switch key {
		case "op":
		case "value":
			st.Value, err = decodeScalar(r)
		case "strategy":
			err = decodeValue(r, &st.Strategy)
		case "mean":
			err = decodeValue(r, &st.Mean)
		case "center":
			err = decodeValue(r, &st.Center)
		case "scale":
			err = decodeValue(r, &st.Scale)
		case "offset":
			err = decodeValue(r, &st.Offset)
		case "data_min":
			err = decodeValue(r, &st.DataMin)
		case "data_max":
			err = decodeValue(r, &st.DataMax)
		case "out_of_range":
			err = decodeValue(r, &st.OutOfRange)
		case "feature_range":
			var fr [2]float64
			if err = decodeValue(r, &fr); err == nil {
				st.FeatureRange = &fr
			}
		case "edges":
			err = decodeValue(r, &st.Edges)
			if err == nil && st.Edges == nil {
				st.Edges = []float64{}
			}
		case "encode":
			err = decodeValue(r, &st.Encode)
		case "categories":
			err = decodeValue(r, &st.Categories)
		case "unknown":
			err = decodeValue(r, &st.Unknown)
		case "drop":
			if !isNull(r) {
				var s string
				if err = decodeValue(r, &s); err == nil {
					st.Drop = &s
				}
			}
		case "unknown_value":
			st.UnknownValue, err = decodeNaNable(r)
		case "part":
			err = decodeValue(r, &st.Part)
		case "tz":
			err = decodeValue(r, &st.TZ)
		}
		if err != nil {
			return st, fmt.Errorf("op %q: key %q: %w", st.Op, key, err)
		}
	}
	return st, nil
}

// objectKeys splits a JSON object into its members and, when allowed is not
// nil, rejects any key outside it.
func objectKeys(data []byte, allowed []string) (map[string]json.RawMessage, error) {
	if isNull(data) {
		return nil, errors.New("want an object, got null")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, typeError(err, "an object")
	}
	if allowed != nil {
		if err := checkKeys(obj, allowed); err != nil {
			return nil, err
		}
	}
	return obj, nil
}

func checkKeys(obj map[string]json.RawMessage, allowed []string) error {
	var bad []string
	for k := range obj {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("unknown key %q (allowed: %s)", bad[0], strings.Join(allowed, ", "))
}

func isNull(raw []byte) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// decodeValue decodes raw into v with a readable type error.
func decodeValue(raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return typeError(err, "")
	}
	return nil
}

func typeError(err error, want string) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if want == "" {
			want = te.Type.String()
			switch want {
			case "float64":
				want = "a number"
			case "string":
				want = "a string"
			case "[]float64", "[2]float64":
				want = "an array of numbers"
			case "[]string":
				want = "an array of strings"
			case "[]json.RawMessage":
				want = "an array"
			}
		}
		return fmt.Errorf("got JSON %s, want %s", te.Value, want)
	}
	return err
}

// decodeScalar decodes a number or a string (impute values).
func decodeScalar(raw json.RawMessage) (any, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	switch v.(type) {
	case float64, string:
		return v, nil
	}
	return nil, errors.New("want a number or a string")
}

// decodeNaNable decodes a number, or NaN written as null or "nan".
func decodeNaNable(raw json.RawMessage) (float64, error) {
	if isNull(raw) {
		return math.NaN(), nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case float64:
		return x, nil
	case string:
		if strings.EqualFold(x, "nan") {
			return math.NaN(), nil
		}
	}
	return 0, errors.New(`want a number, "nan" or null`)
}
