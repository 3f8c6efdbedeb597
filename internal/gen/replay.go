package gen

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/streamscore/streamscore/features"
)

// The file formats Replay reads (the same names as `streamscore score --format`).
const (
	ReplayJSONL = "jsonl"
	ReplayCSV   = "csv"
)

// ReplayOptions say how a Replay reads its file.
type ReplayOptions struct {
	Format   string // ReplayJSONL or ReplayCSV
	Loop     bool   // at the end of the file start again from the top (else Next says io.EOF)
	KeyField string // dotted path of the event's key (input.key_field); empty: events have no key
}

// Replay reads events back from a file, for `streamscore produce --from`.
//
// JSON Lines: each non-blank line is one event, sent as it is (a broken
// line too: the service rejects it as malformed). A line of a bundle's
// reference.jsonl, an "event" object beside "scores" or "reject"
// (scoring.ReferenceRow), is unwrapped to its event.
//
// CSV (a header, then one event per row): each row becomes a JSON event by
// the rules of `streamscore score`'s CSV decoder (docs/formats.md), so the
// service gives the JSON event the row or the reject reason it would give
// the row. A column feeds the input whose name or dotted path it is and is
// written at that path; other columns are written at their own (dotted)
// names. An empty cell is left out, and so is NaN (any case) in a number,
// timestamp or bool column. A number or timestamp cell that is a JSON
// number is a number (epoch milliseconds for a timestamp; Inf or -Infinity
// becomes 1e999 or -1e999, which the service reads as not_finite), a bool
// cell true/True/TRUE or false/False/FALSE is a bool; any other cell is a
// JSON string, which a number or bool input rejects as wrong_type and a
// timestamp input reads as RFC 3339. Category cells and the columns that
// are no input (the key, the event id) are strings, as the CSV decoder
// reads them.
type Replay struct {
	src    io.ReadSeeker
	opts   ReplayOptions
	layout *features.Layout
	keyAt  []string

	lines  *bufio.Reader // JSON Lines
	rows   *csv.Reader   // CSV
	cols   []replayColumn
	shape  *shape
	vals   [][]byte
	keyCol int

	read, inPass int
}

// replayColumn is what one CSV column fills.
type replayColumn struct {
	typ   features.InputType // "" for a column that is not an input
	field int
}

// ErrNoEvents is what a looping Replay returns for a file without events.
var ErrNoEvents = errors.New("replay: the file holds no events")

// NewReplay reads events from src. layout (the bundle's inputs) types the
// CSV columns; JSON Lines need none (nil).
func NewReplay(src io.ReadSeeker, layout *features.Layout, opts ReplayOptions) (*Replay, error) {
	r := &Replay{src: src, opts: opts, layout: layout, keyCol: -1}
	if opts.KeyField != "" {
		r.keyAt = strings.Split(opts.KeyField, ".")
	}
	switch opts.Format {
	case ReplayJSONL:
	case ReplayCSV:
		if layout == nil {
			return nil, errors.New("replay csv: needs the bundle's inputs to type the columns")
		}
	default:
		return nil, fmt.Errorf("replay: format %q: want %s or %s", opts.Format, ReplayJSONL, ReplayCSV)
	}
	if err := r.rewind(); err != nil {
		return nil, err
	}
	return r, nil
}

// Next returns the next event and its key (nil when the event has none;
// both fresh slices). At the end of the file it starts again when looping
// (ErrNoEvents if the file holds none), else returns io.EOF.
func (r *Replay) Next() (key, value []byte, err error) {
	for {
		key, value, err = r.next()
		if err == nil {
			r.read++
			r.inPass++
			return key, value, nil
		}
		if !errors.Is(err, io.EOF) || !r.opts.Loop {
			return nil, nil, err
		}
		if r.inPass == 0 {
			return nil, nil, ErrNoEvents
		}
		if err := r.rewind(); err != nil {
			return nil, nil, err
		}
	}
}

// rewind starts reading at the top of the file.
func (r *Replay) rewind() error {
	if _, err := r.src.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("replay: rewind: %w", err)
	}
	r.inPass = 0
	br := bufio.NewReaderSize(r.src, 64<<10)
	if r.opts.Format == ReplayJSONL {
		r.lines = br
		return nil
	}
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	r.rows = csv.NewReader(br)
	header, err := r.rows.Read()
	if errors.Is(err, io.EOF) {
		return errors.New("replay csv: empty file: want a header line")
	}
	if err != nil {
		return fmt.Errorf("replay csv header: %w", err)
	}
	return r.columns(header)
}

// columns maps the CSV header to fields of the JSON events.
func (r *Replay) columns(header []string) error {
	r.shape, r.cols, r.keyCol = newShape(), make([]replayColumn, len(header)), -1
	fed := map[int]string{} // input -> the column feeding it
	matched := 0
	for j, name := range header {
		path, typ := strings.Split(name, "."), features.InputType("")
		for i, in := range r.layout.Inputs {
			if name != in.Name && name != in.Path {
				continue
			}
			if other, dup := fed[i]; dup {
				return fmt.Errorf("replay csv header: columns %q and %q both feed input %q", other, name, in.Name)
			}
			fed[i] = name
			path, typ = in.FieldPath(), in.Type
			matched++
			break
		}
		field, err := r.shape.add(path)
		if err != nil {
			return fmt.Errorf("replay csv header: column %q: %w", name, err)
		}
		r.cols[j] = replayColumn{typ: typ, field: field}
		if r.opts.KeyField != "" && name == r.opts.KeyField {
			r.keyCol = j
		}
	}
	if matched == 0 {
		return fmt.Errorf("replay csv header (%s) names none of the bundle's inputs", strings.Join(header, ","))
	}
	r.vals = make([][]byte, r.shape.fields)
	return nil
}

func (r *Replay) next() (key, value []byte, err error) {
	if r.opts.Format == ReplayJSONL {
		return r.nextLine()
	}
	return r.nextRow()
}

func (r *Replay) nextLine() (key, value []byte, err error) {
	for {
		line, err := r.lines.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return nil, nil, io.EOF
			}
			return nil, nil, fmt.Errorf("replay: %w", err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var top map[string]json.RawMessage
		maybeRef := bytes.Contains(line, []byte(`"event"`))
		if (maybeRef || r.keyAt != nil) && json.Unmarshal(line, &top) == nil {
			if isReference(top) {
				ev := top["event"]
				line = ev
				top = nil
				_ = json.Unmarshal(line, &top)
			}
			key = lookupKey(top, r.keyAt)
		}
		return key, line, nil
	}
}

// isReference reports whether a line is a reference.jsonl row: an event
// object beside the training library's answer.
func isReference(top map[string]json.RawMessage) bool {
	ev := top["event"]
	_, scores := top["scores"]
	_, rejected := top["reject"]
	return len(ev) > 0 && ev[0] == '{' && (scores || rejected)
}

// lookupKey is the text of the value at path in an event (a string's
// contents, a number's literal), or nil.
func lookupKey(obj map[string]json.RawMessage, path []string) []byte {
	if len(path) == 0 {
		return nil
	}
	for _, k := range path[:len(path)-1] {
		if json.Unmarshal(obj[k], &obj) != nil {
			return nil
		}
	}
	v := obj[path[len(path)-1]]
	switch {
	case len(v) == 0 || bytes.Equal(v, []byte("null")):
		return nil
	case v[0] == '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil
		}
		return []byte(s)
	case v[0] == '-' || (v[0] >= '0' && v[0] <= '9'):
		return append([]byte(nil), v...)
	}
	return nil
}

func (r *Replay) nextRow() (key, value []byte, err error) {
	rec, err := r.rows.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, io.EOF
	}
	if err != nil {
		return nil, nil, fmt.Errorf("replay csv: %w", err)
	}
	var buf []byte
	spans := make([][2]int, len(rec))
	for j, cell := range rec {
		start := len(buf)
		buf = appendCell(buf, r.cols[j].typ, cell)
		spans[j] = [2]int{start, len(buf)}
	}
	for i := range r.vals {
		r.vals[i] = nil
	}
	for j, sp := range spans {
		if sp[1] > sp[0] {
			r.vals[r.cols[j].field] = buf[sp[0]:sp[1]]
		}
	}
	if r.keyCol >= 0 && rec[r.keyCol] != "" {
		key = []byte(rec[r.keyCol])
	}
	return key, r.shape.appendEvent(nil, r.vals), nil
}

// appendCell appends the JSON value of one CSV cell under the rules in
// Replay's doc; nothing for a cell that is left out.
func appendCell(dst []byte, typ features.InputType, cell string) []byte {
	if cell == "" {
		return dst
	}
	if typ == features.Category {
		return appendString(dst, cell)
	}
	if typ != "" && strings.EqualFold(cell, "nan") {
		return dst
	}
	switch typ {
	case features.Bool:
		switch cell {
		case "true", "True", "TRUE":
			return append(dst, "true"...)
		case "false", "False", "FALSE":
			return append(dst, "false"...)
		}
	case features.Number, features.Timestamp:
		if w := strings.TrimPrefix(strings.TrimPrefix(cell, "+"), "-"); strings.EqualFold(w, "inf") || strings.EqualFold(w, "infinity") {
			if cell[0] == '-' {
				return append(dst, "-1e999"...)
			}
			return append(dst, "1e999"...)
		}
		if isNumber(cell) {
			return append(dst, cell...)
		}
	}
	return appendString(dst, cell)
}

// isNumber reports whether s is one JSON number literal.
func isNumber(s string) bool {
	return s != "" && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) && json.Valid([]byte(s))
}
