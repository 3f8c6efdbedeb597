// Package httpapi is the HTTP door: synchronous predictions over the same
// code path as the stream and `streamscore score` (package predict), so the
// same event gives the same prediction record, byte for byte, through every
// door (scored_time aside; the key is input.key_field's value and the event
// time the request's arrival).
//
// Routes (docs/http.md has the shapes and status codes):
//   - POST /v1/predict: one JSON event or an array of events;
//   - the Open Inference Protocol v2 REST API (KServe, Triton, Seldon
//     clients): /v2/health/live, /v2/health/ready, /v2, /v2/models/{name}
//     [/versions/{version}] metadata, /ready and /infer, with the binary
//     tensor data extension;
//   - GET /openapi.json: the OpenAPI 3.1 document generated for the bundle.
//
// Lifecycle: New builds a Server for a predict.Path (whose encoder must be
// the JSON one: the HTTP answer is the prediction record); Handler is its
// http.Handler, to serve alone (Serve) or mounted as the catch-all of the
// mux of http.listen. SetPath swaps the model between requests; Drain stops taking
// prediction requests (503) and waits for those in flight. A Server is safe
// for concurrent use: each request takes a predict.Batch from a pool.
//
// With Config.LogToTopic every prediction is also produced to the output
// topic (rejected events to the DLQ topic) with the header streamscore-door:
// http; with Config.LogAck the answer waits for the broker's acknowledgement
// and a broker outage answers 503.
//
// Metrics (route is a route pattern of this package, never a raw path):
//   - streamscore_http_requests_total{route,code}
//   - streamscore_http_request_duration_seconds{route}
//   - streamscore_http_inflight_requests
//   - streamscore_http_events_total{outcome}: scored, rejected
//   - streamscore_http_log_records_total{topic,result}: output|dlq, ok|error
//
// and, with door="http", the data-quality and drift metrics of
// predict.Quality and the prediction metrics of predict.Predictions
// (streamscore_prediction_score{door,model,version},
// streamscore_predictions_by_label_total{door,model,version,label}): every
// prediction answered counts under the live version that scored it (the
// door has no canary or shadow); SetPath is the door's swap for their
// bounded series. In `run` with http.predict the stream counts into the
// same families under door="stream".
package httpapi
