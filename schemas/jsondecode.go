package schemas

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/reject"
)

// jsonDecoder is a hand-written scanner over one JSON object. It validates
// the whole text, materialises only the declared fields and writes them
// straight into the row: no maps, no interface values, no allocation on the
// success path. Strings with escapes are unescaped into scratch; strings
// without escapes alias the input.  Neither is ever overwritten by a later
// Decode.
type jsonDecoder struct {
	fieldTree
	arena   arena
	fields  int
	unknown []string // top-level keys the bundle does not read (first maxUnknown distinct)
}

const maxUnknown = 32

// UnknownFields returns top-level keys of the events that no input reads, in
// the order first seen. Only keys met on the scan path are seen (a key at a
// position learned from an earlier event is not looked at again), which is
// enough to name each unknown key once per producer layout.
func (d *jsonDecoder) UnknownFields() []string { return d.unknown }

func (d *jsonDecoder) noteUnknown(key []byte) {
	if len(d.unknown) >= maxUnknown {
		return
	}
	for _, u := range d.unknown {
		if u == string(key) {
			return
		}
	}
	d.unknown = append(d.unknown, string(key))
}

func (d *jsonDecoder) Decode(b []byte, row *features.Row) (Meta, error) {
	if err := d.start(b, row); err != nil {
		return Meta{}, err
	}
	d.fields = 0
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return Meta{}, malformed("want a JSON object at offset %d", i)
	}
	i, err := d.object(b, i, d.root, 1)
	if err != nil {
		return d.partialMeta(), err
	}
	if i = skipWS(b, i); i != len(b) {
		return Meta{}, malformed("unexpected data after the object at offset %d", i)
	}
	return d.finish()
}

func skipWS(b []byte, i int) int {
	if i < len(b) && b[i] > ' ' {
		return i // the common case: no whitespace at all
	}
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// object reads the object starting at b[i] == '{'. n is the field node whose
// children are looked up (nil: skip everything inside).
func (d *jsonDecoder) object(b []byte, i int, n *fieldNode, depth int) (int, error) {
	if depth > d.maxDepth {
		return i, tooLarge("nesting deeper than %d", d.maxDepth)
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for k := 0; ; k++ {
		if i >= len(b) || b[i] != '"' {
			return i, malformed("want a string key at offset %d", i)
		}
		d.fields++
		if d.fields > d.maxFields {
			return i, tooLarge("more than %d keys", d.maxFields)
		}
		var child *fieldNode
		var end int
		if n != nil && k < len(n.order) && n.order[k].matches(b, i) {
			// The key the same producer sent at this position last time:
			// one comparison instead of a scan and a lookup.
			e := &n.order[k]
			end, child = i+2+int(e.n), e.node
		} else {
			var esc, ok bool
			end, esc, ok = scanString(b, i)
			if !ok {
				return i, malformed("bad string at offset %d", i)
			}
			if n != nil && n.children != nil {
				key := b[i+1 : end-1]
				if esc {
					d.arena.reserve(len(key))
					mark := len(d.arena.buf)
					d.arena.buf = appendUnescaped(d.arena.buf, key)
					child = n.child(d.arena.buf[mark:])
					d.arena.buf = d.arena.buf[:mark] // the key is not kept
				} else {
					child = n.child(key)
					n.learn(k, key, child)
				}
				if child == nil && n == d.root {
					d.noteUnknown(key)
				}
			}
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return i, malformed("want ':' at offset %d", i)
		}
		i = skipWS(b, i+1)
		var err error
		if child == nil {
			i, err = d.skip(b, i, depth)
		} else {
			i, err = d.value(b, i, child, depth)
		}
		if err != nil {
			return i, err
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return i, malformed("unexpected end of input in an object")
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, malformed("want ',' or '}' at offset %d", i)
		}
	}
}

// value reads one value for a declared field node.
func (d *jsonDecoder) value(b []byte, i int, n *fieldNode, depth int) (int, error) {
	if i >= len(b) {
		return i, malformed("unexpected end of input")
	}
	c := b[i]
	switch {
	case c == '{':
		if n.hasRowTarget() {
			return i, wrongType(firstRowTarget(n), "an object where a "+string(firstRowTarget(n).typ)+" is expected")
		}
		if n.children != nil {
			d.clear(n) // a repeated key replaces the whole object, as in encoding/json
			return d.object(b, i, n, depth+1)
		}
		return d.skip(b, i, depth)
	case c == '[':
		if n.hasRowTarget() {
			return i, wrongType(firstRowTarget(n), "an array where a "+string(firstRowTarget(n).typ)+" is expected")
		}
		if n.children != nil {
			return i, &reject.Error{Reason: reject.WrongType, Field: n.path, Err: errWantObject}
		}
		return d.skip(b, i, depth)
	case c == '"':
		end, esc, ok := scanString(b, i)
		if !ok {
			return i, malformed("bad string at offset %d", i)
		}
		if n.children != nil && len(n.targets) == 0 {
			return i, &reject.Error{Reason: reject.WrongType, Field: n.path, Err: errWantObject}
		}
		s := b[i+1 : end-1]
		if esc {
			d.arena.reserve(len(s)) // unescaped text is never longer
			mark := len(d.arena.buf)
			d.arena.buf = appendUnescaped(d.arena.buf, s)
			s = d.arena.since(mark)
		}
		for k := range n.targets {
			if err := d.setText(&n.targets[k], s, "a string"); err != nil {
				return i, err
			}
		}
		return end, nil
	case c == 't' || c == 'f' || c == 'n':
		var lit string
		switch c {
		case 't':
			lit = "true"
		case 'f':
			lit = "false"
		default:
			lit = "null"
		}
		if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
			return i, malformed("bad literal at offset %d", i)
		}
		if c == 'n' {
			d.clear(n)
			return i + len(lit), nil
		}
		if n.children != nil && len(n.targets) == 0 {
			return i, &reject.Error{Reason: reject.WrongType, Field: n.path, Err: errWantObject}
		}
		for k := range n.targets {
			if err := d.setBool(&n.targets[k], c == 't'); err != nil {
				return i, err
			}
		}
		return i + len(lit), nil
	case c == '-' || (c >= '0' && c <= '9'):
		end, isInt, v, ok := scanNumberValue(b, i)
		if !ok {
			return i, malformed("bad number at offset %d", i)
		}
		if n.children != nil && len(n.targets) == 0 {
			return i, &reject.Error{Reason: reject.WrongType, Field: n.path, Err: errWantObject}
		}
		lit := b[i:end]
		for k := range n.targets {
			if err := d.setNumberLiteral(&n.targets[k], lit, isInt, v); err != nil {
				return i, err
			}
		}
		return end, nil
	}
	return i, malformed("unexpected byte %q at offset %d", c, i)
}

// clear marks every input at or below n missing.
func (d *jsonDecoder) clear(n *fieldNode) {
	for k := range n.targets {
		d.setNull(&n.targets[k])
	}
	for _, c := range n.children {
		d.clear(c)
	}
}

var (
	errWantObject = errorString("want an object holding declared fields")
	minusZero     = []byte("0")
)

type errorString string

func (e errorString) Error() string { return string(e) }

func firstRowTarget(n *fieldNode) *target {
	for k := range n.targets {
		if !n.targets[k].isEventID() {
			return &n.targets[k]
		}
	}
	return nil
}

// setNumberLiteral stores a JSON number: numbers and timestamps (epoch ms)
// as float64; categories and event ids as the literal text when it is an
// integer ("-0" as "0").
func (d *jsonDecoder) setNumberLiteral(t *target, lit []byte, isInt bool, v float64) error {
	if t.isEventID() || t.typ == features.Category {
		if !isInt {
			if t.isEventID() {
				return nil
			}
			return wrongType(t, "a non-integer number where a category is expected")
		}
		if len(lit) == 2 && lit[0] == '-' && lit[1] == '0' {
			lit = minusZero
		}
		return d.setText(t, lit, "")
	}
	switch t.typ {
	case features.Number, features.Timestamp:
		return d.setFloat(t, v)
	}
	return wrongType(t, "a number where a bool is expected")
}

// skip validates and steps over one value that no input needs.
func (d *jsonDecoder) skip(b []byte, i int, depth int) (int, error) {
	if i >= len(b) {
		return i, malformed("unexpected end of input")
	}
	switch c := b[i]; {
	case c == '{':
		if depth+1 > d.maxDepth {
			return i, tooLarge("nesting deeper than %d", d.maxDepth)
		}
		return d.object(b, i, nil, depth+1)
	case c == '[':
		if depth+1 > d.maxDepth {
			return i, tooLarge("nesting deeper than %d", d.maxDepth)
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, nil
		}
		for {
			var err error
			if i, err = d.skip(b, i, depth+1); err != nil {
				return i, err
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return i, malformed("unexpected end of input in an array")
			}
			switch b[i] {
			case ',':
				i = skipWS(b, i+1)
			case ']':
				return i + 1, nil
			default:
				return i, malformed("want ',' or ']' at offset %d", i)
			}
		}
	case c == '"':
		end, _, ok := scanString(b, i)
		if !ok {
			return i, malformed("bad string at offset %d", i)
		}
		return end, nil
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		end, _, ok := scanNumber(b, i)
		if !ok {
			return i, malformed("bad number at offset %d", i)
		}
		return end, nil
	default:
		return i, malformed("unexpected byte %q at offset %d", c, i)
	}
}

func literal(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, malformed("bad literal at offset %d", i)
	}
	return i + len(lit), nil
}

// scanString checks the string starting at b[i] == '"' and returns the index
// after the closing quote, and whether it holds escapes. Control characters
// are rejected; bytes >= 0x80 pass unchecked (strings are not UTF-8
// validated). Plain bytes are skipped eight at a time.
func scanString(b []byte, i int) (end int, esc bool, ok bool) {
	j := i + 1
	for {
		for len(b)-j >= 8 {
			m := specialMask(binary.LittleEndian.Uint64(b[j:]))
			if m != 0 {
				j += bits.TrailingZeros64(m) >> 3
				break
			}
			j += 8
		}
		for j < len(b) && !isSpecial(b[j]) {
			j++
		}
		if j >= len(b) {
			return len(b), esc, false
		}
		switch c := b[j]; {
		case c == '"':
			return j + 1, esc, true
		case c == '\\':
			esc = true
			j++
			if j >= len(b) {
				return j, esc, false
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-j < 5 || !isHex4(b[j+1:j+5]) {
					return j, esc, false
				}
				j += 4
			default:
				return j, esc, false
			}
			j++
		default: // control character
			return j, esc, false
		}
	}
}

func isSpecial(c byte) bool { return c == '"' || c == '\\' || c < 0x20 }

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialMask has the high bit set in the lowest byte of x that is '"',
// '\\' or below 0x20 (higher bits may be set spuriously by borrows, never
// lower ones, so the lowest set bit is exact); zero when there is none.
func specialMask(x uint64) uint64 {
	q := x ^ (lsb * '"')
	bs := x ^ (lsb * '\\')
	return ((q-lsb)&^q | (bs-lsb)&^bs | (x-lsb*0x20)&^x) & msb
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// appendUnescaped appends the unescaped form of a scanned string body (as
// scanString accepted it). Lone surrogates become U+FFFD, as in encoding/json.
func appendUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[i+1:])
			i += 4
			if utf16.IsSurrogate(r) {
				if i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					r2 := hex4(s[i+3:])
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						dst = utf8.AppendRune(dst, dec)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, s[i])
		}
	}
	return dst
}
