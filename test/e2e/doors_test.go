package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/scoring"
)

// TestStreamAndScoreAgree is the "one code path" check from outside: the
// same events file, the fraud reference events plus edge cases whose
// answers once differed between the doors, goes to the stream (`streamscore
// run` against the broker) and to `streamscore score`. Every event must get
// a byte-identical prediction record from both (scored_time, the clock,
// aside) or the same reject reason.
func TestStreamAndScoreAgree(t *testing.T) {
	events := doorEvents(t)
	// the settings both doors share: the key and the event time come from
	// the event, so a file can say them too
	shared := map[string]any{"input.key_field": "card_id", "input.event_time_field": "timestamp",
		"input.event_id_field": "transaction_id"}
	fromFile := scoreFile(t, filepath.Join(repoRoot, "examples", "fraud"), events,
		"--input.key_field", "card_id", "--input.event_time_field", "timestamp")

	keys := make([][]byte, len(events))
	for i, v := range events {
		var ev struct {
			CardID *string `json:"card_id"`
		}
		_ = json.Unmarshal(v, &ev) // malformed events have no key
		if ev.CardID != nil {
			keys[i] = []byte(*ev.CardID)
		}
	}
	rejects := 0
	for _, l := range fromFile {
		if bytes.HasPrefix(l, []byte(`{"row":`)) {
			rejects++
		}
	}
	preds, dlqAt := streamEvents(t, "streamscore run", events, keys, shared, rejects)
	next, mismatches := 0, 0
	for i, line := range fromFile {
		var rej struct {
			Row    int    `json:"row"`
			Reject string `json:"reject"`
		}
		if bytes.HasPrefix(line, []byte(`{"row":`)) {
			if err := json.Unmarshal(line, &rej); err != nil {
				t.Fatalf("score line %d: %v", i+1, err)
			}
			if got := dlqAt[int64(i)]; got != rej.Reject {
				mismatches++
				t.Errorf("event %d (%s): score rejects %q, the stream %q", i+1, events[i], rej.Reject, got)
			}
			continue
		}
		if _, dead := dlqAt[int64(i)]; dead {
			mismatches++
			t.Errorf("event %d (%s): score predicts, the stream dead-letters it (%s)", i+1, events[i], dlqAt[int64(i)])
			continue
		}
		got, want := scoredTime.ReplaceAll(preds[next].Value, nil), scoredTime.ReplaceAll(line, nil)
		next++
		if !bytes.Equal(got, want) {
			mismatches++
			t.Errorf("event %d (%s):\n stream %s\n  score %s", i+1, events[i], got, want)
		}
		if mismatches > 10 {
			t.Fatal("too many mismatches")
		}
	}
	t.Logf("%d events: %d predictions and %d rejects, identical from the stream and from score", len(events), next, rejects)
}

// scoredTime is the one field of a prediction record that is the clock.
var scoredTime = regexp.MustCompile(`"scored_time":\d+,`)

// doorEvents are the fraud reference events as raw bytes, and the edge
// cases that once got different answers from the stream and `score`.
func doorEvents(t *testing.T) [][]byte {
	t.Helper()
	refs, err := scoring.ReadReference(filepath.Join(repoRoot, "examples", "fraud"))
	if err != nil {
		t.Fatal(err)
	}
	var events [][]byte
	for _, r := range refs {
		events = append(events, r.Event)
	}
	base := `"transaction_id":"edge","card_id":"card-edge","amount":12.5,"avg_amount_30d":20,"country":"US","card_present":true,"distance_from_home_km":3,"txn_count_24h":1`
	for _, e := range []string{
		`{` + base + `,"merchant_category":5411,"timestamp":"2026-02-07T19:26:47Z"}`,       // an integer category
		`{` + base + `,"merchant_category":"grocery","timestamp":"1704164645000"}`,         // epoch ms as a string: wrong_type
		`{` + base + `,"merchant_category":"grocery","timestamp":1704164645000}`,           // epoch ms as a number
		`{"amount":"12","timestamp":"2026-02-07T19:26:47Z"}`,                               // a string for a number
		`{"amount":1e999,"timestamp":"2026-02-07T19:26:47Z"}`,                              // out of float64 range
		`{"event":{` + base + `,"merchant_category":"grocery","timestamp":1704164645000}}`, // nested one level too deep
		`{` + base + `,"merchant_category":"grocery","timestamp":"2026-02-07T19:26:47Z","extra":{"a":[1,2]}}`,
		`not json`,
		`{"amount":5,"timestamp":"2026-02-07T19:26:47Z"}`, // only the required inputs, no key
	} {
		events = append(events, []byte(e))
	}
	return events
}

// scoreFile writes events to a file and scores it with `streamscore score
// bundle --in FILE args...`; it returns score's output lines, one per event.
func scoreFile(t *testing.T, bundle string, events [][]byte, args ...string) [][]byte {
	t.Helper()
	file := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(file, bytes.Join(events, []byte("\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, 2*time.Minute, nil, append([]string{"score", bundle, "--in", file}, args...)...)
	if code != 0 {
		t.Fatalf("score exited %d: %s", code, stderr)
	}
	lines := splitLines(stdout)
	if len(lines) != len(events) {
		t.Fatalf("score wrote %d lines for %d events", len(lines), len(events))
	}
	return lines
}

// streamEvents sends events (with keys[i] as the key, nil for none) through
// `streamscore run` with one input and one output partition, so predictions
// come out in input order, and extra config keys. It returns the
// predictions, and the DLQ reasons by source offset; rejects is how many
// events the DLQ must get.
func streamEvents(t *testing.T, name string, events, keys [][]byte, extra map[string]any, rejects int) (preds []*kgo.Record, dlqAt map[int64]string) {
	t.Helper()
	brokers := kafkatest.Brokers(t)
	in, out, dlq := kafkatest.Topic(t, brokers, 1), kafkatest.Topic(t, brokers, 1), kafkatest.Topic(t, brokers, 1)
	recs := make([]*kgo.Record, len(events))
	for i, v := range events {
		recs[i] = &kgo.Record{Topic: in, Key: keys[i], Value: v}
	}
	kafkatest.ProduceRecords(t, brokers, recs)
	cfg := serviceConfig{Brokers: brokers[0], Input: in, Output: out, DLQ: dlq, Group: kafkatest.UniqueName(t, "g"),
		HTTP: freeAddr(t), Extra: extra}
	startService(t, name, cfg)

	preds = kafkatest.ConsumeN(t, brokers, out, len(events)-rejects)
	dead := kafkatest.ConsumeN(t, brokers, dlq, rejects)
	if len(preds) != len(events)-rejects || len(dead) != rejects {
		t.Fatalf("stream: %d predictions and %d DLQ records, want %d and %d", len(preds), len(dead), len(events)-rejects, rejects)
	}
	dlqAt = map[int64]string{}
	for _, r := range dead {
		off, _ := strconv.ParseInt(kafkatest.Header(r, processor.HeaderDLQOffset), 10, 64)
		dlqAt[off] = kafkatest.Header(r, processor.HeaderDLQReason)
	}
	return preds, dlqAt
}

func splitLines(s string) [][]byte {
	return bytes.Split(bytes.TrimSuffix([]byte(s), []byte("\n")), []byte("\n"))
}
