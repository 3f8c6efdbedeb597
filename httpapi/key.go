package httpapi

import (
	"bytes"
	"encoding/json"
)

// keyOf returns the value at path in the JSON event ev as key bytes: a
// string's text, a number's literal; nil when path is empty, the field is
// absent or null or another type, or ev is not a JSON object. A later
// duplicate key wins, as in the stream's decoder.
//
// It is a second, small parse of the event, paid only when http.key_field
// is set; it belongs in the decoder's Meta once input.key_field is shared by
// every door.
func keyOf(ev []byte, path []string) []byte {
	if len(path) == 0 {
		return nil
	}
	raw := json.RawMessage(ev)
	for _, seg := range path {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil
		}
		v, ok := obj[seg]
		if !ok {
			return nil
		}
		raw = bytes.TrimSpace(v)
	}
	if len(raw) == 0 {
		return nil
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil
		}
		return []byte(s)
	case c == '-' || (c >= '0' && c <= '9'):
		return bytes.Clone(raw)
	}
	return nil
}
