package batch

import (
	"github.com/streamscore/streamscore/reject"
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/scoring"
)

// Formats for input and output.
const (
	CSV   = "csv"
	JSONL = "jsonl"
)

// Options control Run.
type Options struct {
	InFormat  string // csv or jsonl
	OutFormat string // jsonl or csv
	BatchSize int    // rows per ScoreBatch; default 512
	// Progress, if set, is called after every batch with the running totals.
	Progress func(Stats)
}

// Stats are the running totals of a Run.
type Stats struct {
	Rows     int64 // data rows read
	Scored   int64
	Rejected int64
}

// FormatOf guesses a format from a file name: .csv is CSV, anything else JSON Lines.
func FormatOf(name string) string {
	if strings.EqualFold(strings.TrimSpace(name[max(0, len(name)-4):]), ".csv") {
		return CSV
	}
	return JSONL
}

// Run reads rows from in, scores them with b and writes one output per scored
// row to out; rejected and malformed rows go to rejects with their 1-based row
// number (the data row, not counting a CSV header), reason and the feature or
// error. If rejects is nil they are written to out instead, with a "reject" key
// (JSON Lines) or filled reject columns (CSV). Output keeps input order.
func Run(ctx context.Context, b *scoring.Bundle, in io.Reader, out io.Writer, rejects io.Writer, opt Options) (Stats, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = 512
	}
	var src source
	switch opt.InFormat {
	case CSV:
		cs, err := newCSVSource(in, b.Layout())
		if err != nil {
			return Stats{}, err
		}
		src = cs
	case JSONL, "":
		src = &jsonSource{r: bufio.NewReaderSize(in, 1<<20), layout: b.Layout()}
	default:
		return Stats{}, fmt.Errorf("input format %q (want csv or jsonl)", opt.InFormat)
	}
	var sink sink
	switch opt.OutFormat {
	case CSV:
		sink = newCSVSink(out, b, rejects == nil)
	case JSONL, "":
		sink = &jsonSink{w: bufio.NewWriterSize(out, 1<<16), classes: b.Classes()}
	default:
		return Stats{}, fmt.Errorf("output format %q (want jsonl or csv)", opt.OutFormat)
	}
	var rej *jsonSink
	if rejects != nil {
		rej = &jsonSink{w: bufio.NewWriterSize(rejects, 1<<16)}
	} else if js, ok := sink.(*jsonSink); ok {
		rej = js
	}

	layout := b.Layout()
	scorer := b.NewScorer()
	rows := make([]*features.Row, opt.BatchSize)
	for i := range rows {
		rows[i] = layout.NewRow()
	}
	preds := make([]scoring.Prediction, opt.BatchSize)
	nums := make([]int64, opt.BatchSize)
	errs := make([]string, opt.BatchSize)
	batchRows := make([]*features.Row, opt.BatchSize)
	var st Stats
	for done := false; !done; {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		n := 0
		for n < opt.BatchSize {
			num, err := src.next(rows[n])
			if err == io.EOF {
				done = true
				break
			}
			nums[n] = num
			errs[n] = ""
			batchRows[n] = rows[n]
			if err != nil {
				var de decodeError
				if !errors.As(err, &de) {
					return st, err
				}
				errs[n] = de.msg
				batchRows[n] = nil
			}
			n++
		}
		if n == 0 {
			break
		}
		scorer.ScoreBatch(batchRows[:n], preds[:n])
		for i := 0; i < n; i++ {
			st.Rows++
			p := &preds[i]
			var err error
			switch {
			case errs[i] != "":
				st.Rejected++
				err = writeReject(sink, rej, nums[i], reject.Malformed, "", errs[i])
			case p.Reject != "":
				st.Rejected++
				err = writeReject(sink, rej, nums[i], p.Reject, p.RejectFeature, "")
			default:
				st.Scored++
				err = sink.scored(nums[i], p)
			}
			if err != nil {
				return st, fmt.Errorf("write output: %w", err)
			}
		}
		if opt.Progress != nil {
			opt.Progress(st)
		}
	}
	if err := sink.flush(); err != nil {
		return st, fmt.Errorf("write output: %w", err)
	}
	if rej != nil {
		if err := rej.flush(); err != nil {
			return st, fmt.Errorf("write rejects: %w", err)
		}
	}
	return st, nil
}

func writeReject(s sink, rej *jsonSink, row int64, reason reject.Reason, feature, msg string) error {
	if rej != nil {
		return rej.rejected(row, string(reason), feature, msg)
	}
	return s.rejected(row, string(reason), feature, msg)
}

// decodeError marks a row that could not be read; the run goes on.
type decodeError struct{ msg string }

func (e decodeError) Error() string { return e.msg }

type source interface {
	// next fills row and returns its 1-based row number; io.EOF at the end;
	// a decodeError for a bad row; any other error stops the run.
	next(row *features.Row) (int64, error)
}

type jsonSource struct {
	r      *bufio.Reader
	layout *features.Layout
	n      int64
}

func (s *jsonSource) next(row *features.Row) (int64, error) {
	for {
		line, err := s.r.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			return 0, err // io.EOF or a read error
		}
		if err != nil && err != io.EOF {
			return 0, err
		}
		s.n++
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			row.Reset()
			return s.n, decodeError{"invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
		}
		if dec.More() {
			row.Reset()
			return s.n, decodeError{"more than one JSON value on the line"}
		}
		if err := s.layout.FillFromMap(row, m); err != nil {
			return s.n, decodeError{err.Error()}
		}
		return s.n, nil
	}
}

type csvSource struct {
	r      *csv.Reader
	layout *features.Layout
	cols   []int // input index of each CSV column, -1 if unused
	n      int64
}

func newCSVSource(in io.Reader, l *features.Layout) (*csvSource, error) {
	r := csv.NewReader(bufio.NewReaderSize(in, 1<<20))
	r.ReuseRecord = true
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err == io.EOF {
		return nil, errors.New("CSV input is empty (want a header row)")
	}
	if err != nil {
		return nil, fmt.Errorf("CSV header: %w", err)
	}
	s := &csvSource{r: r, layout: l, cols: make([]int, len(header))}
	matched := 0
	for j, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		s.cols[j] = -1
		for i, in := range l.Inputs {
			if h == in.Name || (in.Path != "" && h == in.Path) {
				s.cols[j] = i
				matched++
				break
			}
		}
	}
	if matched == 0 {
		return nil, fmt.Errorf("CSV header names none of the bundle's inputs")
	}
	return s, nil
}

func (s *csvSource) next(row *features.Row) (int64, error) {
	rec, err := s.r.Read()
	if err == io.EOF {
		return 0, io.EOF
	}
	s.n++
	row.Reset()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return s.n, decodeError{pe.Error()}
		}
		return 0, err
	}
	for j, v := range rec {
		if j >= len(s.cols) || s.cols[j] < 0 {
			continue
		}
		if err := s.layout.SetText(row, s.cols[j], v); err != nil {
			return s.n, decodeError{err.Error()}
		}
	}
	return s.n, nil
}

type sink interface {
	scored(row int64, p *scoring.Prediction) error
	rejected(row int64, reason, feature, msg string) error
	flush() error
}

// jsonSink writes one JSON object per line, by hand so that probabilities
// come out in class order.
type jsonSink struct {
	w       *bufio.Writer
	classes []string
	buf     []byte
}

func (s *jsonSink) scored(row int64, p *scoring.Prediction) error {
	b := append(s.buf[:0], `{"row":`...)
	b = strconv.AppendInt(b, row, 10)
	b = append(b, `,"score":`...)
	b = appendFloat(b, p.Score)
	b = append(b, `,"label":`...)
	b = appendString(b, p.Label)
	if p.Probs != nil {
		b = append(b, `,"probs":{`...)
		for k, v := range p.Probs {
			if k > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s.classes[k])
			b = append(b, ':')
			b = appendFloat(b, v)
		}
		b = append(b, '}')
	}
	b = append(b, "}\n"...)
	s.buf = b
	_, err := s.w.Write(b)
	return err
}

func (s *jsonSink) rejected(row int64, reason, feature, msg string) error {
	b := append(s.buf[:0], `{"row":`...)
	b = strconv.AppendInt(b, row, 10)
	b = append(b, `,"reject":`...)
	b = appendString(b, reason)
	if feature != "" {
		b = append(b, `,"feature":`...)
		b = appendString(b, feature)
	}
	if msg != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, msg)
	}
	b = append(b, "}\n"...)
	s.buf = b
	_, err := s.w.Write(b)
	return err
}

func (s *jsonSink) flush() error { return s.w.Flush() }

func appendFloat(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// csvSink writes row, score, label, one prob_<class> column per class and,
// when rejects share the output, reject and reject_feature columns.
type csvSink struct {
	w          *csv.Writer
	nClass     int
	withReject bool
	rec        []string
	wroteHead  bool
	header     []string
}

func newCSVSink(out io.Writer, b *scoring.Bundle, withReject bool) *csvSink {
	s := &csvSink{w: csv.NewWriter(out), withReject: withReject}
	s.header = []string{"row", "score", "label"}
	if b.Task() != scoring.TaskRegression {
		for _, c := range b.Classes() {
			s.header = append(s.header, "prob_"+c)
		}
		s.nClass = len(b.Classes())
	}
	if withReject {
		s.header = append(s.header, "reject", "reject_feature", "error")
	}
	s.rec = make([]string, len(s.header))
	return s
}

func (s *csvSink) head() error {
	if s.wroteHead {
		return nil
	}
	s.wroteHead = true
	return s.w.Write(s.header)
}

func (s *csvSink) scored(row int64, p *scoring.Prediction) error {
	if err := s.head(); err != nil {
		return err
	}
	clear(s.rec)
	s.rec[0] = strconv.FormatInt(row, 10)
	s.rec[1] = strconv.FormatFloat(p.Score, 'g', -1, 64)
	s.rec[2] = p.Label
	for k, v := range p.Probs {
		if k < s.nClass {
			s.rec[3+k] = strconv.FormatFloat(v, 'g', -1, 64)
		}
	}
	return s.w.Write(s.rec)
}

func (s *csvSink) rejected(row int64, reason, feature, msg string) error {
	if err := s.head(); err != nil {
		return err
	}
	clear(s.rec)
	s.rec[0] = strconv.FormatInt(row, 10)
	if s.withReject {
		n := len(s.rec)
		s.rec[n-3], s.rec[n-2], s.rec[n-1] = reason, feature, msg
	}
	return s.w.Write(s.rec)
}

func (s *csvSink) flush() error {
	if err := s.head(); err != nil {
		return err
	}
	s.w.Flush()
	return s.w.Error()
}
