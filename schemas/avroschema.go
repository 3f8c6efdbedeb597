package schemas

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// avroKind is an Avro type.
type avroKind uint8

const (
	aNull avroKind = iota
	aBoolean
	aInt
	aLong
	aFloat
	aDouble
	aBytes
	aString
	aRecord
	aEnum
	aArray
	aMap
	aUnion
	aFixed
)

var avroKindNames = [...]string{"null", "boolean", "int", "long", "float", "double", "bytes", "string",
	"record", "enum", "array", "map", "union", "fixed"}

func (k avroKind) String() string { return avroKindNames[k] }

// avroType is a parsed Avro schema node. Named types referenced again point
// to the same node, so recursive schemas are cyclic graphs.
type avroType struct {
	kind     avroKind
	logical  string      // logicalType, if any
	name     string      // full name of record, enum, fixed
	fields   []avroField // record
	symbols  [][]byte    // enum
	items    *avroType   // array items, map values
	branches []*avroType // union
	size     int         // fixed
	// width is the encoded size when it is the same for every value
	// (null 0, float 4, double 8, fixed n, records of those; booleans count as
	// variable because each byte must be checked),
	// -1 otherwise. Every type of variable width takes at least one byte,
	// which bounds the work of skipping arrays and maps.
	width int
}

type avroField struct {
	name string
	typ  *avroType
}

// parseAvroSchema parses schema JSON text into an avroType graph. The schema
// was already accepted by goavro; this parser keeps what the decoder needs.
func parseAvroSchema(text string) (*avroType, error) {
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return nil, fmt.Errorf("parsing avro schema: %w", err)
	}
	p := &schemaParser{named: map[string]*avroType{}}
	t, err := p.parse(v, "")
	if err != nil {
		return nil, fmt.Errorf("parsing avro schema: %w", err)
	}
	computeWidth(t, map[*avroType]bool{}, map[*avroType]bool{})
	return t, nil
}

type schemaParser struct {
	named map[string]*avroType
	depth int
}

var primitiveKinds = map[string]avroKind{
	"null": aNull, "boolean": aBoolean, "int": aInt, "long": aLong, "float": aFloat,
	"double": aDouble, "bytes": aBytes, "string": aString,
}

func fullName(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

func (p *schemaParser) parse(v any, ns string) (*avroType, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 256 {
		return nil, errors.New("schema nested too deeply")
	}
	switch v := v.(type) {
	case string:
		if k, ok := primitiveKinds[v]; ok {
			return &avroType{kind: k}, nil
		}
		if t, ok := p.named[fullName(v, ns)]; ok {
			return t, nil
		}
		if t, ok := p.named[v]; ok {
			return t, nil
		}
		return nil, fmt.Errorf("unknown type %q", v)
	case []any:
		u := &avroType{kind: aUnion}
		for _, b := range v {
			bt, err := p.parse(b, ns)
			if err != nil {
				return nil, err
			}
			u.branches = append(u.branches, bt)
		}
		if len(u.branches) == 0 {
			return nil, errors.New("empty union")
		}
		return u, nil
	case map[string]any:
		return p.parseObject(v, ns)
	default:
		return nil, fmt.Errorf("unexpected schema value %v", v)
	}
}

func (p *schemaParser) define(obj map[string]any, ns string, t *avroType) (string, error) {
	name, _ := obj["name"].(string)
	if name == "" {
		return "", fmt.Errorf("%s without a name", t.kind)
	}
	if n, ok := obj["namespace"].(string); ok && !strings.Contains(name, ".") {
		ns = n
	}
	full := fullName(name, ns)
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		ns = full[:i]
	} else {
		ns = ""
	}
	t.name = full
	p.named[full] = t
	return ns, nil
}

func (p *schemaParser) parseObject(obj map[string]any, ns string) (*avroType, error) {
	typ := obj["type"]
	s, isString := typ.(string)
	if !isString {
		// {"type": {...}} or {"type": [...]}: a wrapped schema.
		return p.parse(typ, ns)
	}
	logical, _ := obj["logicalType"].(string)
	if k, ok := primitiveKinds[s]; ok {
		return &avroType{kind: k, logical: logical}, nil
	}
	switch s {
	case "record", "error":
		t := &avroType{kind: aRecord}
		ns, err := p.define(obj, ns, t)
		if err != nil {
			return nil, err
		}
		fields, _ := obj["fields"].([]any)
		for _, f := range fields {
			fo, ok := f.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("record %s: field is not an object", t.name)
			}
			name, _ := fo["name"].(string)
			ft, err := p.parse(fo["type"], ns)
			if err != nil {
				return nil, fmt.Errorf("record %s field %s: %w", t.name, name, err)
			}
			t.fields = append(t.fields, avroField{name: name, typ: ft})
		}
		return t, nil
	case "enum":
		t := &avroType{kind: aEnum, logical: logical}
		if _, err := p.define(obj, ns, t); err != nil {
			return nil, err
		}
		syms, _ := obj["symbols"].([]any)
		for _, sym := range syms {
			str, _ := sym.(string)
			t.symbols = append(t.symbols, []byte(str))
		}
		return t, nil
	case "fixed":
		t := &avroType{kind: aFixed, logical: logical}
		if _, err := p.define(obj, ns, t); err != nil {
			return nil, err
		}
		size, _ := obj["size"].(float64)
		if size < 0 || size > 1<<30 {
			return nil, fmt.Errorf("fixed %s: bad size %v", t.name, size)
		}
		t.size = int(size)
		return t, nil
	case "array":
		it, err := p.parse(obj["items"], ns)
		if err != nil {
			return nil, fmt.Errorf("array items: %w", err)
		}
		return &avroType{kind: aArray, items: it, logical: logical}, nil
	case "map":
		vt, err := p.parse(obj["values"], ns)
		if err != nil {
			return nil, fmt.Errorf("map values: %w", err)
		}
		return &avroType{kind: aMap, items: vt, logical: logical}, nil
	default:
		// A named type wrapped in an object: {"type": "io.x.Name"}.
		return p.parse(s, ns)
	}
}

// computeWidth fills avroType.width for t and everything it reaches.
func computeWidth(t *avroType, visiting, done map[*avroType]bool) int {
	if done[t] {
		return t.width
	}
	if visiting[t] {
		return -1 // recursion: variable width (and set once the outer call returns)
	}
	visiting[t] = true
	defer func() { delete(visiting, t); done[t] = true }()
	w := -1
	switch t.kind {
	case aNull:
		w = 0
	case aFloat:
		w = 4
	case aDouble:
		w = 8
	case aFixed:
		w = t.size
	case aRecord:
		w = 0
		for _, f := range t.fields {
			fw := computeWidth(f.typ, visiting, done)
			if fw < 0 || w < 0 {
				w = -1
			} else {
				w += fw
			}
		}
	case aUnion:
		for _, b := range t.branches {
			computeWidth(b, visiting, done)
		}
	case aArray, aMap:
		computeWidth(t.items, visiting, done)
	}
	t.width = w
	return w
}
