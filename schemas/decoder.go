package schemas

import (
	"fmt"
	"math"
	"strings"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/reject"
)

// Decoder turns one record value into the slots of a features.Row.
//
// A Decoder owns scratch memory and is not safe for concurrent use: make one
// per worker goroutine. Decode resets the row first, then fills the slots of
// the declared inputs. Category bytes written into the row and Meta.EventID
// alias value, or bytes the decoder made (unescaped strings, integer text)
// that it never overwrites: they stay valid as long as value is not
// modified, so a whole batch can be decoded before any row is used.
//
// A *reject.Error means the record is poison (send it to the DLQ); the Meta
// returned with it holds, best effort, the event id and key read before the
// fault. Any other
// error is transient (the schema registry could not be reached): the same
// record may decode later.
type Decoder interface {
	Decode(value []byte, row *features.Row) (Meta, error)
}

// Meta is what a decoder learns about a record besides its inputs.
type Meta struct {
	EventID []byte // value of InputConfig.EventIDField; nil when absent, null or not a string/integer
	Key     []byte // value of InputConfig.KeyField, the same way
	// EventTime is the value of the InputConfig.EventTimeField input, epoch
	// milliseconds; NaN when unset or missing.
	EventTime float64
	SchemaID  int // Confluent schema id of the record; 0 for json and avro
}

// NewDecoder builds a decoder for the configured input format. reg may be
// nil unless cfg.Format is confluent. For format avro the writer schema is
// checked against the layout now: a required input the schema lacks, or a
// field type that can never fill its input, is an error wrapping
// ErrIncompatible.
func NewDecoder(cfg InputConfig, layout *features.Layout, reg *Registry) (Decoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if layout == nil {
		return nil, fmt.Errorf("new decoder: nil layout")
	}
	cfg = cfg.WithDefaults()
	fields, err := newFieldTree(cfg, layout)
	if err != nil {
		return nil, err
	}
	switch cfg.Format {
	case FormatJSON:
		return &jsonDecoder{fieldTree: fields}, nil
	case FormatAvro:
		ws, err := loadWriterSchema(cfg.AvroSchema)
		if err != nil {
			return nil, fmt.Errorf("new avro decoder: %w", err)
		}
		p := compilePlan(ws.parsed, fields.root)
		if err := p.startupCheck(fields); err != nil {
			return nil, fmt.Errorf("new avro decoder with schema %s: %w", cfg.AvroSchema, err)
		}
		return &avroDecoder{avroRunner: avroRunner{fieldTree: fields}, plan: p}, nil
	case FormatConfluent:
		if reg == nil {
			return nil, fmt.Errorf("new confluent decoder: %w", ErrNoRegistry)
		}
		return &confluentDecoder{avroRunner: avroRunner{fieldTree: fields}, reg: reg,
			plans: make(map[uint32]*avroPlan)}, nil
	}
	return nil, fmt.Errorf("input format %q: %w", cfg.Format, ErrUnknownFormat)
}

// target is one place a field's value goes: an input's row slot, or the
// event id (input == -1).
type target struct {
	input int // index in the layout's inputs; metaEventID or metaKey for a Meta field
	slot  int
	typ   features.InputType
	path  string
}

// Targets that fill Meta instead of a row slot. Both take a string or an
// integer's literal text.
const (
	metaEventID = -1
	metaKey     = -2
)

// isEventID reports whether t fills Meta (event id or key) rather than the row.
func (t *target) isEventID() bool { return t.input < 0 }

// fieldNode is one level of the dotted field paths the layout declares.
type fieldNode struct {
	path     string
	children map[string]*fieldNode
	table    []childEntry // open-addressing table over children, by keyHash
	mask     uint32
	targets  []target
	order    []predicted // keys in the order the last object had them (JSON)
}

// predicted remembers the key seen at one position of an object, declared
// or not, so the next object from the same producer can be matched with one
// comparison. Keys are kept in fixed buffers: learning never allocates.
type predicted struct {
	name [maxPredictedKey]byte
	n    uint8
	node *fieldNode // nil for an undeclared key
}

const (
	maxPredictedKey  = 48
	maxPredictedKeys = 64
)

// matches reports whether b[i:] starts with this key in quotes.
func (p *predicted) matches(b []byte, i int) bool {
	n := int(p.n)
	if n == 0 || len(b)-i < n+2 || b[i+1+n] != '"' {
		return false
	}
	return string(b[i+1:i+1+n]) == string(p.name[:n])
}

// learn records key (unescaped, found by a full scan) at position k.
func (n *fieldNode) learn(k int, key []byte, child *fieldNode) {
	if k >= len(n.order) || len(key) > maxPredictedKey || len(key) == 0 {
		return
	}
	p := &n.order[k]
	p.n = uint8(copy(p.name[:], key))
	p.node = child
}

type childEntry struct {
	name string
	node *fieldNode
}

// keyHash mixes a key's length and its first, middle and last bytes: cheap,
// and enough to spread the few field names of an event over a sparse table
// (collisions are resolved by probing and a full comparison).
func keyHash(key []byte) uint32 {
	n := uint32(len(key))
	if n == 0 {
		return 0
	}
	h := n*0x9E3779B1 ^ uint32(key[0])*0x85EBCA6B ^ uint32(key[n-1])*0xC2B2AE35 ^ uint32(key[n/2])*0x27D4EB2F
	return h ^ h>>15
}

// child finds the child named key without allocating.
func (n *fieldNode) child(key []byte) *fieldNode {
	for i := keyHash(key) & n.mask; ; i = (i + 1) & n.mask {
		e := &n.table[i]
		if e.node == nil {
			return nil
		}
		if len(e.name) == len(key) && e.name == string(key) {
			return e.node
		}
	}
}

// index builds the lookup tables of n and its descendants.
func (n *fieldNode) index() {
	size := uint32(8)
	for size < 4*uint32(len(n.children)) {
		size *= 2
	}
	n.table = make([]childEntry, size)
	n.mask = size - 1
	if len(n.children) > 0 {
		n.order = make([]predicted, maxPredictedKeys)
	}
	for name, c := range n.children {
		i := keyHash([]byte(name)) & n.mask
		for n.table[i].node != nil {
			i = (i + 1) & n.mask
		}
		n.table[i] = childEntry{name, c}
		c.index()
	}
}

func (n *fieldNode) hasRowTarget() bool {
	for i := range n.targets {
		if !n.targets[i].isEventID() {
			return true
		}
	}
	return false
}

// fieldTree is what every decoder shares: the declared fields and limits.
type fieldTree struct {
	root           *fieldNode
	layout         *features.Layout
	required       []target
	numericStrings bool
	maxBytes       int
	maxDepth       int
	maxFields      int
	row            *features.Row // the row of the Decode in progress
	evid           []byte
	key            []byte
	timeSlot       int // Num slot of the event time input; -1 when none
}

func newFieldTree(cfg InputConfig, layout *features.Layout) (fieldTree, error) {
	ft := fieldTree{
		root:           &fieldNode{},
		layout:         layout,
		numericStrings: cfg.NumericStrings,
		maxBytes:       cfg.MaxRecordBytes,
		maxDepth:       cfg.MaxDepth,
		maxFields:      cfg.MaxFields,
		timeSlot:       -1,
	}
	add := func(path []string, t target) error {
		n := ft.root
		for i, seg := range path {
			if seg == "" {
				return fmt.Errorf("field path %q: empty segment", strings.Join(path, "."))
			}
			if n.children == nil {
				n.children = map[string]*fieldNode{}
			}
			c := n.children[seg]
			if c == nil {
				c = &fieldNode{path: strings.Join(path[:i+1], ".")}
				n.children[seg] = c
			}
			n = c
		}
		n.targets = append(n.targets, t)
		return nil
	}
	for i, in := range layout.Inputs {
		t := inputTarget(layout, i)
		if err := add(in.FieldPath(), t); err != nil {
			return fieldTree{}, fmt.Errorf("input %q: %w", in.Name, err)
		}
		if in.Required {
			ft.required = append(ft.required, t)
		}
	}
	for _, m := range []struct {
		input       int
		path, which string
	}{{metaEventID, cfg.EventIDField, "input.event_id_field"}, {metaKey, cfg.KeyField, "input.key_field"}} {
		if m.path == "" {
			continue
		}
		if err := add(strings.Split(m.path, "."), target{input: m.input, path: m.path}); err != nil {
			return fieldTree{}, fmt.Errorf("%s %q: %w", m.which, m.path, err)
		}
	}
	if f := cfg.EventTimeField; f != "" {
		i := timestampInput(layout, f)
		if i < 0 {
			return fieldTree{}, fmt.Errorf("input.event_time_field %q: %w", f, ErrNoTimeInput)
		}
		ft.timeSlot = layout.Slot(i)
	}
	ft.root.index()
	return ft, nil
}

// timestampInput is the timestamp input named (or pathed) f, or -1.
func timestampInput(l *features.Layout, f string) int {
	for i, in := range l.Inputs {
		if in.Type == features.Timestamp && (in.Name == f || strings.Join(in.FieldPath(), ".") == f) {
			return i
		}
	}
	return -1
}

// inputTarget is where input i of layout goes, named by its dotted path.
func inputTarget(layout *features.Layout, i int) target {
	in := layout.Inputs[i]
	return target{input: i, slot: layout.Slot(i), typ: in.Type, path: strings.Join(in.FieldPath(), ".")}
}

// start begins the Decode of b into row with the record-level checks every
// format shares: the size limit, and a value at all (a Kafka tombstone's is
// null, which no format reads as an event). Small enough to be inlined into
// each Decode; the errors are made out of line.
func (ft *fieldTree) start(b []byte, row *features.Row) error {
	ft.begin(row)
	if len(b) == 0 || len(b) > ft.maxBytes {
		return ft.sizeError(b)
	}
	return nil
}

// sizeError is start's error for b: too large, a tombstone or empty.
func (ft *fieldTree) sizeError(b []byte) error {
	switch {
	case len(b) > ft.maxBytes:
		return tooLarge("record is %d bytes, limit %d", len(b), ft.maxBytes)
	case b == nil:
		return malformed("no value: a tombstone (a record whose value is null) is not an event")
	}
	return malformed("empty value")
}

func (ft *fieldTree) begin(row *features.Row) {
	row.Reset()
	ft.row = row
	ft.evid = nil
	ft.key = nil
}

// finish checks the required inputs and returns the record's Meta.
func (ft *fieldTree) finish() (Meta, error) {
	for i := range ft.required {
		t := &ft.required[i]
		if t.typ == features.Category {
			if ft.row.Cat[t.slot] == nil {
				return ft.partialMeta(), &reject.Error{Reason: reject.MissingField, Field: t.path, Err: errMissing}
			}
		} else if math.IsNaN(ft.row.Num[t.slot]) {
			return ft.partialMeta(), &reject.Error{Reason: reject.MissingField, Field: t.path, Err: errMissing}
		}
	}
	m := Meta{EventID: ft.evid, Key: ft.key, EventTime: math.NaN()}
	if ft.timeSlot >= 0 {
		m.EventTime = ft.row.Num[ft.timeSlot]
	}
	return m, nil
}

// partialMeta is what a decoder read of the event id and key before a
// poison error stopped it: best effort, for a door that names the event in
// its reject (the HTTP door keys its DLQ records with it).
func (ft *fieldTree) partialMeta() Meta {
	return Meta{EventID: ft.evid, Key: ft.key, EventTime: math.NaN()}
}

var (
	errMissing = fmt.Errorf("required input is absent or null")
	emptyBytes = []byte{}
)

// setNull marks t missing (a later duplicate key wins in JSON).
func (ft *fieldTree) setNull(t *target) {
	switch {
	case t.input == metaEventID:
		ft.evid = nil
	case t.input == metaKey:
		ft.key = nil
	case t.typ == features.Category:
		ft.row.Cat[t.slot] = nil
	default:
		ft.row.Num[t.slot] = math.NaN()
	}
}

// setFloat stores a number for a number or timestamp (epoch ms) input.
func (ft *fieldTree) setFloat(t *target, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return &reject.Error{Reason: reject.NotFinite, Field: t.path, Err: errNotFinite}
	}
	ft.row.Num[t.slot] = v
	return nil
}

var errNotFinite = fmt.Errorf("number is NaN, infinite or out of float64 range")

// setText stores string bytes: a category as is, a number when
// NumericStrings, a timestamp when RFC 3339 (or numeric with NumericStrings).
func (ft *fieldTree) setText(t *target, s []byte, what string) error {
	if s == nil {
		s = emptyBytes
	}
	switch t.input {
	case metaEventID:
		ft.evid = s
		return nil
	case metaKey:
		ft.key = s
		return nil
	}
	switch t.typ {
	case features.Category:
		ft.row.Cat[t.slot] = s
		return nil
	case features.Number:
		if !ft.numericStrings {
			return wrongType(t, what+" where a number is expected (numeric strings are off)")
		}
		v, ok, nf := numericText(s)
		if nf {
			return &reject.Error{Reason: reject.NotFinite, Field: t.path, Err: errNotFinite}
		}
		if !ok {
			return wrongType(t, what+" that is not a number")
		}
		ft.row.Num[t.slot] = v
		return nil
	case features.Timestamp:
		if ms, ok := parseRFC3339(s); ok {
			ft.row.Num[t.slot] = ms
			return nil
		}
		if ft.numericStrings {
			if v, ok, nf := numericText(s); ok {
				ft.row.Num[t.slot] = v
				return nil
			} else if nf {
				return &reject.Error{Reason: reject.NotFinite, Field: t.path, Err: errNotFinite}
			}
		}
		return wrongType(t, what+" that is not an RFC 3339 time")
	}
	return wrongType(t, what+" where a bool is expected")
}

func (ft *fieldTree) setBool(t *target, v bool) error {
	if t.isEventID() {
		return nil
	}
	if t.typ != features.Bool {
		return wrongType(t, "a bool where a "+string(t.typ)+" is expected")
	}
	if v {
		ft.row.Num[t.slot] = 1
	} else {
		ft.row.Num[t.slot] = 0
	}
	return nil
}

func wrongType(t *target, msg string) *reject.Error {
	return &reject.Error{Reason: reject.WrongType, Field: t.path, Err: fmt.Errorf("%s", msg)}
}

func tooLarge(format string, args ...any) *reject.Error {
	return &reject.Error{Reason: reject.TooLarge, Err: fmt.Errorf(format, args...)}
}

func malformed(format string, args ...any) *reject.Error {
	return &reject.Error{Reason: reject.Malformed, Err: fmt.Errorf(format, args...)}
}

// FieldReporter is implemented by decoders that keep track of the fields of
// their input that the bundle does not read (the first few distinct ones),
// so a file door can name them once: a typo in a CSV header, or events
// nested one level deeper than the bundle expects.
type FieldReporter interface {
	UnknownFields() []string
}
