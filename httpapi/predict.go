package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/reject"
)

// servePredict is POST /v1/predict: one JSON event -> its prediction record
// (or 400/500 with the error object); a JSON array of events -> an array in
// the same order, each element a prediction record or an error object.
func (s *Server) servePredict(w http.ResponseWriter, r *http.Request, md *model) {
	if msg := bodyProblem(r, false); msg != "" {
		writeError(w, http.StatusUnsupportedMediaType, ReasonUnsupportedMedia, msg)
		return
	}
	wk, err := md.get()
	if err != nil {
		writeError(w, http.StatusInternalServerError, ReasonInternal, err.Error())
		return
	}
	defer md.put(wk)
	wk.body, err = s.readBody(w, r, wk.body)
	if err != nil {
		code, reason := bodyStatus(err)
		writeError(w, code, reason, err.Error())
		return
	}
	received := time.Now()
	body := bytes.TrimSpace(wk.body)
	array := len(body) > 0 && body[0] == '['
	var elems []json.RawMessage
	if array {
		// Counted before it is split: splitting keeps a copy and a slice
		// header per element, which for a body of tiny elements is many
		// times the body.
		if tooManyElements(body, s.cfg.MaxEvents) {
			writeError(w, http.StatusRequestEntityTooLarge, ReasonTooLarge, tooManyEvents(s.cfg.MaxEvents))
			return
		}
		// The array is split by encoding/json (it also proves the body is
		// JSON); each element goes to the stream's decoder as its bytes.
		if err := json.Unmarshal(body, &elems); err != nil {
			writeJSON(w, http.StatusBadRequest, append(appendErrorObject(nil, string(ReasonMalformed), string(reject.StageDecode), "",
				"the body is not JSON: "+err.Error()), '\n'))
			return
		}
	} else {
		elems = []json.RawMessage{body}
	}
	events := wk.prepare(len(elems))
	for i, e := range elems {
		events[i] = predict.Event{Value: e, Time: received}
	}
	results, err := wk.score(time.Now())
	if err != nil {
		writeError(w, http.StatusInternalServerError, ReasonInternal, err.Error())
		return
	}
	s.count(results)
	if err := s.logPredictions(r, md, events, results); err != nil {
		s.logUnavailable(w, false, err)
		return
	}
	md.preds.AddAll(results) // answered from here on
	out := wk.out[:0]
	code := http.StatusOK
	if !array {
		res := &results[0]
		if res.Reject != "" {
			code = rejectStatus(res.Reject)
			out = appendRejectObject(out, res)
		} else {
			out = append(out, res.Value...)
		}
	} else {
		out = append(out, '[')
		for i := range results {
			if i > 0 {
				out = append(out, ',')
			}
			if res := &results[i]; res.Reject != "" {
				out = appendRejectObject(out, res)
			} else {
				out = append(out, res.Value...)
			}
		}
		out = append(out, ']')
	}
	out = append(out, '\n')
	wk.out = out
	writeJSON(w, code, out)
}

// count adds the outcomes of results to the events counter.
func (s *Server) count(results []predict.Result) {
	rejected := 0
	for i := range results {
		if results[i].Reject != "" {
			rejected++
		}
	}
	if n := len(results) - rejected; n > 0 {
		s.m.events.WithLabelValues("scored").Add(float64(n))
	}
	if rejected > 0 {
		s.m.events.WithLabelValues("rejected").Add(float64(rejected))
	}
}

// tooManyElements says whether the JSON array a has more than max
// top-level elements: its commas outside strings and nested values are
// counted. It is a bound, not a check (encoding/json still proves a is
// JSON); a body too short to hold max+1 elements (a byte and a comma each)
// is not read.
func tooManyElements(a []byte, max int) bool {
	if len(a) < 2*max+3 {
		return false
	}
	n, depth := 1, 0
	for i := 0; i < len(a); i++ {
		switch a[i] {
		case '"':
			for i++; i < len(a) && a[i] != '"'; i++ {
				if a[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		case ',':
			if depth == 1 {
				if n++; n > max {
					return true
				}
			}
		}
	}
	return false
}
