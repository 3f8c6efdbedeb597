package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/processor"
)

// doorHTTP is the streamscore-door header of the records the door logs.
var doorHTTP = []byte(predict.DoorHTTP)

// traceHeaders are the HTTP request headers copied onto logged records, as
// the stream copies them from input records, so a trace continues downstream.
var traceHeaders = []string{"traceparent", "tracestate", "b3", "uber-trace-id"}

// ClientOpts are the producer options of the prediction log's Kafka client,
// on top of processor.ClientOpts: a record that cannot be delivered within
// the request timeout fails, so a broker outage answers 503 within that
// bound instead of holding requests.
func ClientOpts(cfg Config) []kgo.Opt {
	return []kgo.Opt{
		kgo.RecordDeliveryTimeout(cfg.RequestTimeout),
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(64 * cfg.MaxConcurrent),
	}
}

// logPredictions produces one request's records when http.log_to_topic is
// on: each prediction to the output topic (key: the event's input.key_field,
// value: the prediction record, headers streamscore-model and
// streamscore-door: http), each rejected event to the DLQ topic (value: the
// event's bytes, the stream's DLQ headers, streamscore-door: http). With
// log_ack it returns once the broker acknowledged every record, or the
// first error, in which case the request answers 503 (the caller did not get
// a prediction that is missing from the log); without it, once buffered.
func (s *Server) logPredictions(r *http.Request, md *model, events []predict.Event, results []predict.Result) error {
	l := s.opt.Log
	if l == nil {
		return nil
	}
	modelRef := []byte(md.path.ModelRef())
	var trace []kgo.RecordHeader
	for _, name := range traceHeaders {
		if v := r.Header.Get(name); v != "" {
			trace = append(trace, kgo.RecordHeader{Key: name, Value: []byte(v)})
		}
	}
	now := time.Now()
	slab := make([]kgo.Record, len(results))
	recs := make([]*kgo.Record, 0, len(results))
	for i := range results {
		res, ev, rec := &results[i], &events[i], &slab[i]
		switch {
		case res.Reject == "" && res.Value == nil:
			continue // blanked: not to be logged
		case res.Reject == "":
			h := make([]kgo.RecordHeader, 0, 2+len(trace))
			h = append(h, kgo.RecordHeader{Key: processor.HeaderModel, Value: modelRef},
				kgo.RecordHeader{Key: HeaderDoor, Value: doorHTTP})
			*rec = kgo.Record{Topic: l.OutputTopic, Key: res.Key, Value: res.Value, Timestamp: ev.Time,
				Headers: append(h, trace...)}
		default:
			if l.DLQTopic == "" {
				continue
			}
			h := make([]kgo.RecordHeader, 0, 6+len(trace))
			h = append(h,
				kgo.RecordHeader{Key: processor.HeaderDLQReason, Value: []byte(res.Reject)},
				kgo.RecordHeader{Key: processor.HeaderDLQStage, Value: []byte(res.Stage)},
				kgo.RecordHeader{Key: processor.HeaderDLQError, Value: []byte(res.Err)},
				kgo.RecordHeader{Key: processor.HeaderDLQModel, Value: modelRef},
				kgo.RecordHeader{Key: processor.HeaderDLQTime, Value: now.UTC().AppendFormat(nil, time.RFC3339Nano)},
				kgo.RecordHeader{Key: HeaderDoor, Value: doorHTTP})
			// The event's bytes live in the request's pooled buffer: copy.
			*rec = kgo.Record{Topic: l.DLQTopic, Key: res.Key, Value: bytes.Clone(ev.Value), Timestamp: ev.Time,
				Headers: append(h, trace...)}
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return nil
	}
	if !s.cfg.LogAck {
		for _, rec := range recs {
			l.Client.TryProduce(context.Background(), rec, s.logged)
		}
		return nil
	}
	var first error
	for _, pr := range l.Client.ProduceSync(r.Context(), recs...) {
		s.logged(pr.Record, pr.Err)
		if pr.Err != nil && first == nil {
			first = fmt.Errorf("prediction log: producing to %s: %w", pr.Record.Topic, pr.Err)
		}
	}
	return first
}

// logUnavailable answers a request whose records the log did not take
// (logPredictions' error): 503 with Retry-After, so the client retries.
func (s *Server) logUnavailable(w http.ResponseWriter, oip bool, err error) {
	w.Header().Set("Retry-After", retryAfterOverload)
	s.fail(w, oip, http.StatusServiceUnavailable, ReasonUnavailable, err.Error())
}

// logged counts one log record's outcome; in fire-and-forget mode it is
// the only place a failure shows.
func (s *Server) logged(rec *kgo.Record, err error) {
	kind := "output"
	if s.opt.Log != nil && rec.Topic == s.opt.Log.DLQTopic && rec.Topic != s.opt.Log.OutputTopic {
		kind = "dlq"
	}
	if err != nil {
		s.m.logged.WithLabelValues(kind, "error").Inc()
		if !s.cfg.LogAck {
			s.log.Warn("prediction log record lost (http.log_ack is off)", "topic", rec.Topic, "err", err)
		}
		return
	}
	s.m.logged.WithLabelValues(kind, "ok").Inc()
}
