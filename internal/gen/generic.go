package gen

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/scoring"
)

// Options shape a Generic generator's events. The zero value makes
// complete events, every value inside its training range, with no key or
// event id field.
type Options struct {
	// Missing is the chance that an optional input is left out of an event
	// (half the time absent, half the time null).
	Missing float64
	// Outside is the chance that a number falls outside its training range
	// (by up to a quarter of the range), or that a category is one training
	// never saw.
	Outside float64
	// KeyField is the dotted path the event's key is written to (the
	// service's input.key_field); empty: the key is not in the event. When
	// it names an input, that input's value is the key.
	KeyField string
	// EventIDField is the dotted path of a unique event id (the service's
	// input.event_id_field); empty: none.
	EventIDField string
	// Entities is how many distinct keys the events spread over (default 1000).
	Entities int
}

// DefaultEntities is the key population when Options.Entities is 0.
const DefaultEntities = 1000

// outsideBy is how far outside its range a number may fall, as a fraction of the range.
const outsideBy = 0.25

// Generic generates events for any bundle from its declared inputs:
// numbers inside the training range (a triangular distribution, most
// values near the middle; Options.Outside of them just outside it),
// numbers without a range in [0, 100), categories drawn from the declared
// ones (Options.Outside of them unseen), timestamps within the hour before
// now, bools, each optional input missing at Options.Missing, dotted paths
// as nested objects. It is deterministic for a seed, options and clock,
// and not safe for concurrent use.
type Generic struct {
	rng    *rand.Rand
	opts   Options
	inputs []inputGen
	shape  *shape

	idField, keyField int // fields of the event id and the key, -1 when not written
	keyInput          int // the input that is the key, -1
	paddingKey        string

	// poison targets, -1 when the bundle has none
	missingInput, finiteInput, typeInput int

	seq   uint64
	runID string
	buf   []byte
	spans [][2]int // per field: its value in buf; start -1 when left out
	vals  [][]byte
}

// inputGen is how one input's values are made.
type inputGen struct {
	features.Input
	field    int
	lo, hi   float64 // the range, or [0, 100) without one
	ranged   bool
	decimals int
	cats     []string // the categories drawn from
	unseen   []string // categories training never saw
	tol      tolerance
}

// tolerance says which departures from a clean, complete, in-range event
// the bundle scores without a reject, per input.
type tolerance struct{ missing, below, above, unseen bool }

// NewFromLayout returns a generator for the inputs of layout. Every
// optional input may be missing and every number or category may fall
// outside what training saw; NewForBundle keeps each input to what the
// bundle scores.
func NewFromLayout(layout *features.Layout, seed uint64, opts Options) (*Generic, error) {
	if layout == nil || len(layout.Inputs) == 0 {
		return nil, errors.New("generator: the bundle declares no inputs")
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"missing", opts.Missing}, {"outside", opts.Outside}} {
		if !(f.v >= 0 && f.v <= 1) {
			return nil, fmt.Errorf("generator: %s rate %g: want a fraction between 0 and 1", f.name, f.v)
		}
	}
	if opts.Entities <= 0 {
		opts.Entities = DefaultEntities
	}
	g := &Generic{
		rng:  rand.New(rand.NewPCG(seed, seed^0x6a09e667f3bcc909)),
		opts: opts, shape: newShape(), idField: -1, keyField: -1, keyInput: -1,
		missingInput: -1, finiteInput: -1, typeInput: -1,
		runID: strconv.FormatUint(seed, 36),
	}
	paths := map[string]int{}
	for i, in := range layout.Inputs {
		paths[strings.Join(in.FieldPath(), ".")] = i
	}
	// The event id and the key come first, as in most event schemas.
	if f := opts.EventIDField; f != "" && f != opts.KeyField {
		if _, isInput := paths[f]; !isInput {
			var err error
			if g.idField, err = g.shape.add(strings.Split(f, ".")); err != nil {
				return nil, fmt.Errorf("generator: event id field: %w", err)
			}
		}
	}
	if f := opts.KeyField; f != "" {
		if i, isInput := paths[f]; isInput {
			g.keyInput = i
		} else {
			var err error
			if g.keyField, err = g.shape.add(strings.Split(f, ".")); err != nil {
				return nil, fmt.Errorf("generator: key field: %w", err)
			}
		}
	}
	for i, in := range layout.Inputs {
		field, err := g.shape.add(in.FieldPath())
		if err != nil {
			return nil, fmt.Errorf("generator: input %q: %w (the key field is %q, the event id field %q)", in.Name, err, opts.KeyField, opts.EventIDField)
		}
		ig := inputGen{Input: in, field: field, lo: 0, hi: 100, decimals: 2,
			tol: tolerance{missing: !in.Required && i != g.keyInput, below: true, above: true, unseen: true}}
		switch in.Type {
		case features.Number:
			if in.Range != nil {
				ig.lo, ig.hi, ig.ranged = in.Range[0], in.Range[1], true
				ig.decimals = decimalsFor(ig.hi - ig.lo)
			}
			if g.finiteInput < 0 {
				g.finiteInput = i
			}
		case features.Category:
			ig.cats = in.Categories
			if len(ig.cats) == 0 {
				for k := range 5 {
					ig.cats = append(ig.cats, in.Name+"-"+strconv.Itoa(k))
				}
			}
			for k := range 3 {
				ig.unseen = append(ig.unseen, in.Name+"-unseen-"+strconv.Itoa(k))
			}
		}
		if in.Required && g.missingInput < 0 {
			g.missingInput = i
		}
		g.inputs = append(g.inputs, ig)
	}
	g.typeInput = g.pickTypeInput()
	g.paddingKey = "padding"
	for g.shape.root.index[g.paddingKey] != nil {
		g.paddingKey += "_"
	}
	g.spans = make([][2]int, g.shape.fields)
	g.vals = make([][]byte, g.shape.fields)
	return g, nil
}

// pickTypeInput is the input a wrong_type poison spoils: a number ("lots"),
// else a bool ("maybe"), else a timestamp ("yesterday"). A category takes
// any string or number, so it cannot be the wrong type.
func (g *Generic) pickTypeInput() int {
	for _, want := range []features.InputType{features.Number, features.Bool, features.Timestamp} {
		for i, in := range g.inputs {
			if in.Type == want {
				return i
			}
		}
	}
	return -1
}

// decimalsFor keeps about five significant digits of a range's width.
func decimalsFor(width float64) int {
	if !(width > 0) {
		return 6
	}
	return min(max(4-int(math.Floor(math.Log10(width))), 0), 12)
}

// NewForBundle returns a generator for b's inputs that departs from a
// clean event only where b still scores it: it scores one event per input
// and departure (left out, below or above its range, an unseen category)
// and keeps each input to the departures b accepts. So every event Next
// makes is scored (neither a DLQ record nor an error answer), and
// Poison's missing_field drops an input b requires.
func NewForBundle(b *scoring.Bundle, seed uint64, opts Options) (*Generic, error) {
	g, err := NewFromLayout(b.Layout(), seed, opts)
	if err != nil {
		return nil, err
	}
	layout, sc := b.Layout(), b.NewScorer()
	base := layout.NewRow()
	nowMs := float64(time.Now().UnixMilli())
	for i, in := range g.inputs {
		switch in.Type {
		case features.Number:
			base.Num[layout.Slot(i)] = (in.lo + in.hi) / 2
		case features.Timestamp:
			base.Num[layout.Slot(i)] = nowMs
		case features.Bool:
			base.Num[layout.Slot(i)] = 1
		case features.Category:
			base.Cat[layout.Slot(i)] = []byte(in.cats[0])
		}
	}
	if p := sc.ScoreOne(base); p.Reject != "" {
		return nil, fmt.Errorf("generator: bundle %s rejects a complete event of mid-range values and declared categories (%s, %s): declare each category input's categories and each number's range in bundle.json",
			b.Name, p.Reject, p.RejectFeature)
	}
	row := layout.NewRow()
	scores := func(i int, num float64, cat []byte) (reject.Reason, bool) {
		copy(row.Num, base.Num)
		copy(row.Cat, base.Cat)
		if in := g.inputs[i]; in.Type == features.Category {
			row.Cat[layout.Slot(i)] = cat
		} else {
			row.Num[layout.Slot(i)] = num
		}
		p := sc.ScoreOne(row)
		return p.Reject, p.Reject == ""
	}
	g.missingInput = -1
	for i := range g.inputs {
		in := &g.inputs[i]
		reason, ok := scores(i, math.NaN(), nil)
		in.tol.missing = in.tol.missing && ok
		if reason == reject.MissingField && g.missingInput < 0 {
			g.missingInput = i
		}
		switch in.Type {
		case features.Number:
			if !in.ranged {
				break
			}
			by := outsideBy * g.width(i)
			_, in.tol.below = scores(i, in.lo-by, nil)
			_, in.tol.above = scores(i, in.hi+by, nil)
		case features.Category:
			ok := true
			for _, u := range in.unseen {
				_, scored := scores(i, 0, []byte(u))
				ok = ok && scored
			}
			in.tol.unseen = ok
		}
	}
	return g, nil
}

// width is input i's range width, or a scale for a range of one value.
func (g *Generic) width(i int) float64 {
	in := &g.inputs[i]
	if w := in.hi - in.lo; w > 0 {
		return w
	}
	return max(math.Abs(in.lo), 1)
}

// Next appends one clean event's JSON to dst and returns its key (a fresh
// slice) and the extended dst.
func (g *Generic) Next(dst []byte, now time.Time) (key, value []byte) {
	key = g.fill(now)
	return key, g.write(dst)
}

// Poisons are the PoisonKinds this generator can make for its inputs:
// missing_field needs an input the bundle requires, not_finite a number,
// wrong_type a number, bool or timestamp.
func (g *Generic) Poisons() []string {
	var kinds []string
	for _, k := range PoisonKinds {
		if (k == "missing_field" && g.missingInput < 0) || (k == "not_finite" && g.finiteInput < 0) ||
			(k == "wrong_type" && g.typeInput < 0) {
			continue
		}
		kinds = append(kinds, k)
	}
	return kinds
}

// Poison returns an event the service must reject with the reason kind
// (one of Poisons); another kind gives a clean event. tooLargeBytes sizes
// the too_large event.
func (g *Generic) Poison(kind string, now time.Time, tooLargeBytes int) (key, value []byte) {
	key = g.fill(now)
	switch {
	case kind == "missing_field" && g.missingInput >= 0:
		g.spans[g.inputs[g.missingInput].field][0] = -1
	case kind == "not_finite" && g.finiteInput >= 0:
		g.set(g.inputs[g.finiteInput].field, "1e999")
	case kind == "wrong_type" && g.typeInput >= 0:
		bad := map[features.InputType]string{features.Number: `"lots"`, features.Bool: `"maybe"`, features.Timestamp: `"yesterday"`}
		g.set(g.inputs[g.typeInput].field, bad[g.inputs[g.typeInput].Type])
	}
	v := g.write(nil)
	switch kind {
	case "malformed":
		return key, v[:len(v)/2] // no prefix of an object is JSON
	case "too_large":
		out := make([]byte, 0, tooLargeBytes+len(v)+32)
		out = append(out, v[:len(v)-1]...)
		if len(v) > 2 {
			out = append(out, ',')
		}
		out = appendString(out, g.paddingKey)
		out = append(out, `:"`...)
		for len(out) < tooLargeBytes {
			out = append(out, 'x')
		}
		return key, append(out, `"}`...)
	}
	return key, v
}

// set makes field hold the JSON text lit.
func (g *Generic) set(field int, lit string) {
	start := len(g.buf)
	g.buf = append(g.buf, lit...)
	g.spans[field] = [2]int{start, len(g.buf)}
}

// fill draws one event's values into g.buf and g.spans and returns its key.
func (g *Generic) fill(now time.Time) (key []byte) {
	g.seq++
	g.buf = g.buf[:0]
	for i := range g.spans {
		g.spans[i][0] = -1
	}
	if g.idField >= 0 {
		start := len(g.buf)
		g.buf = append(g.buf, `"ev-`...)
		g.buf = append(g.buf, g.runID...)
		g.buf = append(g.buf, '-')
		g.buf = strconv.AppendUint(g.buf, g.seq, 10)
		g.buf = append(g.buf, '"')
		g.spans[g.idField] = [2]int{start, len(g.buf)}
	}
	entity := g.rng.IntN(g.opts.Entities)
	if g.keyInput < 0 {
		key = strconv.AppendInt([]byte("entity-"), int64(entity), 10)
		if g.keyField >= 0 {
			start := len(g.buf)
			g.buf = append(g.buf, '"')
			g.buf = append(g.buf, key...)
			g.buf = append(g.buf, '"')
			g.spans[g.keyField] = [2]int{start, len(g.buf)}
		}
	}
	for i := range g.inputs {
		in := &g.inputs[i]
		if in.tol.missing && g.opts.Missing > 0 && g.rng.Float64() < g.opts.Missing {
			if g.rng.IntN(2) == 0 {
				g.set(in.field, "null")
			}
			continue
		}
		start := len(g.buf)
		switch in.Type {
		case features.Number:
			g.buf = strconv.AppendFloat(g.buf, g.number(i), 'f', -1, 64)
		case features.Category:
			c := in.cats[g.rng.IntN(len(in.cats))]
			if in.tol.unseen && g.opts.Outside > 0 && g.rng.Float64() < g.opts.Outside {
				c = in.unseen[g.rng.IntN(len(in.unseen))]
			}
			g.buf = appendString(g.buf, c)
		case features.Timestamp:
			ts := now.Add(-time.Duration(g.rng.Int64N(int64(time.Hour)))).Truncate(time.Millisecond)
			g.buf = append(g.buf, '"')
			g.buf = ts.UTC().AppendFormat(g.buf, time.RFC3339Nano)
			g.buf = append(g.buf, '"')
		case features.Bool:
			g.buf = strconv.AppendBool(g.buf, g.rng.IntN(2) == 1)
		}
		g.spans[in.field] = [2]int{start, len(g.buf)}
		if i == g.keyInput {
			key = keyText(g.buf[start:])
		}
	}
	return key
}

// number draws a value of number input i.
func (g *Generic) number(i int) float64 {
	in := &g.inputs[i]
	if !in.ranged {
		return round(in.lo+g.rng.Float64()*(in.hi-in.lo), in.decimals)
	}
	if (in.tol.below || in.tol.above) && g.opts.Outside > 0 && g.rng.Float64() < g.opts.Outside {
		by := outsideBy * g.width(i) * (1 - g.rng.Float64()) // (0, outsideBy*width]
		below := in.tol.below && (!in.tol.above || g.rng.IntN(2) == 0)
		if below {
			return round(in.lo-by, in.decimals)
		}
		return round(in.hi+by, in.decimals)
	}
	x := in.lo + (in.hi-in.lo)*(g.rng.Float64()+g.rng.Float64())/2
	return min(max(round(x, in.decimals), in.lo), in.hi) // rounding must not leave the range
}

func round(x float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(x*p) / p
}

// keyText is a value's text as a key: a string's contents, else its literal.
func keyText(lit []byte) []byte {
	if len(lit) > 0 && lit[0] == '"' {
		var s string
		if json.Unmarshal(lit, &s) == nil {
			return []byte(s)
		}
	}
	return append([]byte(nil), lit...)
}

// write appends the event of the last fill to dst.
func (g *Generic) write(dst []byte) []byte {
	for i, sp := range g.spans {
		g.vals[i] = nil
		if sp[0] >= 0 {
			g.vals[i] = g.buf[sp[0]:sp[1]]
		}
	}
	return g.shape.appendEvent(dst, g.vals)
}

// fraudFields are the fields the Fraud generator writes, with their types.
var fraudFields = map[string]features.InputType{
	"amount": features.Number, "avg_amount_30d": features.Number, "merchant_category": features.Category,
	"country": features.Category, "card_present": features.Bool, "distance_from_home_km": features.Number,
	"txn_count_24h": features.Number, "timestamp": features.Timestamp,
	"transaction_id": features.Category, "card_id": features.Category,
}

// FraudFits reports whether the Fraud generator's events carry every input
// of layout with its declared type, as they do for the fraud example bundle.
func FraudFits(layout *features.Layout) bool {
	if layout == nil || len(layout.Inputs) == 0 {
		return false
	}
	for _, in := range layout.Inputs {
		if t, ok := fraudFields[strings.Join(in.FieldPath(), ".")]; !ok || t != in.Type {
			return false
		}
	}
	return true
}
