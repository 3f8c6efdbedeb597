package pgsink

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas"
)

// Row is one prediction as the sink writes it: the record's fields plus
// where it came from.
type Row struct {
	Model         string
	ModelVersion  string
	EventID       *string // nil: NULL
	Key           *string
	EventTime     *time.Time
	ScoredTime    time.Time
	Label         *string
	Score         float64
	Probabilities []byte // jsonb object {"class": probability}
	Features      []byte // jsonb object {"name": value or null}; nil when not echoed

	Topic     string
	Partition int32
	Offset    int64

	// key and value are the record's bytes, kept for the rejects table
	// should PostgreSQL refuse the row (batch.parseOne sets them).
	key, value []byte
}

// values fills dst with the row in rowColumns order.
func (r *Row) values(dst []any) []any {
	var features any // a nil []byte in an interface would not be a NULL for jsonb
	if r.Features != nil {
		features = r.Features
	}
	return append(dst[:0], r.Model, r.ModelVersion, r.EventID, r.Key, r.EventTime, r.ScoredTime,
		r.Label, r.Score, r.Probabilities, features, r.Topic, r.Partition, r.Offset)
}

// Reject is a record that is not a prediction the table can hold. It is
// written to the rejects table in the same transaction as the rows, so it is
// neither lost nor written twice.
type Reject struct {
	Topic     string
	Partition int32
	Offset    int64
	Reason    reject.Reason
	Err       string
	Key       []byte
	Value     []byte
}

func (r *Reject) values(dst []any) []any {
	return append(dst[:0], r.Topic, r.Partition, r.Offset, string(r.Reason), clean(r.Err), r.Key, r.Value)
}

// predictionJSON is the plain-JSON prediction record as schemas.JSONEncoder
// writes it (schemas/avro/prediction.avsc). Pointers tell absent/null from
// zero; unknown fields are ignored so a newer writer can add some. Keys are
// exact (parseOptions): "Score" is an unknown field, not score, and a key
// that appears twice in one object refuses the record.
type predictionJSON struct {
	Key           *string         `json:"key"`
	EventID       *string         `json:"event_id"`
	EventTime     *int64          `json:"event_time"`
	ScoredTime    *int64          `json:"scored_time"`
	Model         *string         `json:"model"`
	ModelVersion  *string         `json:"model_version"`
	Score         *float64        `json:"score"`
	Label         *string         `json:"label"`
	Probabilities *[]classProb    `json:"probabilities"`
	Features      *[]featureValue `json:"features"`
}

type classProb struct {
	Class       *string  `json:"class"`
	Probability *float64 `json:"probability"`
}

type featureValue struct {
	Name  *string  `json:"name"`
	Value *float64 `json:"value"`
}

// timestamptz holds years 4713 BC to 294276 AD; records are checked against
// a narrower, plainly sane range so the conversion cannot overflow.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)
)

// ParseRow maps one prediction record to a row. A value that is not a
// prediction gives a *reject.Error with the reason and the field.
func ParseRow(value []byte, topic string, partition int32, offset int64) (Row, error) {
	r := Row{Topic: topic, Partition: partition, Offset: offset}
	var p predictionJSON
	if v := bytes.TrimSpace(value); len(v) == 0 || string(v) == "null" {
		return r, &reject.Error{Reason: reject.Malformed, Err: errors.New("empty or null value (a tombstone?)")}
	}
	if err := json.Unmarshal(value, &p, parseOptions); err != nil {
		return r, jsonError(err)
	}
	if p.Model == nil {
		return r, missing("model")
	}
	if p.ModelVersion == nil {
		return r, missing("model_version")
	}
	if p.ScoredTime == nil {
		return r, missing("scored_time")
	}
	if p.Score == nil {
		return r, missing("score")
	}
	if p.Probabilities == nil {
		return r, missing("probabilities")
	}
	r.Model, r.ModelVersion, r.Score = clean(*p.Model), clean(*p.ModelVersion), *p.Score
	r.EventID, r.Key, r.Label = cleanPtr(p.EventID), cleanPtr(p.Key), cleanPtr(p.Label)
	var err error
	if r.ScoredTime, err = millis("scored_time", *p.ScoredTime); err != nil {
		return r, err
	}
	if p.EventTime != nil {
		t, err := millis("event_time", *p.EventTime)
		if err != nil {
			return r, err
		}
		r.EventTime = &t
	}

	if r.Probabilities, err = jsonObject("probabilities", "class", "probability", *p.Probabilities, false,
		func(c classProb) (*string, *float64) { return c.Class, c.Probability }); err != nil {
		return r, err
	}
	if p.Features != nil {
		if r.Features, err = jsonObject("features", "name", "value", *p.Features, true,
			func(f featureValue) (*string, *float64) { return f.Name, f.Value }); err != nil {
			return r, err
		}
	}
	return r, nil
}

// jsonObject writes a list of {nameKey, valueKey} pairs as one JSON object
// {"name": value}. A pair without a name (or, unless nullable, without a
// value) is missing_field; a name given twice is wrong_type (an object
// cannot hold both).
func jsonObject[T any](list, nameKey, valueKey string, items []T, nullable bool, pair func(T) (*string, *float64)) ([]byte, error) {
	seen := make(map[string]bool, len(items))
	b := make([]byte, 0, 32*len(items)+2)
	b = append(b, '{')
	for i, it := range items {
		field := list + "[" + strconv.Itoa(i) + "]"
		name, value := pair(it)
		if name == nil {
			return nil, missing(field + "." + nameKey)
		}
		if value == nil && !nullable {
			return nil, missing(field + "." + valueKey)
		}
		n := clean(*name)
		if seen[n] {
			return nil, &reject.Error{Reason: reject.WrongType, Field: field + "." + nameKey, Err: fmt.Errorf("%s %q appears twice", nameKey, n)}
		}
		seen[n] = true
		if i > 0 {
			b = append(b, ',')
		}
		b = schemas.AppendJSONString(b, n)
		b = append(b, ':')
		if value == nil {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendFloat(b, *value, 'g', -1, 64)
		}
	}
	return append(b, '}'), nil
}

func missing(field string) error {
	return &reject.Error{Reason: reject.MissingField, Field: field, Err: errors.New("absent or null")}
}

// parseOptions make the record's JSON exact, as the encoder writes it, where
// encoding/json (v1) matched keys in any case and kept the last of a
// repeated key, so that "Score" filled score and {"score":0.1,"score":0.9}
// was stored as 0.9 with nothing to say the writer was in doubt. The v2
// package (github.com/go-json-experiment/json, the module behind Go's
// encoding/json/v2) matches keys exactly and refuses a repeated one by
// default; the options say so here rather than lean on that. Invalid UTF-8
// is still read as U+FFFD, as the encoder writes it and as before.
var parseOptions = json.JoinOptions(
	json.MatchCaseInsensitiveNames(false),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(true),
)

// jsonError sorts the JSON decoder's errors into the reject vocabulary.
func jsonError(err error) error {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		if errors.Is(se.Err, jsontext.ErrDuplicateName) {
			return &reject.Error{Reason: reject.Malformed, Field: fieldPath(se.JSONPointer),
				Err: errors.New("the key appears twice in its object")}
		}
		return &reject.Error{Reason: reject.Malformed, Err: err} // not JSON
	}
	var te *json.SemanticError
	switch {
	case !errors.As(err, &te) || te.JSONPointer == "":
		// JSON but not an object.
		return &reject.Error{Reason: reject.Malformed, Err: err}
	case errors.Is(te.Err, strconv.ErrRange) && te.JSONKind == '0':
		// A number past float64's range (1e999).
		return &reject.Error{Reason: reject.NotFinite, Field: fieldPath(te.JSONPointer), Err: err}
	}
	return &reject.Error{Reason: reject.WrongType, Field: fieldPath(te.JSONPointer), Err: err}
}

// fieldPath writes a JSON Pointer (/probabilities/1/class) as the field
// names of reject errors (probabilities[1].class). A token is an index only
// right under one of the record's two lists: elsewhere "1" is a key.
func fieldPath(p jsontext.Pointer) string {
	var b strings.Builder
	var list bool
	for tok := range p.Tokens() {
		switch _, err := strconv.Atoi(tok); {
		case list && err == nil:
			b.WriteString("[" + tok + "]")
		case b.Len() > 0:
			b.WriteString("." + tok)
		default:
			b.WriteString(tok)
		}
		list = b.String() == "probabilities" || b.String() == "features"
	}
	return b.String()
}

func millis(field string, ms int64) (time.Time, error) {
	if ms < minTime.UnixMilli() || ms > maxTime.UnixMilli() {
		return time.Time{}, &reject.Error{Reason: reject.WrongType, Field: field,
			Err: fmt.Errorf("%d ms is outside years 1 to 9999", ms)}
	}
	return time.UnixMilli(ms).UTC(), nil
}

// clean makes a string storable as PostgreSQL text and jsonb: NUL, which
// neither accepts, becomes U+FFFD, as the encoder already does for invalid
// UTF-8 (encoding/json replaced that on decode).
func clean(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

func cleanPtr(s *string) *string {
	if s == nil {
		return nil
	}
	c := clean(*s)
	return &c
}
