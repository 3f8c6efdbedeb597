package schemas

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/streamscore/streamscore/reject"
)

// CSVReader splits CSV text (RFC 4180) into records: it reads the header
// first, then hands out each data record's raw bytes, without its line
// terminator, for a CSVDecoder to decode. It is written by hand rather than
// on encoding/csv because the decoders take a record's raw bytes (so a door
// can report or dead-letter them unchanged), because a record over
// InputConfig.MaxRecordBytes must be skipped without being buffered (the
// standard reader keeps whole lines), and because encoding/csv allocates a
// string per record. encoding/csv is its reference in the fuzz test.
//
// The rules, as encoding/csv applies them: fields are separated by commas
// and records by LF or CRLF; a field that starts with a double quote is
// quoted, may hold commas, line breaks and doubled quotes, and must be
// followed by a comma or the end of the record; a quote anywhere else in a
// field is a syntax error. A record with a syntax error ends at the end of
// the physical line the error is on (it is handed out, and the decoder
// reports it malformed). Empty lines are skipped; a UTF-8 byte order mark
// before the header is dropped; a CR right before the end of the input is
// dropped.
//
// Records handed out are never overwritten by later reads (each chunk of
// input is read into memory once and then left alone), so a whole batch of
// records can be read and decoded before any row is used. The cost is one
// allocation per 64 KiB of input. A CSVReader is not safe for concurrent use.
type CSVReader struct {
	src    io.Reader
	buf    []byte // the current chunk; buf[pos:] is read and not yet handed out
	pos    int
	err    error // first error from src (io.EOF at the end of the input)
	max    int
	chunk  int
	line   int // line number of buf[pos]
	header []string
	hline  int
}

const csvChunk = 64 << 10

// ErrCSVHeader is wrapped by the errors of NewCSVReader and NewCSVDecoder
// about the header: absent, too large, not valid CSV, with a duplicate
// column, or unable to feed the bundle's inputs.
var ErrCSVHeader = errors.New("bad csv header")

// NewCSVReader reads the header record from src. The limit on a record's
// size is cfg.MaxRecordBytes (after defaults); other fields of cfg are not
// used. An error wraps ErrCSVHeader, or is the read error of src.
func NewCSVReader(src io.Reader, cfg InputConfig) (*CSVReader, error) {
	cfg = cfg.WithDefaults()
	if cfg.MaxRecordBytes < 0 {
		return nil, fmt.Errorf("input max_record_bytes: %w", ErrNegativeLimit)
	}
	r := &CSVReader{src: src, max: cfg.MaxRecordBytes, chunk: csvChunk, line: 1}
	if err := r.readHeader(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *CSVReader) readHeader() error {
	for len(r.buf)-r.pos < len(utf8BOM) && r.more() {
	}
	if bytes.HasPrefix(r.buf[r.pos:], utf8BOM) {
		r.pos += len(utf8BOM)
	}
	rec, line, err := r.Next()
	switch {
	case err == io.EOF:
		return fmt.Errorf("csv input is empty (want a header line): %w", ErrCSVHeader)
	case errors.Is(err, errTooLarge):
		return fmt.Errorf("csv header on line %d: longer than %d bytes (input.max_record_bytes): %w", line, r.max, ErrCSVHeader)
	case err != nil:
		return err
	}
	cells, err := splitCSV(rec, nil, -1)
	if err != nil {
		return fmt.Errorf("csv header on line %d: %v: %w", line, err, ErrCSVHeader)
	}
	r.header = make([]string, len(cells))
	for i, c := range cells {
		r.header[i] = string(c.text(rec, nil))
	}
	r.hline = line
	return nil
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Header returns the column names (unquoted, byte order mark removed). The
// slice is the reader's own: do not modify it.
func (r *CSVReader) Header() []string { return r.header }

// HeaderLine is the 1-based line number the header starts on (after any
// empty lines).
func (r *CSVReader) HeaderLine() int { return r.hline }

// Next returns the next record's bytes, without its line terminator, and the
// 1-based line number it starts on. At the end of the input it returns
// io.EOF. A record longer than the limit is skipped: Next returns a nil
// record, its line and a *reject.Error with reason too_large, and the next
// call goes on with the record after it. Any other error is src's read
// error (wrapped); the input cannot be read further.
func (r *CSVReader) Next() (record []byte, line int, err error) {
	if err := r.skipEmptyLines(); err != nil {
		return nil, r.line, err
	}
	line = r.line
	const (
		fieldStart = iota
		unquoted
		quoted
		quoteSeen // a quote inside a quoted field: its end, or the first of ""
		quoteCR   // a CR after the closing quote
		bad       // a syntax error: the record ends at the end of this line
	)
	st := fieldStart
	i := r.pos         // the scan position in buf
	skipped := 0       // bytes of the record already dropped (too large)
	end, next := 0, -1 // end of the record in buf, and where the next one starts
	eof := false       // the record ends at the end of the input, not at a LF
	for next < 0 {
		if i == len(r.buf) {
			if skipped > 0 || i-r.pos > r.max+1 { // +1: a CR before the LF is not counted
				skipped += i - r.pos
				r.pos = i // keep nothing of a record that is too large
			}
			off := i - r.pos
			if !r.more() {
				if r.err != io.EOF {
					return nil, line, r.readErr()
				}
				end, next, eof = len(r.buf), len(r.buf), true
				if end > r.pos && r.buf[end-1] == '\r' {
					end-- // as encoding/csv: a CR before the end of the input is dropped
				}
				break
			}
			i = r.pos + off
		}
		c := r.buf[i]
		switch st {
		case fieldStart, unquoted:
			// Only a quote or a line break changes anything here; a comma
			// matters only for whether a quote starts a field.
			seg := r.buf[i:]
			j := bytes.IndexByte(seg, '\n')
			if j >= 0 {
				seg = seg[:j]
			}
			if q := bytes.IndexByte(seg, '"'); q >= 0 {
				if q == 0 && st == fieldStart || q > 0 && seg[q-1] == ',' {
					st = quoted
				} else {
					st = bad
				}
				i += q + 1
				continue
			}
			if j >= 0 {
				end, next = i+j, i+j+1
				continue
			}
			if c := seg[len(seg)-1]; c == ',' {
				st = fieldStart
			} else {
				st = unquoted
			}
			i = len(r.buf)
		case quoted:
			j := bytes.IndexByte(r.buf[i:], '"')
			if j < 0 {
				j = len(r.buf) - i
			} else {
				st = quoteSeen
			}
			r.line += bytes.Count(r.buf[i:i+j], newline)
			i += j
			if st == quoteSeen {
				i++
			}
		case quoteSeen:
			switch c {
			case '"':
				st = quoted
			case ',':
				st = fieldStart
			case '\n':
				end, next = i, i+1
			case '\r':
				st = quoteCR
			default:
				st = bad
			}
			i++
		case quoteCR:
			if c == '\n' {
				end, next = i, i+1
			} else {
				st = bad
			}
			i++
		case bad:
			if j := bytes.IndexByte(r.buf[i:], '\n'); j >= 0 {
				end, next = i+j, i+j+1
			} else {
				i = len(r.buf)
			}
		}
	}
	start := r.pos
	if !eof {
		r.line++ // the record's own line break
		if end > start && r.buf[end-1] == '\r' {
			end-- // CRLF
		}
	}
	r.pos = next
	if n := skipped + end - start; n > r.max {
		return nil, line, tooLargeRecord(n, r.max)
	}
	return r.buf[start:end:end], line, nil
}

var newline = []byte{'\n'}

// errTooLarge is what a too_large record's error wraps, so the header can
// be told apart.
var errTooLarge = errors.New("record too large")

func tooLargeRecord(n, limit int) error {
	return &reject.Error{Reason: reject.TooLarge,
		Err: fmt.Errorf("%w: %d bytes, limit %d (input.max_record_bytes)", errTooLarge, n, limit)}
}

// skipEmptyLines steps over LF and CRLF lines (and a lone CR at the end of
// the input) before a record. It returns io.EOF at the end of the input.
func (r *CSVReader) skipEmptyLines() error {
	for {
		if r.pos == len(r.buf) && !r.more() {
			if r.err == io.EOF {
				return io.EOF
			}
			return r.readErr()
		}
		switch r.buf[r.pos] {
		case '\n':
			r.pos++
			r.line++
			continue
		case '\r':
			if r.pos+1 == len(r.buf) {
				if r.more() {
					continue
				}
				if r.err != io.EOF {
					return r.readErr()
				}
				r.pos++ // a lone CR at the end
				continue
			}
			if r.buf[r.pos+1] == '\n' {
				r.pos += 2
				r.line++
				continue
			}
		}
		return nil
	}
}

func (r *CSVReader) readErr() error { return fmt.Errorf("read csv: %w", r.err) }

// more reads more input after buf[len(buf)], keeping buf[pos:]. When the
// chunk is full, the bytes still needed move to a new chunk and the old one
// is left to the records that point into it. It reports false at the end of
// the input or on a read error (in r.err).
func (r *CSVReader) more() bool {
	if r.err != nil {
		return false
	}
	if len(r.buf) == cap(r.buf) {
		keep := r.buf[r.pos:]
		nb := make([]byte, len(keep), max(r.chunk, 2*len(keep)))
		copy(nb, keep)
		r.buf, r.pos = nb, 0
	}
	for range 100 {
		n, err := r.src.Read(r.buf[len(r.buf):cap(r.buf)])
		r.buf = r.buf[:len(r.buf)+n]
		if err != nil {
			r.err = err
		}
		if n > 0 {
			return true
		}
		if err != nil {
			return false
		}
	}
	r.err = io.ErrNoProgress
	return false
}
