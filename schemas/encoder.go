package schemas

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
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
	b = appendJSONFloat(b, p.Score)
	b = append(b, `,"label":`...)
	if p.Label == "" {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, p.Label)
	}
	b = append(b, `,"probabilities":[`...)
	for i, c := range p.Classes {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"class":`...)
		b = appendJSONString(b, c)
		b = append(b, `,"probability":`...)
		b = appendJSONFloat(b, p.Probs[i])
		b = append(b, '}')
	}
	b = append(b, `],"features":`...)
	if !e.echo || p.FeatureNames == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, n := range p.FeatureNames {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendJSONString(b, n)
			b = append(b, `,"value":`...)
			if v := p.Features[i]; finite(v) {
				b = appendJSONFloat(b, v)
			} else {
				b = append(b, "null"...)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	return b, nil
}

// appendJSONFloat writes a finite float64 so that it parses back exactly.
func appendJSONFloat(b []byte, v float64) []byte {
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func appendJSONBytesOrNull(b, s []byte) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendJSONString(b, s)
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD
// (as encoding/json does); control characters, U+2028 and U+2029 are escaped.
func appendJSONString[S string | []byte](b []byte, s S) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
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
		r, size := decodeRune(s[i:])
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

func decodeRune[S string | []byte](s S) (rune, int) {
	switch v := any(s).(type) {
	case string:
		return utf8.DecodeRuneInString(v)
	case []byte:
		return utf8.DecodeRune(v)
	}
	return utf8.RuneError, 1
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
	b = appendAvroOptString(b, p.Key, p.Key != nil)
	b = appendAvroOptString(b, p.EventID, p.EventID != nil)
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

// appendAvroString writes an Avro string; invalid UTF-8 is replaced by U+FFFD
// so every Avro reader accepts it.
func appendAvroString[S string | []byte](b []byte, s S) []byte {
	if isValidUTF8(s) {
		b = appendAvroLong(b, int64(len(s)))
		return append(b, s...)
	}
	fixed := []byte(nil)
	for i := 0; i < len(s); {
		r, size := decodeRune(s[i:])
		fixed = utf8.AppendRune(fixed, r)
		i += size
	}
	b = appendAvroLong(b, int64(len(fixed)))
	return append(b, fixed...)
}

func isValidUTF8[S string | []byte](s S) bool {
	switch v := any(s).(type) {
	case string:
		return utf8.ValidString(v)
	case []byte:
		return utf8.Valid(v)
	}
	return false
}

func appendAvroOptString[S string | []byte](b []byte, s S, present bool) []byte {
	if !present {
		return append(b, 0)
	}
	b = append(b, 2)
	return appendAvroString(b, s)
}
