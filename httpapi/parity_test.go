package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/batch"
	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/schemas"
)

var (
	scoredTimeRE = regexp.MustCompile(`"scored_time":\d+`)
	eventTimeRE  = regexp.MustCompile(`"event_time":(\d+|null)`)
	keyRE        = regexp.MustCompile(`^\{"key":(null|"[^"]*")`)
)

// normalize blanks what differs by door and moment: scored_time always,
// event_time (the request's arrival over HTTP, the record timestamp in the
// stream, none for a file), and the key when withKey is false (a file has
// none).
func normalize(rec []byte, withKey bool) string {
	s := scoredTimeRE.ReplaceAllString(string(rec), `"scored_time":0`)
	s = eventTimeRE.ReplaceAllString(s, `"event_time":0`)
	if !withKey {
		s = keyRE.ReplaceAllString(s, `{"key":null`)
	}
	return s
}

// TestParityHTTPStreamFile: the fraud reference events (scored ones and
// poison ones) through POST /v1/predict (one array, and one request per
// event), through the stream (a real processor on Kafka) and through
// `streamscore score` (batch.Run) give byte-identical prediction records,
// scored_time and event_time aside (the clock, and the request's arrival
// over HTTP), and the same reject reasons. Every door reads the key from
// input.key_field where it has no record key.
func TestParityHTTPStreamFile(t *testing.T) {
	b := loadBundle(t, "fraud")
	refs := readReference(t, "fraud")
	events := make([][]byte, len(refs))
	keys := make([][]byte, len(refs))
	for i, r := range refs {
		events[i] = r.Event
		var ev struct {
			CardID *string `json:"card_id"`
		}
		if json.Unmarshal(r.Event, &ev) == nil && ev.CardID != nil {
			keys[i] = []byte(*ev.CardID) // the stream's record key; the other doors read input.key_field
		}
	}
	in := streamInput
	in.KeyField = "card_id"

	// HTTP: one array request, and single requests for a sample.
	d := newTestDoorIn(t, Defaults(), in, Options{})
	body := append(append([]byte("["), bytes.Join(events, []byte(","))...), ']')
	code, _, resp := do(t, "POST", d.url+"/v1/predict", "application/json", body)
	var httpOut []json.RawMessage
	if err := json.Unmarshal(resp, &httpOut); code != 200 || err != nil || len(httpOut) != len(events) {
		t.Fatalf("/v1/predict: %d, %d elements (%v), want %d", code, len(httpOut), err, len(events))
	}
	for i := 0; i < len(events); i += 37 {
		code, _, one := do(t, "POST", d.url+"/v1/predict", "application/json", events[i])
		if want := normalize(httpOut[i], true); normalize(bytes.TrimSpace(one), true) != want {
			t.Errorf("event %d alone (%d): %s\nin the array: %s", i, code, one, want)
		}
	}

	// The file door.
	enc, err := schemas.NewEncoder(context.Background(), schemas.OutputConfig{Format: schemas.FormatJSON}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var fileOut bytes.Buffer
	if _, err := batch.Run(context.Background(), b, in, enc, false, bytes.NewReader(bytes.Join(events, []byte("\n"))),
		&fileOut, nil, batch.Options{}); err != nil {
		t.Fatalf("batch.Run: %v", err)
	}
	fileLines := strings.Split(strings.TrimSpace(fileOut.String()), "\n")
	if len(fileLines) != len(events) {
		t.Fatalf("batch.Run wrote %d lines for %d events", len(fileLines), len(events))
	}

	// The stream: one partition everywhere, so the outputs come in input order.
	streamOut, streamDLQ := runStream(t, in, events, keys)

	scored, rejected, so, sd := 0, 0, 0, 0
	fails := 0
	fail := func(format string, args ...any) {
		if fails++; fails <= 10 {
			t.Errorf(format, args...)
		}
	}
	for i := range events {
		h := httpOut[i]
		var e errorObject
		if json.Unmarshal(h, &e) == nil && e.Error.Reason != "" {
			rejected++
			var fr struct{ Reject string }
			if err := json.Unmarshal([]byte(fileLines[i]), &fr); err != nil || fr.Reject != e.Error.Reason {
				fail("event %d: HTTP rejects it as %s, the file door says %s", i, e.Error.Reason, fileLines[i])
			}
			if sd >= len(streamDLQ) {
				fail("event %d: rejected over HTTP (%s), no DLQ record left", i, e.Error.Reason)
				continue
			}
			dr := streamDLQ[sd]
			sd++
			if got := kafkatest.Header(dr, processor.HeaderDLQReason); got != e.Error.Reason || kafkatest.Header(dr, processor.HeaderDLQStage) != e.Error.Stage ||
				!bytes.Equal(dr.Value, events[i]) {
				fail("event %d: HTTP %s/%s, stream DLQ %s/%s for %s", i, e.Error.Reason, e.Error.Stage, got, kafkatest.Header(dr, processor.HeaderDLQStage), dr.Value)
			}
			continue
		}
		scored++
		want := normalize(h, true)
		if got := normalize([]byte(fileLines[i]), true); got != want {
			fail("event %d:\n HTTP %s\n file %s", i, want, got)
		}
		if so >= len(streamOut) {
			fail("event %d: scored over HTTP, no stream prediction left", i)
			continue
		}
		sr := streamOut[so]
		so++
		if got := normalize(sr.Value, true); got != want {
			fail("event %d:\n HTTP   %s\n stream %s", i, want, got)
		}
	}
	if so != len(streamOut) || sd != len(streamDLQ) {
		t.Errorf("stream: %d predictions and %d DLQ records, HTTP scored %d and rejected %d", len(streamOut), len(streamDLQ), scored, rejected)
	}
	if scored < 1000 || rejected < 5 {
		t.Fatalf("%d scored, %d rejected: want the bulk of the reference scored and its poison rows rejected", scored, rejected)
	}
	t.Logf("%d events: %d scored, %d rejected; HTTP, stream and file agree", len(events), scored, rejected)
}

// runStream runs events (with keys) through a real processor and returns
// its prediction and DLQ records in order.
func runStream(t *testing.T, input schemas.InputConfig, events, keys [][]byte) (out, dlq []*kgo.Record) {
	t.Helper()
	brokers := kafkatest.Brokers(t)
	in, outTopic, dlqTopic := kafkatest.Topic(t, brokers, 1), kafkatest.Topic(t, brokers, 1), kafkatest.Topic(t, brokers, 1)
	ts := time.UnixMilli(1_790_000_000_000)
	recs := make([]*kgo.Record, len(events))
	for i := range events {
		recs[i] = &kgo.Record{Topic: in, Key: keys[i], Value: events[i], Timestamp: ts}
	}
	kafkatest.ProduceRecords(t, brokers, recs)

	cfg := processor.Config{
		InputTopic: in, OutputTopic: outTopic, DLQTopic: dlqTopic, Group: kafkatest.UniqueName(t, "g"), Delivery: processor.AtLeastOnce,
		SessionTimeout: 10 * time.Second, CommitInterval: 200 * time.Millisecond, ShutdownTimeout: 20 * time.Second,
		TransactionTimeout: 10 * time.Second, BatchMaxRecords: 200, MaxInflightRecords: 5000,
		MemoryBudget: 64 << 20, MaxRecordBytes: 4 << 20, Compression: "lz4", Linger: time.Millisecond,
		TopicPartitions: 1, LagRefresh: 500 * time.Millisecond,
	}
	pipe := &processor.Pipeline{Path: jsonPath(t, loadBundle(t, "fraud"), input, false)}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := processor.New(ctx, cfg, processor.KafkaConfig{Brokers: strings.Join(brokers, ","), ClientID: "parity"},
		pipe, processor.NewMetrics(prometheus.NewRegistry()), testLogger())
	if err != nil {
		cancel()
		t.Fatalf("processor.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && ctx.Err() == nil {
			t.Errorf("processor: %v", err)
		}
	}()
	// Every event gives one record in one of the two topics.
	var total int
	eventually(t, fmt.Sprintf("%d stream outputs", len(events)), func() bool {
		total = 0
		for _, tp := range []string{outTopic, dlqTopic} {
			for _, n := range kafkatest.EndOffsets(t, brokers, tp, false) {
				total += int(n)
			}
		}
		return total >= len(events)
	})
	return kafkatest.ConsumeAll(t, brokers, outTopic), kafkatest.ConsumeAll(t, brokers, dlqTopic)
}
