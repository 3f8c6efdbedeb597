// Package secret is the one type for passwords, tokens and DSNs in the
// configuration. A Value never prints: fmt (every verb), encoding/json and
// YAML (through MarshalText) and log/slog all show "[redacted]" for a set
// value and "" for an unset one, so a struct that holds a secret can be
// logged or put in an error without a hand-written String method. Reveal
// is the only way to the text, and it reads like what it does at the call.
//
// prometheus/common's config.Secret was the other candidate: it prints its
// value through fmt and pulls oauth2, JWT and HTTP-client packages (about
// 6 MB) into the binary, for a type of a few lines.
package secret

import (
	"fmt"
	"log/slog"
)

// Value is a secret string.
type Value string

// Redacted is how a set Value prints.
const Redacted = "[redacted]"

// Reveal returns the secret itself, for the one place that uses it.
func (s Value) Reveal() string { return string(s) }

// String is "[redacted]", or "" when unset (so the two can be told apart).
func (s Value) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString keeps %#v from printing the value.
func (s Value) GoString() string { return `"` + s.String() + `"` }

// Format makes every fmt verb (%d and %x included) print String.
func (s Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// MarshalText is used by encoding/json and YAML encoders.
func (s Value) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText keeps decoding from text configuration working.
func (s *Value) UnmarshalText(b []byte) error { *s = Value(b); return nil }

// LogValue keeps log/slog from printing the value.
func (s Value) LogValue() slog.Value { return slog.StringValue(s.String()) }
