package httpapi

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/processor"
)

func logClient(t *testing.T, brokers []string, cfg Config) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, ClientOpts(cfg)...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestLogToTopic: with http.log_to_topic every HTTP prediction reaches the
// output topic (key from input.key_field, value the answered record,
// streamscore-model and streamscore-door headers, the trace header of the
// request) and every rejected event the DLQ topic (its bytes, the stream's
// DLQ headers) before the answer; against the real broker when
// STREAMSCORE_TEST_BROKERS is set.
func TestLogToTopic(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	out, dlq := kafkatest.Topic(t, brokers, 3), kafkatest.Topic(t, brokers, 1)
	cfg := Defaults()
	cfg.LogToTopic = true
	in := streamInput
	in.KeyField = "card_id"
	d := newTestDoorIn(t, cfg, in, Options{Log: &Log{Client: logClient(t, brokers, cfg), OutputTopic: out, DLQTopic: dlq}})

	rejected := `{"card_id":"c-7","amount":"lots","timestamp":1}`
	trace := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	code, _, body := do(t, "POST", d.url+"/v1/predict", "application/json", []byte("["+goodEvent+","+rejected+"]"), "traceparent", trace)
	var elems []json.RawMessage
	if err := json.Unmarshal(body, &elems); code != 200 || err != nil || len(elems) != 2 {
		t.Fatalf("predict: %d %s", code, body)
	}
	// The answer came after the acknowledgement: the records are there.
	if n := testutil.ToFloat64(d.m.logged.WithLabelValues("output", "ok")); n != 1 {
		t.Errorf("log_records_total{output,ok} = %v at the answer, want 1", n)
	}
	if n := testutil.ToFloat64(d.m.logged.WithLabelValues("dlq", "ok")); n != 1 {
		t.Errorf("log_records_total{dlq,ok} = %v at the answer, want 1", n)
	}
	recs := kafkatest.ConsumeN(t, brokers, out, 1)
	r := recs[0]
	for _, c := range []struct{ what, got, want string }{
		{"key", string(r.Key), "c-9"},
		{"value", string(r.Value), string(elems[0])},
		{processor.HeaderModel, kafkatest.Header(r, processor.HeaderModel), "fraud@1.0.0"},
		{HeaderDoor, kafkatest.Header(r, HeaderDoor), "http"},
		{"traceparent", kafkatest.Header(r, "traceparent"), trace},
	} {
		if c.got != c.want {
			t.Errorf("prediction record %s: %q, want %q", c.what, c.got, c.want)
		}
	}
	var p prediction
	if err := json.Unmarshal(r.Value, &p); err != nil || p.EventTime == nil || *p.EventTime != r.Timestamp.UnixMilli() {
		t.Errorf("record timestamp %d, event_time %v: want equal (the request's arrival)", r.Timestamp.UnixMilli(), p.EventTime)
	}
	dr := kafkatest.ConsumeN(t, brokers, dlq, 1)[0]
	for _, c := range []struct{ what, got, want string }{
		{"key", string(dr.Key), "c-7"},
		{"value", string(dr.Value), rejected},
		{processor.HeaderDLQReason, kafkatest.Header(dr, processor.HeaderDLQReason), "wrong_type"},
		{processor.HeaderDLQStage, kafkatest.Header(dr, processor.HeaderDLQStage), "decode"},
		{processor.HeaderDLQModel, kafkatest.Header(dr, processor.HeaderDLQModel), "fraud@1.0.0"},
		{HeaderDoor, kafkatest.Header(dr, HeaderDoor), "http"},
	} {
		if c.got != c.want {
			t.Errorf("DLQ record %s: %q, want %q", c.what, c.got, c.want)
		}
	}
	if !strings.Contains(kafkatest.Header(dr, processor.HeaderDLQError), "field amount") {
		t.Errorf("DLQ error header %q", kafkatest.Header(dr, processor.HeaderDLQError))
	}

	// OIP predictions are logged too.
	code, _, body = do(t, "POST", d.url+"/v2/models/fraud/infer", "application/json",
		[]byte(`{"inputs":[{"name":"amount","datatype":"FP64","shape":[1],"data":[3]},{"name":"timestamp","datatype":"INT64","shape":[1],"data":[1]}]}`))
	if code != 200 {
		t.Fatalf("infer: %d %s", code, body)
	}
	if got := kafkatest.ConsumeN(t, brokers, out, 2); kafkatest.Header(got[1], HeaderDoor) != "http" && kafkatest.Header(got[0], HeaderDoor) != "http" {
		t.Errorf("infer prediction not logged with the door header")
	}
}

// closedAddr is a 127.0.0.1 port nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestLogToTopicBrokerDown: with the broker unreachable an HTTP prediction
// answers 503 within the request timeout rather than answer a prediction
// the log lacks; with log_ack off it answers and counts the lost record.
func TestLogToTopicBrokerDown(t *testing.T) {
	down := []string{closedAddr(t)}
	cfg := Defaults()
	cfg.LogToTopic, cfg.RequestTimeout = true, time.Second
	d := newTestDoor(t, cfg, Options{Log: &Log{Client: logClient(t, down, cfg), OutputTopic: "predictions", DLQTopic: "dlq"}})
	code, hdr, body := do(t, "POST", d.url+"/v1/predict", "application/json", []byte(goodEvent))
	if code != 503 || checkShape(body, "error:unavailable:request:") != nil || !bytes.Contains(body, []byte("prediction log")) || hdr.Get("Retry-After") == "" {
		t.Errorf("broker down: %d %s, want 503 naming the prediction log, with Retry-After", code, body)
	}
	code, _, body = do(t, "POST", d.url+"/v2/models/fraud/infer", "application/json",
		[]byte(`{"inputs":[{"name":"amount","datatype":"FP64","shape":[1],"data":[3]},{"name":"timestamp","datatype":"INT64","shape":[1],"data":[1]}]}`))
	if code != 503 || !bytes.Contains(body, []byte("prediction log")) {
		t.Errorf("infer, broker down: %d %s, want 503", code, body)
	}
	// A rejected row is logged to the DLQ first: the same 503, with Retry-After.
	code, hdr, body = do(t, "POST", d.url+"/v2/models/fraud/infer", "application/json",
		[]byte(`{"inputs":[{"name":"amount","datatype":"BYTES","shape":[1],"data":["x"]},{"name":"timestamp","datatype":"INT64","shape":[1],"data":[1]}]}`))
	if code != 503 || !bytes.Contains(body, []byte("prediction log")) || hdr.Get("Retry-After") == "" {
		t.Errorf("infer with a rejected row, broker down: %d %s (Retry-After %q), want 503 with Retry-After", code, body, hdr.Get("Retry-After"))
	}

	cfg.LogAck = false
	ff := newTestDoor(t, cfg, Options{Log: &Log{Client: logClient(t, down, cfg), OutputTopic: "predictions", DLQTopic: "dlq"}})
	code, _, body = do(t, "POST", ff.url+"/v1/predict", "application/json", []byte(goodEvent))
	if code != 200 || checkShape(body, "prediction") != nil {
		t.Errorf("fire and forget, broker down: %d %s, want the prediction", code, body)
	}
	eventually(t, "the lost record counted", func() bool {
		return testutil.ToFloat64(ff.m.logged.WithLabelValues("output", "error")) == 1
	})
}
