package strictjson

import (
	"math"
	"strings"
	"testing"
)

type shape interface{ Name() string }

type square struct {
	Side  float64     `json:"side" bundle:"required"`
	Label string      `json:"label,omitempty"`
	Fill  *string     `json:"fill"`
	Value any         `json:"value"`
	Range *[2]float64 `json:"range"`
	Miss  float64     `json:"miss" bundle:"nan"`
	Tags  []string    `json:"tags"`
	Rows  [][]float64 `json:"rows"`
	Extra int         // untagged: not a key
}

func (square) Name() string { return "square" }

type dot struct{}

func (dot) Name() string { return "dot" }

// polygon is one type registered under two names, each with its own
// (unexported) corner count.
type polygon struct {
	Side    float64 `json:"side" bundle:"required"`
	corners int
}

func (p polygon) Name() string { return map[int]string{3: "triangle", 5: "pentagon"}[p.corners] }

var shapes = NewRegistry[shape]("shape", shape.Name, square{}, dot{}, polygon{corners: 3}, polygon{corners: 5})

// TestRegistryDecodesIntoTheProto: an object decodes into a copy of its
// name's proto, so the proto's unexported settings come with it and the
// proto itself is not changed.
func TestRegistryDecodesIntoTheProto(t *testing.T) {
	for _, tc := range []struct {
		json    string
		corners int
		side    float64
	}{
		{`{"shape":"triangle","side":2}`, 3, 2},
		{`{"shape":"pentagon","side":4}`, 5, 4},
		{`{"shape":"triangle","side":7}`, 3, 7},
	} {
		obj, err := Object([]byte(tc.json))
		if err != nil {
			t.Fatal(err)
		}
		s, err := shapes.Decode(obj)
		if err != nil {
			t.Fatalf("%s: %v", tc.json, err)
		}
		if p, ok := s.(polygon); !ok || p.corners != tc.corners || p.Side != tc.side {
			t.Errorf("%s: got %#v, want polygon{Side: %v, corners: %d}", tc.json, s, tc.side, tc.corners)
		}
	}
	if allowed, required, ok := shapes.Keys("pentagon"); !ok || strings.Join(allowed, ",") != "side" || strings.Join(required, ",") != "side" {
		t.Errorf("Keys(pentagon): got %v %v %v, want [side] [side] true", allowed, required, ok)
	}
}

func TestKeys(t *testing.T) {
	allowed, required := Keys(square{})
	if got, want := strings.Join(allowed, ","), "side,label,fill,value,range,miss,tags,rows"; got != want {
		t.Errorf("allowed: got %s, want %s", got, want)
	}
	if got, want := strings.Join(required, ","), "side"; got != want {
		t.Errorf("required: got %s, want %s", got, want)
	}
	if got, want := strings.Join(shapes.Names(), ","), "dot,pentagon,square,triangle"; got != want {
		t.Errorf("names: got %s, want %s", got, want)
	}
	if _, _, ok := shapes.Keys("circle"); ok {
		t.Error("Keys(circle): got ok, want not ok")
	}
}

func TestRegistryDecode(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"missing name key", `{"side":1}`, `missing key "shape"`},
		{"name type", `{"shape":1}`, `key "shape": got JSON number, want a string`},
		{"unknown name", `{"shape":"circle"}`, `unknown shape "circle" (want one of dot, pentagon, square, triangle)`},
		{"unknown key", `{"shape":"square","side":1,"zz":1,"aa":2}`, `shape "square": unknown key "aa" (allowed: shape, side, label, fill, value, range, miss, tags, rows)`},
		{"unknown key in empty type", `{"shape":"dot","side":1}`, `shape "dot": unknown key "side" (allowed: shape)`},
		{"missing required", `{"shape":"square"}`, `shape "square": missing key "side"`},
		{"number type", `{"shape":"square","side":"1"}`, `key "side": got JSON string, want a number`},
		{"pointer type", `{"shape":"square","side":1,"fill":2}`, `key "fill": got JSON number, want a string`},
		{"any", `{"shape":"square","side":1,"value":[1]}`, `key "value": want a number or a string`},
		{"array length", `{"shape":"square","side":1,"range":[1,2,3]}`, `key "range": got 3 values, want an array of 2 numbers`},
		{"array type", `{"shape":"square","side":1,"range":"x"}`, `key "range": got JSON string, want an array of 2 numbers`},
		{"nan", `{"shape":"square","side":1,"miss":"inf"}`, `key "miss": want a number, "nan" or null`},
		{"strings", `{"shape":"square","side":1,"tags":[1]}`, `key "tags": got JSON number, want a string`},
		{"nested arrays", `{"shape":"square","side":1,"rows":{}}`, `key "rows": got JSON object, want an array of arrays of numbers`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, err := Object([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			_, err = shapes.Decode(obj)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestRegistryDecodeValues(t *testing.T) {
	decode := func(js string) square {
		t.Helper()
		obj, err := Object([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		s, err := shapes.Decode(obj)
		if err != nil {
			t.Fatal(err)
		}
		sq, ok := s.(square)
		if !ok {
			t.Fatalf("got %T, want square", s)
		}
		return sq
	}
	sq := decode(`{"shape":"square","side":2,"fill":"red","value":"k","range":[0,1],"miss":null,"tags":["a"]}`)
	if sq.Side != 2 || sq.Fill == nil || *sq.Fill != "red" || sq.Value != "k" || sq.Range == nil || *sq.Range != [2]float64{0, 1} ||
		!math.IsNaN(sq.Miss) || len(sq.Tags) != 1 {
		t.Errorf("got %+v", sq)
	}
	sq = decode(`{"shape":"square","side":2,"fill":null,"value":1.5,"range":null,"miss":"NaN"}`)
	if sq.Fill != nil || sq.Value != 1.5 || sq.Range != nil || !math.IsNaN(sq.Miss) {
		t.Errorf("nulls: got %+v", sq)
	}
	if sq = decode(`{"shape":"square","side":2}`); !math.IsNaN(sq.Miss) || sq.Value != nil {
		t.Errorf("absent keys: got %+v, want miss NaN and value nil", sq)
	}
	if sq = decode(`{"shape":"square","side":2,"miss":-1}`); sq.Miss != -1 {
		t.Errorf("miss: got %v, want -1", sq.Miss)
	}
}

func TestObject(t *testing.T) {
	for in, want := range map[string]string{"null": "want an object, got null", "[]": "got JSON array, want an object", "{": "unexpected end"} {
		if _, err := Object([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Object(%s): got %v, want an error containing %q", in, err, want)
		}
	}
}

func TestDuplicateNamePanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Error("registering a name twice: got no panic")
		}
	}()
	NewRegistry[shape]("shape", shape.Name, dot{}, dot{})
}
