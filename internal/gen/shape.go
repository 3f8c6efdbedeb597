package gen

import (
	"encoding/json"
	"fmt"
	"strings"
)

// shape is the nested-object layout of an event whose fields sit at dotted
// paths: "card.country" and "card.present" both live in one "card" object.
// It is built once; writing an event then only appends bytes.
type shape struct {
	root   node
	fields int
}

type node struct {
	name  []byte // the key, JSON-encoded with its quotes
	field int    // a leaf: index of its value; an object: -1
	kids  []*node
	index map[string]*node
}

// add places field number shape.fields at path. A path that is a prefix of
// another, or given twice, is an error: one JSON key cannot be a value and
// an object at once.
func (s *shape) add(path []string) (int, error) {
	n := &s.root
	for i, key := range path {
		if key == "" {
			return 0, fmt.Errorf("field %q: empty key in the dotted path", strings.Join(path, "."))
		}
		if n.field >= 0 {
			return 0, fmt.Errorf("field %q: %q is a value, not an object", strings.Join(path, "."), strings.Join(path[:i], "."))
		}
		kid := n.index[key]
		if kid == nil {
			name, _ := json.Marshal(key)
			kid = &node{name: name, field: -1}
			if n.index == nil {
				n.index = map[string]*node{}
			}
			n.index[key] = kid
			n.kids = append(n.kids, kid)
		}
		n = kid
	}
	if n.field >= 0 || len(n.kids) > 0 {
		return 0, fmt.Errorf("field %q: declared twice, or also the parent of another field", strings.Join(path, "."))
	}
	n.field = s.fields
	s.fields++
	return n.field, nil
}

// newShape returns a shape whose root is an object (field -1).
func newShape() *shape { return &shape{root: node{field: -1}} }

// appendEvent appends the event as one JSON object: vals[i] is the JSON
// text of field i, nil when the field is left out. Objects whose fields
// are all left out are left out too.
func (s *shape) appendEvent(dst []byte, vals [][]byte) []byte {
	return s.root.appendObject(dst, vals)
}

func (n *node) appendObject(dst []byte, vals [][]byte) []byte {
	dst = append(dst, '{')
	empty := true
	for _, k := range n.kids {
		mark := len(dst)
		if !empty {
			dst = append(dst, ',')
		}
		dst = append(dst, k.name...)
		dst = append(dst, ':')
		if k.field >= 0 {
			if vals[k.field] == nil {
				dst = dst[:mark]
				continue
			}
			dst = append(dst, vals[k.field]...)
		} else {
			at := len(dst)
			if dst = k.appendObject(dst, vals); len(dst) == at+2 { // "{}"
				dst = dst[:mark]
				continue
			}
		}
		empty = false
	}
	return append(dst, '}')
}

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}
