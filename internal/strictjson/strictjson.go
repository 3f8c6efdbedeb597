// Package strictjson decodes the JSON objects of a model bundle into Go
// structs whose fields name their keys, strictly: a key the struct does not
// declare, a missing required key and a value of the wrong type are errors
// that name the key. The feature step ops (package features) and the model
// kinds (package scoring) use it, so that each op or kind declares its keys
// once, as struct tags, and the decoder, the error messages, the JSON Schema
// test and the docs test all read them from there.
//
// Tags: `json:"name"` gives the key (options after a comma are ignored here);
// `bundle:"required"` makes it required; `bundle:"nan"` (float64 only)
// accepts a number, null or the string "nan" and makes an absent key NaN.
// A field of type any takes a number or a string; a pointer field is nil when
// the key is absent or null; a fixed-size array takes exactly that many
// values. Untagged and unexported fields are not keys.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// Field is one key of a tagged struct.
type Field struct {
	Key      string
	Required bool
	NaN      bool // number, null or "nan"; NaN when absent
	index    int
}

// Fields returns the keys of struct type t, in field order.
func Fields(t reflect.Type) []Field {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []Field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		key, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if !sf.IsExported() || key == "" || key == "-" {
			continue
		}
		f := Field{Key: key, index: i}
		for _, opt := range strings.Split(sf.Tag.Get("bundle"), ",") {
			switch opt {
			case "required":
				f.Required = true
			case "nan":
				f.NaN = true
			}
		}
		out = append(out, f)
	}
	return out
}

// Keys returns the keys of the struct v (or *v) declares and the required
// ones, each list in field order.
func Keys(v any) (allowed, required []string) {
	for _, f := range Fields(reflect.TypeOf(v)) {
		allowed = append(allowed, f.Key)
		if f.Required {
			required = append(required, f.Key)
		}
	}
	return allowed, required
}

// Decode fills the struct dst points to from the members of a JSON object.
// extra are keys the caller has read already (such as "op" or "kind"); they
// are allowed and listed first in the error for an unknown key.
func Decode(obj map[string]json.RawMessage, dst any, extra ...string) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("strictjson: decode into %T, want a pointer to a struct", dst)
	}
	sv := rv.Elem()
	fields := Fields(sv.Type())
	allowed := append([]string(nil), extra...)
	for _, f := range fields {
		allowed = append(allowed, f.Key)
	}
	if err := CheckKeys(obj, allowed); err != nil {
		return err
	}
	for _, f := range fields {
		if _, ok := obj[f.Key]; !ok && f.Required {
			return fmt.Errorf("missing key %q", f.Key)
		}
	}
	for _, f := range fields {
		fv := sv.Field(f.index)
		raw, ok := obj[f.Key]
		if !ok {
			if f.NaN {
				fv.SetFloat(math.NaN())
			}
			continue
		}
		if err := decodeField(raw, fv, f); err != nil {
			return fmt.Errorf("key %q: %w", f.Key, err)
		}
	}
	return nil
}

func decodeField(raw json.RawMessage, fv reflect.Value, f Field) error {
	switch {
	case f.NaN:
		v, err := NaNable(raw)
		fv.SetFloat(v)
		return err
	case fv.Kind() == reflect.Interface:
		v, err := scalar(raw)
		if err == nil {
			fv.Set(reflect.ValueOf(v))
		}
		return err
	case fv.Kind() == reflect.Pointer:
		if IsNull(raw) {
			fv.SetZero()
			return nil
		}
		p := reflect.New(fv.Type().Elem())
		if err := decodeField(raw, p.Elem(), f); err != nil {
			return err
		}
		fv.Set(p)
		return nil
	case fv.Kind() == reflect.Array:
		var elems []json.RawMessage
		if json.Unmarshal(raw, &elems) == nil && !IsNull(raw) && len(elems) != fv.Len() {
			return fmt.Errorf("got %d values, want %s", len(elems), describe(fv.Type()))
		}
	}
	return Value(raw, fv.Addr().Interface())
}

// CheckKeys rejects the first (in sorted order) key of obj outside allowed.
func CheckKeys(obj map[string]json.RawMessage, allowed []string) error {
	var bad []string
	for k := range obj {
		if !contains(allowed, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("unknown key %q (allowed: %s)", bad[0], strings.Join(allowed, ", "))
}

// Object splits a JSON object into its members.
func Object(data []byte) (map[string]json.RawMessage, error) {
	if IsNull(data) {
		return nil, errors.New("want an object, got null")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, typeError(err, "an object")
	}
	return obj, nil
}

// Value decodes raw into v with a readable type error.
func Value(raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return typeError(err, "")
	}
	return nil
}

// NaNable decodes a number, or NaN written as null or "nan".
func NaNable(raw json.RawMessage) (float64, error) {
	if IsNull(raw) {
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

// IsNull reports whether raw is the JSON null.
func IsNull(raw []byte) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// scalar decodes a number or a string.
func scalar(raw json.RawMessage) (any, error) {
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

func typeError(err error, want string) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if want == "" {
			want = describe(te.Type)
		}
		return fmt.Errorf("got JSON %s, want %s", te.Value, want)
	}
	return err
}

// describe names a Go type as the JSON a user should write.
func describe(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Array:
		return fmt.Sprintf("an array of %d %s", t.Len(), plural(t.Elem()))
	case reflect.Slice:
		if t.Elem() == reflect.TypeOf(json.RawMessage(nil)) {
			return "an array"
		}
		return "an array of " + plural(t.Elem())
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

func plural(t reflect.Type) string {
	switch d := describe(t); {
	case d == "a number":
		return "numbers"
	case d == "a string":
		return "strings"
	case strings.HasPrefix(d, "an array"):
		return "arrays" + strings.TrimPrefix(d, "an array")
	default:
		return d
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Registry holds the struct types of one family of bundle objects (the
// feature step ops, the model kinds) by the name each object carries under
// one key ("op", "kind"). T is the family's interface.
type Registry[T any] struct {
	key    string
	protos map[string]reflect.Value
}

// NewRegistry registers protos (values of struct types) under name(proto).
// An object decodes into a copy of its name's proto: the exported fields
// are its keys, unexported ones are the proto's own (one struct type may
// serve several names with other settings). A name registered twice
// panics: a programming error that any test catches at package
// initialisation.
func NewRegistry[T any](key string, name func(T) string, protos ...T) *Registry[T] {
	r := &Registry[T]{key: key, protos: make(map[string]reflect.Value, len(protos))}
	for _, p := range protos {
		n := name(p)
		if _, dup := r.protos[n]; dup {
			panic(fmt.Sprintf("strictjson: %s %q registered twice", key, n))
		}
		r.protos[n] = reflect.ValueOf(p)
	}
	return r
}

// Names returns every registered name, sorted.
func (r *Registry[T]) Names() []string { return slices.Sorted(maps.Keys(r.protos)) }

// Keys returns the keys (besides the registry's key) allowed and required in
// the objects of a name, or ok=false for an unknown name.
func (r *Registry[T]) Keys(name string) (allowed, required []string, ok bool) {
	p, ok := r.protos[name]
	if !ok {
		return nil, nil, false
	}
	allowed, required = Keys(p.Interface())
	return allowed, required, true
}

// Decode reads the name under the registry's key and decodes the rest of
// the object into a new value of that name's type. Errors name the key at
// fault and, past the name, start with it (`op "standard": missing key "scale"`).
func (r *Registry[T]) Decode(obj map[string]json.RawMessage) (T, error) {
	var zero T
	raw, ok := obj[r.key]
	if !ok {
		return zero, fmt.Errorf("missing key %q", r.key)
	}
	var name string
	if err := Value(raw, &name); err != nil {
		return zero, fmt.Errorf("key %q: %w", r.key, err)
	}
	proto, ok := r.protos[name]
	if !ok {
		return zero, fmt.Errorf("unknown %s %q (want one of %s)", r.key, name, strings.Join(r.Names(), ", "))
	}
	p := reflect.New(proto.Type())
	p.Elem().Set(proto)
	if err := Decode(obj, p.Interface(), r.key); err != nil {
		return zero, fmt.Errorf("%s %q: %w", r.key, name, err)
	}
	return p.Elem().Interface().(T), nil
}
