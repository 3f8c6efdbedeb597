package schemas

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Prediction is one scored event, as the processor hands it to an Encoder.
type Prediction struct {
	Key          []byte    // input record key; nil when the record had none
	EventID      []byte    // from Meta.EventID; nil when unknown
	EventTime    time.Time // zero when unknown
	ScoredTime   time.Time
	Model        string
	ModelVersion string
	Score        float64
	Label        string // empty: no label
	Classes      []string
	Probs        []float64 // one per class
	FeatureNames []string  // echoed when OutputConfig.EchoFeatures
	Features     []float64 // NaN means missing
}

// Encoder appends the encoding of a prediction to dst and returns the
// extended slice, so callers can reuse buffers. Encoders hold no mutable
// state and are safe for concurrent use.
//
// Errors wrap ErrNonFinite (score or a probability is NaN or ±Inf) or
// ErrShape (Classes/Probs or FeatureNames/Features lengths differ); on error
// dst is returned unchanged.
type Encoder interface {
	Append(dst []byte, p *Prediction) ([]byte, error)
}

// NewEncoder builds the encoder for cfg. For format confluent it looks up
// the prediction schema under cfg.Subject and registers it when absent,
// using ctx for those requests.
func NewEncoder(ctx context.Context, cfg OutputConfig, reg *Registry) (Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	switch cfg.Format {
	case FormatJSON:
		return &JSONEncoder{echo: cfg.EchoFeatures}, nil
	case FormatAvro:
		return &AvroEncoder{echo: cfg.EchoFeatures}, nil
	case FormatConfluent:
		if reg == nil {
			return nil, fmt.Errorf("new confluent encoder: %w", ErrNoRegistry)
		}
		text, err := EmbeddedSchema(PredictionSchemaName)
		if err != nil {
			return nil, err
		}
		id, err := reg.Register(ctx, cfg.Subject, text)
		if err != nil {
			return nil, fmt.Errorf("new confluent encoder: %w", err)
		}
		return &AvroEncoder{echo: cfg.EchoFeatures, framed: true, id: uint32(id)}, nil
	}
	return nil, fmt.Errorf("output format %q: %w", cfg.Format, ErrUnknownFormat)
}

func checkPrediction(p *Prediction, echo bool) error {
	if len(p.Classes) != len(p.Probs) {
		return fmt.Errorf("encode prediction: %d classes, %d probabilities: %w", len(p.Classes), len(p.Probs), ErrShape)
	}
	if echo && len(p.FeatureNames) != len(p.Features) {
		return fmt.Errorf("encode prediction: %d feature names, %d features: %w", len(p.FeatureNames), len(p.Features), ErrShape)
	}
	if !finite(p.Score) {
		return fmt.Errorf("encode prediction: score %v: %w", p.Score, ErrNonFinite)
	}
	for i, v := range p.Probs {
		if !finite(v) {
			return fmt.Errorf("encode prediction: probability of %q is %v: %w", p.Classes[i], v, ErrNonFinite)
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// JSONEncoder writes the prediction as one JSON object whose shape is the
// plain-JSON rendering of prediction.avsc: every field always present, null
// for absent optional values, times as epoch milliseconds, floats in the
// shortest form that parses back to the same float64.
type JSONEncoder struct{ echo bool }

func (e *JSONEncoder) Append(dst []byte, p *Prediction) ([]byte, error) {
	if err := checkPrediction(p, e.echo); err != nil {
		return dst, err
	}
	b := append(dst, `{"key":`...)
	b = appendJSONBytesOrNull(b, p.Key)
	b = append(b, `,"event_id":`...)
	b = appendJSONBytesOrNull(b, p.EventID)
	b = append(b, `,"event_time":`...)
	if p.EventTime.IsZero() {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, p.EventTime.UnixMilli(), 10)
	}
	b = append(b, `,"scored_time":`...)
	b = strconv.AppendInt(b, p.ScoredTime.UnixMilli(), 10)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, p.Model)
	b = append(b, `,"model_version":`...)
	b = appendJSONString(b, p.ModelVersion)
	b = append(b, `,"score":`...)
	scoreAt := len(b)
	b = appendJSONFloat(b, p.Score)
	score := b[scoreAt:len(b):len(b)] // the score's text: a binary model's positive-class probability repeats it
	b = append(b, `,"label":`...)
	if p.Label == "" {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, p.Label)
	}
	b = append(b, `,"probabilities":`...)
	b = appendJSONPairs(b, `{"class":`, `,"probability":`, p.Classes, p.Probs, p.Score, score)
	b = append(b, `,"features":`...)
	if !e.echo || p.FeatureNames == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONPairs(b, `{"name":`, `,"value":`, p.FeatureNames, p.Features, 0, nil)
	}
	b = append(b, '}')
	return b, nil
}

// appendJSONPairs writes the array [{<name>names[i],<value>values[i]}, ...]
// (name and value are the object's opening and its second key); a value
// that is not finite is null. A value with the bits of repeat is written as
// repeatText (when not nil): the score's text, formatted once.
func appendJSONPairs(b []byte, name, value string, names []string, values []float64, repeat float64, repeatText []byte) []byte {
	repeatBits := math.Float64bits(repeat)
	b = append(b, '[')
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, name...)
		b = appendJSONString(b, n)
		b = append(b, value...)
		if v := values[i]; repeatText != nil && math.Float64bits(v) == repeatBits {
			b = append(b, repeatText...)
		} else if finite(v) {
			b = appendJSONFloat(b, v)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendJSONFloat writes a finite float64 so that it parses back exactly:
// strconv's shortest 'g' form. Small integers (one-hot columns, counts) are
// written by AppendInt, which gives the same text faster.
func appendJSONFloat(b []byte, v float64) []byte {
	if v > -1e6 && v < 1e6 && v == float64(int64(v)) && (v != 0 || !math.Signbit(v)) {
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func appendJSONBytesOrNull(b, s []byte) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendJSONString(b, bytesString(s))
}

// bytesString views b as a string without copying; the string must not
// outlive the call it is passed to.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string, as the JSON encoder writes
// every string of a prediction; the file door's reject lines use it too.
func AppendJSONString(b []byte, s string) []byte { return appendJSONString(b, s) }

// appendJSONString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD
// (as encoding/json does); control characters, U+2028 and U+2029 are escaped.
// Runs of plain ASCII are copied eight bytes at a time.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		for len(s)-i >= 8 && !needsEscape(load64(s, i)) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// load64 reads eight bytes little-endian (the compiler merges the loads).
func load64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// needsEscape reports whether any byte of x is '"', '\\', below 0x20 or
// not ASCII.
func needsEscape(x uint64) bool {
	return specialMask(x)|x&msb != 0
}

// AvroEncoder writes the prediction as Avro binary of prediction.avsc,
// optionally framed for Confluent (magic byte 0, schema id). It is written by
// hand (zig-zag varints, little-endian doubles) and tested byte for byte
// against goavro; see docs/BENCHMARKS.md for why.
type AvroEncoder struct {
	echo   bool
	framed bool
	id     uint32
}

// SchemaID is the registry id written in each record (0 when not framed).
func (e *AvroEncoder) SchemaID() int { return int(e.id) }

func (e *AvroEncoder) Append(dst []byte, p *Prediction) ([]byte, error) {
	if err := checkPrediction(p, e.echo); err != nil {
		return dst, err
	}
	b := dst
	if e.framed {
		b = append(b, 0)
		b = binary.BigEndian.AppendUint32(b, e.id)
	}
	b = appendAvroOptString(b, bytesString(p.Key), p.Key != nil)
	b = appendAvroOptString(b, bytesString(p.EventID), p.EventID != nil)
	if p.EventTime.IsZero() {
		b = append(b, 0)
	} else {
		b = append(b, 2)
		b = appendAvroLong(b, p.EventTime.UnixMilli())
	}
	b = appendAvroLong(b, p.ScoredTime.UnixMilli())
	b = appendAvroString(b, p.Model)
	b = appendAvroString(b, p.ModelVersion)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.Score))
	b = appendAvroOptString(b, p.Label, p.Label != "")
	if n := len(p.Classes); n > 0 {
		b = appendAvroLong(b, int64(n))
		for i, c := range p.Classes {
			b = appendAvroString(b, c)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.Probs[i]))
		}
	}
	b = append(b, 0) // end of the probabilities array
	if !e.echo || p.FeatureNames == nil {
		b = append(b, 0)
	} else {
		b = append(b, 2)
		if n := len(p.FeatureNames); n > 0 {
			b = appendAvroLong(b, int64(n))
			for i, name := range p.FeatureNames {
				b = appendAvroString(b, name)
				if v := p.Features[i]; finite(v) {
					b = append(b, 2)
					b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
				} else {
					b = append(b, 0)
				}
			}
		}
		b = append(b, 0)
	}
	return b, nil
}

func appendAvroLong(b []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		b = append(b, byte(u)|0x80)
		u >>= 7
	}
	return append(b, byte(u))
}

// appendAvroString writes an Avro string; invalid UTF-8 bytes are replaced
// by U+FFFD (one each, as in the JSON output) so every Avro reader accepts it.
func appendAvroString(b []byte, s string) []byte {
	if utf8.ValidString(s) {
		b = appendAvroLong(b, int64(len(s)))
		return append(b, s...)
	}
	fixed := []byte(nil)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		fixed = utf8.AppendRune(fixed, r)
		i += size
	}
	b = appendAvroLong(b, int64(len(fixed)))
	return append(b, fixed...)
}

func appendAvroOptString(b []byte, s string, present bool) []byte {
	if !present {
		return append(b, 0)
	}
	b = append(b, 2)
	return appendAvroString(b, s)
}
