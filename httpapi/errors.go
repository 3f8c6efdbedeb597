package httpapi

import (
	"net/http"
	"strconv"

	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas"
)

// Reason is the reason of an error object. An event that was not scored has
// the stream's reject reason (package reject) and stage; a request that
// failed as a whole has one of the reasons below and stage "request".
type Reason string

// The request-level reasons.
const (
	ReasonBadRequest       Reason = "bad_request"              // the request is not what the route takes
	ReasonNotFound         Reason = "not_found"                // no such route, model or version
	ReasonMethodNotAllowed Reason = "method_not_allowed"       // wrong method; Allow says the right one
	ReasonUnsupportedMedia Reason = "unsupported_media_type"   // a content type other than application/json
	ReasonTooLarge         Reason = Reason(reject.TooLarge)    // the body is past http.max_body_bytes
	ReasonTimeout          Reason = "timeout"                  // the body did not arrive within http.request_timeout
	ReasonOverloaded       Reason = "overloaded"               // http.max_concurrent requests in flight; Retry-After
	ReasonUnavailable      Reason = "unavailable"              // no model, draining, or the prediction log unreachable
	ReasonInternal         Reason = Reason(reject.Internal)    // a bug in the door
	ReasonMalformed        Reason = Reason(reject.Malformed)   // an array body that is not JSON (stage decode)
	StageRequest                  = "request"                  // the stage of request-level errors
	contentJSON                   = "application/json"         // every answer's content type but binary OIP ones
	contentOctets                 = "application/octet-stream" // binary OIP answers
	headerInferLength             = "Inference-Header-Content-Length"
)

// RequestReasons lists the request-level reasons with their status codes,
// in a stable order, for docs/http.md (a test keeps the table in step).
func RequestReasons() []struct {
	Reason Reason
	Status int
} {
	return []struct {
		Reason Reason
		Status int
	}{
		{ReasonBadRequest, http.StatusBadRequest},
		{ReasonMalformed, http.StatusBadRequest},
		{ReasonNotFound, http.StatusNotFound},
		{ReasonMethodNotAllowed, http.StatusMethodNotAllowed},
		{ReasonTimeout, http.StatusRequestTimeout},
		{ReasonTooLarge, http.StatusRequestEntityTooLarge},
		{ReasonUnsupportedMedia, http.StatusUnsupportedMediaType},
		{ReasonOverloaded, http.StatusTooManyRequests},
		{ReasonInternal, http.StatusInternalServerError},
		{ReasonUnavailable, http.StatusServiceUnavailable},
	}
}

// appendErrorObject writes {"error":{"reason":..,"stage":..,"field":..,"message":..}};
// field is null when the fault is not in one field.
func appendErrorObject(b []byte, reason, stage, field, msg string) []byte {
	b = append(b, `{"error":{"reason":`...)
	b = schemas.AppendJSONString(b, reason)
	b = append(b, `,"stage":`...)
	b = schemas.AppendJSONString(b, stage)
	b = append(b, `,"field":`...)
	if field == "" {
		b = append(b, "null"...)
	} else {
		b = schemas.AppendJSONString(b, field)
	}
	b = append(b, `,"message":`...)
	b = schemas.AppendJSONString(b, msg)
	return append(b, "}}"...)
}

// appendRejectObject is the error object of a rejected event.
func appendRejectObject(b []byte, r *predict.Result) []byte {
	return appendErrorObject(b, string(r.Reject), string(r.Stage), r.Field, r.Err)
}

// rejectStatus is the status of a single rejected event: 400 when the
// event is at fault, 500 when the service is (a panic, an unencodable
// prediction).
func rejectStatus(r reject.Reason) int {
	if r == reject.Internal || r == reject.EncodeFailed {
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// writeError answers a request-level error with the error object.
func writeError(w http.ResponseWriter, code int, reason Reason, msg string) {
	writeJSON(w, code, append(appendErrorObject(nil, string(reason), StageRequest, "", msg), '\n'))
}

// writeOIPError answers with the Open Inference Protocol's error shape,
// {"error": "message"}.
func writeOIPError(w http.ResponseWriter, code int, msg string) {
	b := append([]byte(`{"error":`), schemas.AppendJSONString(nil, msg)...)
	writeJSON(w, code, append(b, "}\n"...))
}

func writeJSON(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentJSON)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
