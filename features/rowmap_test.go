package features

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Test-only: a convenient way into a Row for this package's tests, which
// cannot import package schemas (it imports features). Production code
// decodes bytes straight into slots with schemas' decoders; there is no map
// path outside tests.

// RowFromMap returns a new row filled from a decoded JSON object.
func RowFromMap(l *Layout, m map[string]any) (*Row, error) {
	r := l.NewRow()
	if err := l.FillFromMap(r, m); err != nil {
		return nil, err
	}
	return r, nil
}

// FillFromMap resets row and fills it from a decoded JSON object (as
// encoding/json decodes into map[string]any, with or without UseNumber).
// Absent and null fields stay missing; a value of the wrong type is an error
// naming the input.
func (l *Layout) FillFromMap(r *Row, m map[string]any) error {
	r.Reset()
	for i, in := range l.Inputs {
		v, ok := lookupPath(m, in.FieldPath())
		if !ok || v == nil {
			continue
		}
		if err := l.setAny(r, i, v); err != nil {
			return fmt.Errorf("field %q: %w", in.Name, err)
		}
	}
	return nil
}

func lookupPath(m map[string]any, path []string) (any, bool) {
	var cur any = m
	for _, p := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = obj[p]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

func (l *Layout) setAny(r *Row, i int, v any) error {
	in := l.Inputs[i]
	slot := l.slots[i]
	switch in.Type {
	case Category:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string category, got %s", jsonType(v))
		}
		r.Cat[slot] = []byte(s)
		return nil
	case Bool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("want true or false, got %s", jsonType(v))
		}
		r.Num[slot] = 0
		if b {
			r.Num[slot] = 1
		}
		return nil
	case Timestamp:
		if s, ok := v.(string); ok {
			ms, err := ParseTimestamp(s)
			if err != nil {
				return err
			}
			r.Num[slot] = ms
			return nil
		}
		f, err := toFloat(v)
		if err != nil {
			return fmt.Errorf("want an RFC 3339 string or epoch milliseconds, got %s", jsonType(v))
		}
		r.Num[slot] = f
		return nil
	default:
		f, err := toFloat(v)
		if err != nil {
			return fmt.Errorf("want a number, got %s", jsonType(v))
		}
		r.Num[slot] = f
		return nil
	}
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case json.Number:
		return strconv.ParseFloat(string(x), 64)
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case float32:
		return float64(x), nil
	}
	return 0, fmt.Errorf("not a number")
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, json.Number, int, int64, float32:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

// ParseTimestamp parses an RFC 3339 time (or a bare integer of epoch
// milliseconds) into epoch milliseconds.
func ParseTimestamp(s string) (float64, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return float64(t.UnixMilli()), nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return float64(ms), nil
	}
	return 0, fmt.Errorf("timestamp %q is neither RFC 3339 nor epoch milliseconds", s)
}

// SetText sets input i of row from text, as read from a CSV cell: "" is
// missing; numbers parse as floats ("nan" is missing, "inf" stays infinite so
// the pipeline rejects it); bools accept true/false/1/0.
func (l *Layout) SetText(r *Row, i int, s string) error {
	in := l.Inputs[i]
	slot := l.slots[i]
	if s == "" {
		return nil
	}
	switch in.Type {
	case Category:
		r.Cat[slot] = []byte(s)
	case Bool:
		switch strings.ToLower(s) {
		case "true", "1":
			r.Num[slot] = 1
		case "false", "0":
			r.Num[slot] = 0
		default:
			return fmt.Errorf("field %q: %q is not a bool", in.Name, s)
		}
	case Timestamp:
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			r.Num[slot] = f
			return nil
		}
		ms, err := ParseTimestamp(s)
		if err != nil {
			return fmt.Errorf("field %q: %w", in.Name, err)
		}
		r.Num[slot] = ms
	default:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return fmt.Errorf("field %q: %q is not a number", in.Name, s)
		}
		if math.IsNaN(f) {
			f = math.NaN()
		}
		r.Num[slot] = f
	}
	return nil
}
