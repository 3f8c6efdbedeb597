package schemas

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/streamscore/streamscore/features"
)

// CSVDecoder decodes one CSV record (as CSVReader hands it out) into the
// slots of a features.Row. Columns are matched to the bundle's inputs by the
// header, once, when the decoder is built. Every cell is text, read by the
// type rules of docs/formats.md ("CSV"), which give the same row or the same
// reject reason as the JSON decoder for the same event: an empty cell is
// missing; a number or timestamp cell is read as a JSON number (or, for a
// timestamp, RFC 3339 text); a bool cell is true or false; a category cell
// is its text as is.
//
// Like the JSON decoder it writes straight into the row and does not
// allocate on the success path; category bytes and Meta.EventID alias the
// record, or bytes the decoder made (quoted cells with "" inside), that it
// never overwrites. It is not safe for concurrent use.
type CSVDecoder struct {
	fieldTree
	arena   arena
	header  []string
	cols    [][]target // what each column fills: inputs and the event id
	cells   []csvCell  // scratch: the cells of the record being decoded
	unknown []string
	missing []string
}

var _ Decoder = (*CSVDecoder)(nil)

// NewCSVDecoder builds a decoder for records under header (the column names,
// as CSVReader.Header returns them). A column feeds every input whose name,
// or dotted path, it is; the columns named cfg.EventIDField and cfg.KeyField
// are copied into Meta.EventID and Meta.Key. cfg.MaxRecordBytes bounds a record; cfg.Format, AvroSchema,
// NumericStrings (CSV cells are text: number inputs always read them as
// numbers), MaxDepth and MaxFields do not apply.
//
// It is an error (wrapping ErrCSVHeader) when a column name appears twice,
// when two columns feed the same input (its name and its path), when the
// header names none of the inputs, or when a required input has no column
// (every record would be missing_field). Columns no input uses and optional
// inputs no column feeds are not errors: UnknownColumns and MissingInputs
// name them, for the caller to report.
func NewCSVDecoder(cfg InputConfig, layout *features.Layout, header []string) (*CSVDecoder, error) {
	if layout == nil {
		return nil, fmt.Errorf("new csv decoder: nil layout")
	}
	cfg = cfg.WithDefaults()
	if cfg.MaxRecordBytes < 0 {
		return nil, fmt.Errorf("input max_record_bytes: %w", ErrNegativeLimit)
	}
	ft, err := newFieldTree(cfg, layout)
	if err != nil {
		return nil, err
	}
	ft.numericStrings = true // a cell is text; setText reads numbers from it
	d := &CSVDecoder{fieldTree: ft, header: header, cols: make([][]target, len(header)),
		cells: make([]csvCell, 0, len(header))}
	seen := make(map[string]bool, len(header))
	feeder := make([]int, len(layout.Inputs)) // column + 1 feeding each input
	matched := 0
	for j, name := range header {
		if seen[name] {
			return nil, fmt.Errorf("csv header: column %q appears twice: %w", name, ErrCSVHeader)
		}
		seen[name] = true
		for i, in := range layout.Inputs {
			if name != in.Name && (in.Path == "" || name != in.Path) {
				continue
			}
			if k := feeder[i]; k != 0 {
				return nil, fmt.Errorf("csv header: columns %q and %q both feed input %q: %w",
					header[k-1], name, in.Name, ErrCSVHeader)
			}
			feeder[i] = j + 1
			d.cols[j] = append(d.cols[j], inputTarget(layout, i))
			matched++
		}
		meta := false
		if cfg.EventIDField != "" && name == cfg.EventIDField {
			d.cols[j] = append(d.cols[j], target{input: metaEventID, path: cfg.EventIDField})
			meta = true
		}
		if cfg.KeyField != "" && name == cfg.KeyField {
			d.cols[j] = append(d.cols[j], target{input: metaKey, path: cfg.KeyField})
			meta = true
		}
		if !meta && len(d.cols[j]) == 0 {
			d.unknown = append(d.unknown, name)
		}
	}
	if matched == 0 {
		return nil, fmt.Errorf("csv header (%s) names none of the bundle's inputs (%s): %w",
			quoteList(header), quoteList(inputNames(layout)), ErrCSVHeader)
	}
	for i, in := range layout.Inputs {
		if feeder[i] != 0 {
			continue
		}
		if in.Required {
			return nil, fmt.Errorf("csv header has no column for required input %q: %w", in.Name, ErrCSVHeader)
		}
		d.missing = append(d.missing, in.Name)
	}
	return d, nil
}

func inputNames(l *features.Layout) []string {
	names := make([]string, len(l.Inputs))
	for i, in := range l.Inputs {
		names[i] = in.Name
	}
	return names
}

// quoteList quotes names for an error message, at most ten of them.
func quoteList(names []string) string {
	const most = 10
	var b strings.Builder
	for i, n := range names {
		if i == most {
			fmt.Fprintf(&b, ", and %d more", len(names)-most)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", n)
	}
	return b.String()
}

// UnknownColumns names the header's columns that no input uses (the event
// id column is not one of them), in header order.
func (d *CSVDecoder) UnknownColumns() []string { return d.unknown }

// MissingInputs names the bundle's (optional) inputs that no column feeds,
// in the bundle's order: they are missing in every record.
func (d *CSVDecoder) MissingInputs() []string { return d.missing }

// UnknownFields is UnknownColumns, for the FieldReporter interface.
func (d *CSVDecoder) UnknownFields() []string { return d.unknown }

// Decode reads one record: it must have as many fields as the header
// (more or fewer is malformed), each cell read by its column's input type.
func (d *CSVDecoder) Decode(value []byte, row *features.Row) (Meta, error) {
	if err := d.start(value, row); err != nil {
		return Meta{}, err
	}
	cells, err := splitCSV(value, d.cells, len(d.cols))
	if err != nil {
		return Meta{}, err
	}
	if len(cells) != len(d.cols) {
		return Meta{}, malformed("record has %d fields, the header %d", len(cells), len(d.cols))
	}
	for j := range cells {
		ts := d.cols[j]
		if len(ts) == 0 {
			continue
		}
		s := cells[j].text(value, &d.arena)
		for k := range ts {
			if err := d.setCell(&ts[k], s); err != nil {
				return Meta{}, err
			}
		}
	}
	return d.finish()
}

// setCell applies the CSV type rules to one cell for one target.
func (d *CSVDecoder) setCell(t *target, s []byte) error {
	if len(s) == 0 {
		d.setNull(t)
		return nil
	}
	if t.isEventID() || t.typ == features.Category {
		return d.setText(t, s, "")
	}
	if equalFoldASCII(s, "nan") { // how pandas writes a missing float when not told otherwise
		d.setNull(t)
		return nil
	}
	if t.typ == features.Bool {
		switch string(s) {
		case "true", "True", "TRUE":
			return d.setBool(t, true)
		case "false", "False", "FALSE":
			return d.setBool(t, false)
		}
		return wrongType(t, "a cell that is not true or false where a bool is expected")
	}
	return d.setText(t, s, "a cell") // number: a JSON number; timestamp: RFC 3339 or epoch ms
}

// csvCell is one field of a record: rec[start:end] is its text (inside the
// quotes when quoted); esc when unquoting changes it ("" or CRLF inside).
type csvCell struct {
	start, end int
	esc        bool
}

// text returns the cell's value: an alias of rec, or for a cell with
// escapes the unquoted text in a (a fresh slice when a is nil).
func (c csvCell) text(rec []byte, a *arena) []byte {
	s := rec[c.start:c.end:c.end]
	if !c.esc {
		return s
	}
	if a == nil {
		return unquoteCSV(nil, s)
	}
	a.reserve(len(s)) // unquoted text is never longer
	mark := len(a.buf)
	a.buf = unquoteCSV(a.buf, s)
	return a.since(mark)
}

// unquoteCSV appends the value of a quoted field's inner text: "" becomes ",
// and CRLF becomes LF (as encoding/csv reads line breaks).
func unquoteCSV(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			i++ // the second quote of ""
		case c == '\r' && i+1 < len(s) && s[i+1] == '\n':
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// splitCSV finds the fields of one record (no line terminator), appending
// them to cells[:0]. With limit >= 0, a field past the limit is an error.
// Errors are malformed: a quote inside an unquoted field, anything but a
// comma after a closing quote, a quoted field not closed, a line break
// outside quotes.
func splitCSV(rec []byte, cells []csvCell, limit int) ([]csvCell, error) {
	cells = cells[:0]
	n := len(rec)
	for i := 0; ; {
		if limit >= 0 && len(cells) == limit {
			return cells, malformed("more fields than the header's %d", limit)
		}
		f := len(cells) + 1
		if i < n && rec[i] == '"' {
			c := csvCell{start: i + 1}
			j := i + 1
			for {
				k := bytes.IndexByte(rec[j:], '"')
				if k < 0 {
					return cells, malformed("field %d: quoted field not closed", f)
				}
				j += k
				if j+1 < n && rec[j+1] == '"' {
					c.esc = true
					j += 2
					continue
				}
				break
			}
			c.end = j
			if !c.esc && bytes.IndexByte(rec[c.start:c.end], '\r') >= 0 {
				c.esc = true
			}
			cells = append(cells, c)
			if i = j + 1; i == n {
				return cells, nil
			}
			if rec[i] != ',' {
				return cells, malformed("field %d: %q after the closing quote", f, rec[i])
			}
			i++
			continue
		}
		c := csvCell{start: i}
		for i < n && !csvSpecial[rec[i]] {
			i++
		}
		if i < n && rec[i] != ',' {
			if rec[i] == '"' {
				return cells, malformed("field %d: a quote inside an unquoted field", f)
			}
			return cells, malformed("field %d: a line break outside quotes", f)
		}
		c.end = i
		cells = append(cells, c)
		if i == n {
			return cells, nil
		}
		i++ // the comma
	}
}

// csvSpecial marks the bytes that end or break an unquoted field.
var csvSpecial = [256]bool{',': true, '"': true, '\n': true}
