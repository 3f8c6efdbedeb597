package httpapi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/schemas"
)

// POST /v2/models/{name}[/versions/{version}]/infer.
//
// Each input tensor is one bundle input, shape [n] or [n, 1], data flat or
// nested (row-major), or binary (the binary tensor data extension that
// tritonclient uses by default). Per row, the door writes the JSON event the
// tensors describe, {"amount": 12.5, "country": "DE", ...} (dotted input
// paths as nested objects), and runs the rows through the same path as
// /v1/predict: the stream's decoder with its type rules and reject reasons.
// Integers and FP64 JSON numbers are copied as their text (exact); FP32
// values are rounded to float32 first, as the datatype says; binary floats
// are written as appendFinite does (an integral value as an integer, so a
// category input gets "5411" from 5411.0, as it does from FP64 JSON). A row
// that is rejected fails the request (400, the first rejected row's
// reason), as OIP errors are per request.

type inferRequest struct {
	ID         *string                    `json:"id"`
	Parameters map[string]json.RawMessage `json:"parameters"`
	Inputs     []inferTensor              `json:"inputs"`
	Outputs    []struct {
		Name       string                     `json:"name"`
		Parameters map[string]json.RawMessage `json:"parameters"`
	} `json:"outputs"`
}

type inferTensor struct {
	Name       string                     `json:"name"`
	Shape      []int64                    `json:"shape"`
	Datatype   string                     `json:"datatype"`
	Parameters map[string]json.RawMessage `json:"parameters"`
	Data       json.RawMessage            `json:"data"`
}

// elemSize is the binary size of one element of a fixed-size datatype; 0
// for BYTES; -1 when the datatype is not supported.
func elemSize(dt string) int {
	switch dt {
	case "BOOL", "INT8", "UINT8":
		return 1
	case "INT16", "UINT16":
		return 2
	case "INT32", "UINT32", "FP32":
		return 4
	case "INT64", "UINT64", "FP64":
		return 8
	case "BYTES":
		return 0
	}
	return -1
}

// badRequest is an error the client caused: 400 with its message.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func bad(format string, args ...any) error { return &badRequest{fmt.Sprintf(format, args...)} }

func (s *Server) serveInfer(w http.ResponseWriter, r *http.Request, md *model) {
	if s.match(w, r, md) == nil {
		return
	}
	if msg := bodyProblem(r, true); msg != "" {
		writeOIPError(w, http.StatusUnsupportedMediaType, msg)
		return
	}
	wk, err := md.get()
	if err != nil {
		writeOIPError(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer md.put(wk)
	wk.body, err = s.readBody(w, r, wk.body)
	if err != nil {
		code, _ := bodyStatus(err)
		writeOIPError(w, code, err.Error())
		return
	}
	received := time.Now()
	req, cols, n, binOut, err := parseInfer(md.oip, wk.body, r.Header.Get(headerInferLength))
	if err != nil {
		writeOIPError(w, http.StatusBadRequest, err.Error())
		return
	}
	if n > s.cfg.MaxEvents {
		writeOIPError(w, http.StatusRequestEntityTooLarge, tooManyEvents(s.cfg.MaxEvents))
		return
	}
	outs, err := requestedOutputs(md.oip, req, binOut)
	if err != nil {
		writeOIPError(w, http.StatusBadRequest, err.Error())
		return
	}

	// One JSON event per row, into one buffer, then sliced.
	evbuf := wk.out[:0]
	ends := make([]int, n)
	for i := 0; i < n; i++ {
		evbuf = md.oip.tree.appendEvent(evbuf, cols, i)
		ends[i] = len(evbuf)
	}
	wk.out = evbuf
	events := wk.prepare(n)
	for i := range events {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		v := evbuf[start:ends[i]:ends[i]]
		events[i] = predict.Event{Value: v, Time: received}
	}
	results, err := wk.score(time.Now())
	if err != nil {
		writeOIPError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.count(results)
	for i := range results {
		if res := &results[i]; res.Reject != "" {
			// Only the rejects are logged: the scored rows of a failed
			// request were never answered.
			if err := s.logPredictions(r, md, events, rejectsOnly(results)); err != nil {
				s.logUnavailable(w, true, err)
				return
			}
			writeOIPError(w, rejectStatus(res.Reject), fmt.Sprintf("row %d of %d: %s (stage %s)", i, n, res.Err, res.Stage))
			return
		}
	}
	if err := s.logPredictions(r, md, events, results); err != nil {
		s.logUnavailable(w, true, err)
		return
	}
	body, bin, err := inferResponse(md.oip, req.ID, results, outs)
	if err != nil {
		writeOIPError(w, http.StatusInternalServerError, err.Error())
		return
	}
	md.preds.AddAll(results) // answered from here on (a request with a reject answers none)
	if bin == nil {
		writeJSON(w, http.StatusOK, body)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentOctets)
	h.Set(headerInferLength, strconv.Itoa(len(body)))
	h.Set("Content-Length", strconv.Itoa(len(body)+len(bin)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	_, _ = w.Write(bin)
}

// rejectsOnly is results with the scored ones blanked (logPredictions
// skips a result without a reject and without a value).
func rejectsOnly(results []predict.Result) []predict.Result {
	out := make([]predict.Result, len(results))
	for i := range results {
		if results[i].Reject != "" {
			out[i] = results[i]
		}
	}
	return out
}

// parseInfer reads an inference request (JSON, or JSON followed by binary
// tensors when headerLen is set) into one column per bundle input given.
func parseInfer(m *oipModel, body []byte, headerLen string) (req inferRequest, cols []*column, n int, binOut bool, err error) {
	jsonPart, binPart := body, []byte(nil)
	if headerLen != "" {
		hl, perr := strconv.Atoi(headerLen)
		if perr != nil || hl < 0 || hl > len(body) {
			return req, nil, 0, false, bad("%s %q: want the length of the JSON part (body is %d bytes)", headerInferLength, headerLen, len(body))
		}
		jsonPart, binPart = body[:hl], body[hl:]
	}
	if err := json.Unmarshal(jsonPart, &req); err != nil {
		// A type error names the field as the protocol does, not the Go
		// struct it was decoded into.
		if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) && te.Field != "" {
			return req, nil, 0, false, bad("the request is not an inference request: field %q is a JSON %s, the protocol has %s there", te.Field, te.Value, oipType(te.Type))
		}
		return req, nil, 0, false, bad("the request is not an inference request: %v", err)
	}
	if len(req.Inputs) == 0 {
		return req, nil, 0, false, bad("no inputs: send one tensor per model input (GET /v2/models/%s lists them)", m.name)
	}
	binOut = paramTrue(req.Parameters, "binary_data_output")
	cols = make([]*column, len(m.inputs))
	n = -1
	for _, t := range req.Inputs {
		k, ok := m.byName[t.Name]
		if !ok {
			return req, nil, 0, false, bad("input %q: model %s has no such input (GET /v2/models/%s lists them)", t.Name, m.name, m.name)
		}
		if cols[k] != nil {
			return req, nil, 0, false, bad("input %q given twice", t.Name)
		}
		rows, err := tensorRows(t)
		if err != nil {
			return req, nil, 0, false, err
		}
		if n >= 0 && rows != n {
			return req, nil, 0, false, bad("input %q has %d rows, earlier inputs %d: every input needs one value per row", t.Name, rows, n)
		}
		n = rows
		c := &column{}
		if size, ok := t.Parameters["binary_data_size"]; ok {
			sz, perr := strconv.Atoi(string(size))
			if perr != nil || sz < 0 || sz > len(binPart) {
				return req, nil, 0, false, bad("input %q: binary_data_size %s: %d bytes of binary data left", t.Name, size, len(binPart))
			}
			c.ends = make([]int, 0, min(rows, maxValues(t, sz)))
			if err := binaryColumn(c, t, binPart[:sz]); err != nil {
				return req, nil, 0, false, err
			}
			binPart = binPart[sz:]
		} else {
			c.ends = make([]int, 0, min(rows, maxValues(t, -1)))
			if err := jsonColumn(c, t, m.inputs[k].typ == features.Category); err != nil {
				return req, nil, 0, false, err
			}
		}
		if len(c.ends) != rows {
			return req, nil, 0, false, bad("input %q: shape %v says %d values, data has %d", t.Name, t.Shape, rows, len(c.ends))
		}
		cols[k] = c
	}
	if len(binPart) > 0 {
		return req, nil, 0, false, bad("%d bytes of binary data no input claims (binary_data_size)", len(binPart))
	}
	return req, cols, n, binOut, nil
}

// oipType names a Go type of the request's structs as the protocol's JSON
// type, with its article.
func oipType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Bool:
		return "a boolean"
	case reflect.Pointer:
		return oipType(t.Elem())
	}
	return "a number"
}

// maxValues is the most values t's data can hold: its JSON data (binSize
// < 0), where a value takes 2 bytes or more with its separator, or binSize
// bytes of binary data, where an element takes its size (BYTES: 4 or
// more). The shape is the client's claim: a column is preallocated for no
// more than this, so a small request cannot make the door reserve what its
// shape says.
func maxValues(t inferTensor, binSize int) int {
	if binSize < 0 {
		return (len(t.Data) + 1) / 2
	}
	if size := elemSize(t.Datatype); size > 0 {
		return binSize / size
	}
	return binSize / 4
}

// tensorRows checks the datatype and shape ([n] or [n, 1]) and returns n.
func tensorRows(t inferTensor) (int, error) {
	if elemSize(t.Datatype) < 0 {
		return 0, bad("input %q: datatype %q is not supported (BOOL, INT8..INT64, UINT8..UINT64, FP32, FP64, BYTES)", t.Name, t.Datatype)
	}
	switch {
	case len(t.Shape) == 1 && t.Shape[0] >= 0:
	case len(t.Shape) == 2 && t.Shape[0] >= 0 && t.Shape[1] == 1:
	default:
		return 0, bad("input %q: shape %v: want [n] or [n, 1], one value per row", t.Name, t.Shape)
	}
	if t.Shape[0] > math.MaxInt32 {
		return 0, bad("input %q: shape %v is too large", t.Name, t.Shape)
	}
	return int(t.Shape[0]), nil
}

// jsonColumn reads the "data" of t, flat or nested arrays, into c as JSON
// values. null is a missing value. data was checked to be JSON when the
// request was decoded, so a small scanner over it suffices (encoding/json's
// tokenizer allocates per value).
func jsonColumn(c *column, t inferTensor, category bool) error {
	data := bytes.TrimSpace(t.Data)
	if len(data) == 0 {
		return bad("input %q: no data (and no binary_data_size)", t.Name)
	}
	if data[0] != '[' {
		return bad("input %q: data is not an array", t.Name)
	}
	var scratch []byte
	for i := 0; i < len(data); {
		switch ch := data[i]; {
		case ch == '[' || ch == ']' || ch == ',' || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			i++
		case ch == '{':
			return bad("input %q: data holds an object: want (nested) arrays of values", t.Name)
		case ch == '"':
			end := stringEnd(data, i)
			if t.Datatype != "BYTES" {
				return bad("input %q: datatype %s holds a string", t.Name, t.Datatype)
			}
			c.add(data[i:end]) // a JSON string, as the event gets it
			i = end
		default: // number, true, false, null
			end := i
			for end < len(data) && !isDelim(data[end]) {
				end++
			}
			v := data[i:end]
			i = end
			switch string(v) {
			case "null":
				c.add(v)
				continue
			case "true", "false":
				if t.Datatype != "BOOL" {
					return bad("input %q: datatype %s holds a bool", t.Name, t.Datatype)
				}
				c.add(v)
				continue
			}
			var err error
			if scratch, err = numberValue(scratch[:0], t, category, json.Number(v)); err != nil {
				return err
			}
			c.add(scratch)
		}
	}
	return nil
}

func isDelim(c byte) bool {
	return c == ',' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// stringEnd returns the index after the JSON string starting at data[i].
func stringEnd(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(data)
}

// numberValue checks a JSON number against the datatype and writes the
// value the event gets: an integer's text; an FP64 number's text, which
// parses to the value binary FP64 gives, but for a category input (where
// the form decides: 5411.0 must be the category "5411", as binary 5411.0
// is) the value as appendFinite writes it; an FP32 value rounded to
// float32, written so.
func numberValue(b []byte, t inferTensor, category bool, v json.Number) ([]byte, error) {
	s := string(v)
	switch t.Datatype {
	case "FP64":
		if !category {
			return append(b, s...), nil
		}
		fallthrough
	case "FP32":
		f, err := strconv.ParseFloat(s, 8*elemSize(t.Datatype))
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, bad("input %q: %s is not a number", t.Name, s)
		}
		return appendFinite(b, f), nil
	case "INT8", "INT16", "INT32", "INT64":
		bits := 8 * elemSize(t.Datatype)
		if _, err := strconv.ParseInt(s, 10, bits); err != nil {
			return nil, bad("input %q: %s is not an %s", t.Name, s, t.Datatype)
		}
		return append(b, s...), nil
	case "UINT8", "UINT16", "UINT32", "UINT64":
		bits := 8 * elemSize(t.Datatype)
		if _, err := strconv.ParseUint(s, 10, bits); err != nil {
			return nil, bad("input %q: %s is not a %s", t.Name, s, t.Datatype)
		}
		return append(b, s...), nil
	}
	return nil, bad("input %q: datatype %s holds a number", t.Name, t.Datatype)
}

// appendFinite writes a float tensor's value for the decoder: an integral
// value as an integer (1234567, not the shortest form's 1.234567e+06, so a
// category input gets "1234567" as from the JSON integer), any other in the
// shortest form that parses back to it, and a non-finite v as 1e999, which
// the decoder rejects as not_finite (the stream's reason for such values).
func appendFinite(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		if v < 0 {
			return append(b, "-1e999"...)
		}
		return append(b, "1e999"...)
	case v == math.Trunc(v) && math.Abs(v) < 1e21:
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	return appendFloat(b, v)
}

// binaryColumn reads t's binary data (little-endian elements; BYTES as a
// 4-byte little-endian length before each element) into c.
func binaryColumn(c *column, t inferTensor, data []byte) error {
	size := elemSize(t.Datatype)
	var scratch []byte
	if size == 0 {
		for len(data) > 0 {
			if len(data) < 4 {
				return bad("input %q: binary BYTES data ends inside a length prefix", t.Name)
			}
			l := binary.LittleEndian.Uint32(data)
			data = data[4:]
			if uint64(l) > uint64(len(data)) {
				return bad("input %q: binary BYTES element of %d bytes, %d left", t.Name, l, len(data))
			}
			c.add(schemas.AppendJSONString(scratch[:0], string(data[:l])))
			data = data[l:]
		}
		return nil
	}
	if len(data)%size != 0 {
		return bad("input %q: %d bytes of binary %s data is not a whole number of elements", t.Name, len(data), t.Datatype)
	}
	le := binary.LittleEndian
	for i := 0; i < len(data); i += size {
		e := data[i : i+size]
		b := scratch[:0]
		switch t.Datatype {
		case "BOOL":
			b = strconv.AppendBool(b, e[0] != 0)
		case "INT8":
			b = strconv.AppendInt(b, int64(int8(e[0])), 10)
		case "UINT8":
			b = strconv.AppendUint(b, uint64(e[0]), 10)
		case "INT16":
			b = strconv.AppendInt(b, int64(int16(le.Uint16(e))), 10)
		case "UINT16":
			b = strconv.AppendUint(b, uint64(le.Uint16(e)), 10)
		case "INT32":
			b = strconv.AppendInt(b, int64(int32(le.Uint32(e))), 10)
		case "UINT32":
			b = strconv.AppendUint(b, uint64(le.Uint32(e)), 10)
		case "INT64":
			b = strconv.AppendInt(b, int64(le.Uint64(e)), 10)
		case "UINT64":
			b = strconv.AppendUint(b, le.Uint64(e), 10)
		case "FP32":
			b = appendFinite(b, float64(math.Float32frombits(le.Uint32(e))))
		case "FP64":
			b = appendFinite(b, math.Float64frombits(le.Uint64(e)))
		}
		scratch = b
		c.add(b)
	}
	return nil
}

// outSpec is one output to answer and whether it goes as binary data.
type outSpec struct {
	name   string
	binary bool
}

// requestedOutputs are the outputs the request names (all when none), each
// binary when its binary_data parameter (or the request's
// binary_data_output) says so.
func requestedOutputs(m *oipModel, req inferRequest, binOut bool) ([]outSpec, error) {
	if len(req.Outputs) == 0 {
		out := make([]outSpec, len(m.outputs))
		for i, o := range m.outputs {
			out[i] = outSpec{o.Name, binOut}
		}
		return out, nil
	}
	var out []outSpec
	for _, o := range req.Outputs {
		if !m.hasOutput(o.Name) {
			return nil, bad("output %q: model %s has no such output (GET /v2/models/%s lists them)", o.Name, m.name, m.name)
		}
		if slices.ContainsFunc(out, func(s outSpec) bool { return s.name == o.Name }) {
			return nil, bad("output %q is asked for twice", o.Name)
		}
		bin := binOut
		if _, ok := o.Parameters["binary_data"]; ok {
			bin = paramTrue(o.Parameters, "binary_data")
		}
		out = append(out, outSpec{o.Name, bin})
	}
	return out, nil
}

func paramTrue(p map[string]json.RawMessage, name string) bool {
	return string(bytes.TrimSpace(p[name])) == "true"
}

// inferResponse writes the response JSON and, when some output is binary,
// the binary data that follows it.
func inferResponse(m *oipModel, id *string, results []predict.Result, outs []outSpec) (body, bin []byte, err error) {
	n := len(results)
	var probs []float64
	for _, o := range outs {
		if o.name == OutputProbabilities {
			if probs, err = probabilities(results, len(m.classes)); err != nil {
				return nil, nil, err
			}
		}
	}
	b := append([]byte(`{"model_name":`), schemas.AppendJSONString(nil, m.name)...)
	b = append(b, `,"model_version":`...)
	b = schemas.AppendJSONString(b, m.version)
	if id != nil {
		b = append(b, `,"id":`...)
		b = schemas.AppendJSONString(b, *id)
	}
	b = append(b, `,"outputs":[`...)
	for i, o := range outs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = schemas.AppendJSONString(b, o.name)
		var shape string
		var datatype string
		switch o.name {
		case OutputScore:
			datatype, shape = "FP64", "["+strconv.Itoa(n)+"]"
		case OutputProbabilities:
			datatype, shape = "FP64", "["+strconv.Itoa(n)+","+strconv.Itoa(len(m.classes))+"]"
		case OutputLabel:
			datatype, shape = "BYTES", "["+strconv.Itoa(n)+"]"
		}
		b = append(b, `,"datatype":"`+datatype+`","shape":`+shape...)
		if o.binary {
			start := len(bin)
			bin = appendBinaryOutput(bin, o.name, results, probs)
			b = append(b, `,"parameters":{"binary_data_size":`...)
			b = strconv.AppendInt(b, int64(len(bin)-start), 10)
			b = append(b, "}}"...)
			continue
		}
		b = append(b, `,"data":[`...)
		b = appendJSONOutput(b, o.name, results, probs)
		b = append(b, "]}"...)
	}
	b = append(b, "]}\n"...)
	return b, bin, nil
}

func appendJSONOutput(b []byte, name string, results []predict.Result, probs []float64) []byte {
	switch name {
	case OutputScore:
		for i := range results {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFloat(b, results[i].Score)
		}
	case OutputProbabilities:
		for i, p := range probs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFloat(b, p)
		}
	case OutputLabel:
		for i := range results {
			if i > 0 {
				b = append(b, ',')
			}
			b = schemas.AppendJSONString(b, results[i].Label)
		}
	}
	return b
}

func appendBinaryOutput(b []byte, name string, results []predict.Result, probs []float64) []byte {
	le := binary.LittleEndian
	switch name {
	case OutputScore:
		for i := range results {
			b = le.AppendUint64(b, math.Float64bits(results[i].Score))
		}
	case OutputProbabilities:
		for _, p := range probs {
			b = le.AppendUint64(b, math.Float64bits(p))
		}
	case OutputLabel:
		for i := range results {
			b = le.AppendUint32(b, uint32(len(results[i].Label)))
			b = append(b, results[i].Label...)
		}
	}
	return b
}

// probabilities reads the class probabilities (row-major, k per row) back
// from the encoded prediction records: predict.Result carries the score and
// label but not the probabilities, and the records' floats parse back
// exactly. The records are schemas.JSONEncoder's, whose layout is fixed: k
// "probability": values in class order (a class name cannot hold that
// text unescaped).
func probabilities(results []predict.Result, k int) ([]float64, error) {
	out := make([]float64, 0, len(results)*k)
	key := []byte(`"probability":`)
	for i := range results {
		rec := results[i].Value
		for c := 0; c < k; c++ {
			j := bytes.Index(rec, key)
			if j < 0 {
				return nil, fmt.Errorf("row %d: %d probabilities in the prediction record, want %d", i, c, k)
			}
			rec = rec[j+len(key):]
			end := bytes.IndexAny(rec, ",}")
			if end < 0 {
				return nil, fmt.Errorf("row %d: a probability without an end", i)
			}
			v, err := strconv.ParseFloat(string(rec[:end]), 64)
			if err != nil {
				return nil, fmt.Errorf("row %d: probability %q: %w", i, rec[:end], err)
			}
			out = append(out, v)
		}
	}
	return out, nil
}
