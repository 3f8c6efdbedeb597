package batch

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// Input formats.
const (
	CSV   = "csv"
	JSONL = "jsonl"
)

// Options control Run.
type Options struct {
	InFormat  string // csv or jsonl; empty means jsonl
	BatchSize int    // rows per micro-batch; default 512
	// Progress, if set, is called after every batch with the running totals.
	Progress func(Stats)
}

// Stats are the running totals of a Run.
type Stats struct {
	Rows     int64 // data rows read
	Scored   int64
	Rejected int64
	// Inputs counts, per bundle input, the rows that lacked it; see
	// predict.InputCounts for which rows are counted.
	Inputs predict.InputCounts
	// UnknownFields are fields (JSON keys, CSV columns) of the input that the
	// bundle does not read, as far as the decoder tracks them.
	UnknownFields []string
}

// FormatOf guesses a format from a file name: .csv is CSV, anything else JSON Lines.
func FormatOf(name string) string {
	if strings.EqualFold(strings.TrimSpace(name[max(0, len(name)-4):]), ".csv") {
		return CSV
	}
	return JSONL
}

// NoInputsError is returned when no row of the input carried any of the
// bundle's inputs: every prediction would have been made from imputed
// values only, which is never what was meant.
type NoInputsError struct {
	Inputs []string // the bundle's inputs
	Seen   []string // fields the input had instead (may be empty)
}

func (e *NoInputsError) Error() string {
	msg := fmt.Sprintf("no row carries any of the bundle's inputs (%s)", clipList(e.Inputs, 8))
	if len(e.Seen) > 0 {
		msg += fmt.Sprintf("; the rows have %s instead", clipList(e.Seen, 8))
		if len(e.Seen) <= 3 {
			msg += " (are the events nested under a key?)"
		}
	}
	return msg
}

func clipList(s []string, n int) string {
	if len(s) > n {
		return strings.Join(s[:n], ", ") + fmt.Sprintf(" and %d more", len(s)-n)
	}
	return strings.Join(s, ", ")
}

// Run reads rows from in, scores them with the bundle and writes one
// prediction record per scored row to out, the stream's encoding (enc) of
// the stream's prediction. Rejected rows go to rejects as JSON lines with
// their 1-based row number, stage, reason, field and detail; when rejects is
// nil they go inline into out, so out has one line per row, in input order.
// cfg is the stream's input configuration (event id field, limits, numeric
// strings); its Format is ignored (opt.InFormat says what the file is).
func Run(ctx context.Context, b *scoring.Bundle, cfg schemas.InputConfig, enc schemas.Encoder, echo bool,
	in io.Reader, out, rejects io.Writer, opt Options) (Stats, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = 512
	}
	cfg.Format = schemas.FormatJSON
	cfg = cfg.WithDefaults()
	var src source
	var newDecoder func() (schemas.Decoder, error)
	switch opt.InFormat {
	case JSONL, "":
		src = newLineSource(in, cfg.MaxRecordBytes)
		newDecoder = func() (schemas.Decoder, error) { return schemas.NewDecoder(cfg, b.Layout(), nil) }
	case CSV:
		cs, err := newCSVSource(in, cfg, b)
		if err != nil {
			return Stats{}, err
		}
		src, newDecoder = cs, cs.newDecoder
	default:
		return Stats{}, fmt.Errorf("input format %q (want csv or jsonl)", opt.InFormat)
	}
	pb, err := predict.New(b, newDecoder, enc, echo).NewBatch()
	if err != nil {
		return Stats{}, err
	}
	w := bufio.NewWriterSize(out, 1<<16)
	rw := w
	if rejects != nil {
		rw = bufio.NewWriterSize(rejects, 1<<16)
	}
	events := make([]predict.Event, opt.BatchSize)
	results := make([]predict.Result, opt.BatchSize)
	nums := make([]place, opt.BatchSize)
	pre := make([]*predict.Result, opt.BatchSize)
	var st Stats
	var line []byte
	for done := false; !done; {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		src.reset()
		n := 0
		for n < opt.BatchSize {
			v, num, err := src.next()
			if err == io.EOF {
				done = true
				break
			}
			pre[n] = nil
			if err != nil {
				var re *reject.Error
				if !errors.As(err, &re) {
					return st, err
				}
				// rejected by the reader (too large to read): decoded as
				// nothing, the reader's reason is what the row gets
				pre[n] = &predict.Result{Reject: re.Reason, Stage: reject.StageDecode, Err: re.Error()}
			}
			events[n], nums[n] = predict.Event{Value: v}, num
			n++
		}
		if n == 0 {
			break
		}
		if err := pb.Run(events[:n], results[:n], time.Now(), nil); err != nil {
			return st, err
		}
		for i := 0; i < n; i++ {
			st.Rows++
			r := &results[i]
			if pre[i] != nil {
				r = pre[i]
			}
			var err error
			if r.Reject != "" {
				st.Rejected++
				line = appendReject(line[:0], nums[i], r)
				_, err = rw.Write(line)
			} else {
				st.Scored++
				line = append(append(line[:0], r.Value...), '\n')
				_, err = w.Write(line)
			}
			if err != nil {
				return st, fmt.Errorf("write output: %w", err)
			}
		}
		st.Inputs = *pb.Inputs()
		if opt.Progress != nil {
			opt.Progress(st)
		}
	}
	st.Inputs = copyCounts(pb.Inputs())
	st.UnknownFields = pb.UnknownFields()
	if err := w.Flush(); err != nil {
		return st, fmt.Errorf("write output: %w", err)
	}
	if err := rw.Flush(); err != nil {
		return st, fmt.Errorf("write rejects: %w", err)
	}
	if c := st.Inputs; c.Events > 0 && c.Empty == c.Events {
		var names []string
		for _, in := range b.Layout().Inputs {
			names = append(names, in.Name)
		}
		return st, &NoInputsError{Inputs: names, Seen: st.UnknownFields}
	}
	return st, nil
}

func copyCounts(c *predict.InputCounts) predict.InputCounts {
	out := *c
	out.Missing = append([]uint64(nil), c.Missing...)
	return out
}

// appendReject writes one reject line:
// {"row":3,"line":4,"reject":"wrong_type","stage":"decode","field":"amount","error":"..."}.
func appendReject(b []byte, at place, r *predict.Result) []byte {
	b = append(b, `{"row":`...)
	b = strconv.AppendInt(b, at.row, 10)
	b = append(b, `,"line":`...)
	b = strconv.AppendInt(b, at.line, 10)
	b = append(b, `,"reject":`...)
	b = schemas.AppendJSONString(b, string(r.Reject))
	b = append(b, `,"stage":`...)
	b = schemas.AppendJSONString(b, string(r.Stage))
	if r.Field != "" {
		b = append(b, `,"field":`...)
		b = schemas.AppendJSONString(b, r.Field)
	}
	b = append(b, `,"error":`...)
	b = schemas.AppendJSONString(b, r.Err)
	return append(b, "}\n"...)
}

// source yields raw records and where they are. The bytes stay valid
// until reset.
type source interface {
	next() (value []byte, at place, err error) // io.EOF at the end
	reset()
}

// place is where a record is in the file: its row number (a JSON line's
// line, a CSV data record's number after the header, empty lines not
// counted) and the 1-based line it starts on, which an editor shows (a
// CSV record can span lines in quotes).
type place struct{ row, line int64 }

// lineSource reads JSON Lines: one value per line, blank lines skipped, a
// line longer than the record limit cut at limit+1 bytes (the decoder then
// rejects it as too_large) and the rest of it skipped.
type lineSource struct {
	r     *bufio.Reader
	limit int
	buf   []byte // this batch's lines
	n     int64
}

func newLineSource(in io.Reader, limit int) *lineSource {
	return &lineSource{r: bufio.NewReaderSize(in, 1<<16), limit: limit}
}

func (s *lineSource) reset() { s.buf = s.buf[:0] }

func (s *lineSource) next() ([]byte, place, error) {
	for {
		start := len(s.buf)
		over := false
		for {
			chunk, err := s.r.ReadSlice('\n')
			if !over {
				s.buf = append(s.buf, chunk...)
				if len(s.buf)-start > s.limit+1 {
					s.buf = s.buf[:start+s.limit+1]
					over = true
				}
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF && len(s.buf) == start {
				return nil, place{}, io.EOF
			}
			if err != nil && err != io.EOF {
				return nil, place{}, fmt.Errorf("read input: %w", err)
			}
			break
		}
		s.n++
		v := bytes.TrimSpace(s.buf[start:])
		if len(v) == 0 {
			s.buf = s.buf[:start]
			continue
		}
		return v[:len(v):len(v)], place{s.n, s.n}, nil
	}
}

// csvSource reads CSV with a header through schemas.CSVReader; its
// decoders are built from that header.
type csvSource struct {
	r      *schemas.CSVReader
	cfg    schemas.InputConfig
	layout *features.Layout
	n      int64
}

func newCSVSource(in io.Reader, cfg schemas.InputConfig, b *scoring.Bundle) (*csvSource, error) {
	r, err := schemas.NewCSVReader(in, cfg)
	if err != nil {
		return nil, err
	}
	s := &csvSource{r: r, cfg: cfg, layout: b.Layout()}
	if _, err := s.newDecoder(); err != nil { // header errors before any output
		return nil, err
	}
	return s, nil
}

func (s *csvSource) newDecoder() (schemas.Decoder, error) {
	return schemas.NewCSVDecoder(s.cfg, s.layout, s.r.Header())
}

func (s *csvSource) reset() {}

// next returns the next record. A record over the size limit comes back as
// a *reject.Error (too_large): the row is rejected and reading goes on.
func (s *csvSource) next() ([]byte, place, error) {
	rec, line, err := s.r.Next()
	if err == io.EOF {
		return nil, place{}, io.EOF
	}
	s.n++
	if err != nil {
		if _, poison := reject.Of(err); poison {
			return nil, place{s.n, int64(line)}, err
		}
		return nil, place{}, err
	}
	return rec, place{s.n, int64(line)}, nil
}
