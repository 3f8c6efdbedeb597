package e2e

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// TestSklearnTreesServed: one bundle per scikit-learn tree kind, served end
// to end by `streamscore run` against the broker. Every reference event of
// the bundle goes through the stream; each prediction must be
// byte-identical to `streamscore score`'s for the same event (scored_time
// and event_time aside: these events carry no time, so the stream's is the
// record's timestamp) and carry scikit-learn's own probabilities (reference.jsonl, to
// 1e-6 as the parity test); each rejected event must reach the DLQ with the
// reference's reason.
func TestSklearnTreesServed(t *testing.T) {
	for _, tc := range []struct{ kind, bundle string }{
		{"sklearn_forest", filepath.Join("examples", "fraud-rf")},
		{"sklearn_gradient_boosting", filepath.Join("scoring", "testdata", "bundles", "gen-sk-gb-binary")},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			dir := filepath.Join(repoRoot, tc.bundle)
			b, err := scoring.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.Manifest.Model.Kind; got != tc.kind {
				t.Fatalf("%s is a %q bundle, want %q", tc.bundle, got, tc.kind)
			}
			refs, err := scoring.ReadReference(dir)
			if err != nil {
				t.Fatal(err)
			}
			serveAndCompare(t, dir, refs)
		})
	}
}

func serveAndCompare(t *testing.T, dir string, refs []scoring.ReferenceRow) {
	events := make([][]byte, len(refs))
	wantRejects := 0
	for i, r := range refs {
		events[i] = r.Event
		if r.Reject != "" {
			wantRejects++
		}
	}
	file := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(file, bytes.Join(events, []byte("\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, 2*time.Minute, nil, "score", dir, "--in", file)
	if code != 0 {
		t.Fatalf("score exited %d: %s", code, stderr)
	}
	fromFile := splitLines(stdout)
	if len(fromFile) != len(events) {
		t.Fatalf("score wrote %d lines for %d events", len(fromFile), len(events))
	}

	brokers := kafkatest.Brokers(t)
	in, out, dlq := kafkatest.Topic(t, brokers, 1), kafkatest.Topic(t, brokers, 1), kafkatest.Topic(t, brokers, 1)
	recs := make([]*kgo.Record, len(events))
	for i, v := range events {
		recs[i] = &kgo.Record{Topic: in, Value: v}
	}
	kafkatest.ProduceRecords(t, brokers, recs)
	startService(t, "streamscore run", serviceConfig{Brokers: brokers[0], Input: in, Output: out, DLQ: dlq,
		Group: kafkatest.UniqueName(t, "g"), HTTP: freeAddr(t), Extra: map[string]any{"model.bundle": dir}})
	preds := kafkatest.ConsumeN(t, brokers, out, len(events)-wantRejects)
	dead := kafkatest.ConsumeN(t, brokers, dlq, wantRejects)
	if len(preds) != len(events)-wantRejects || len(dead) != wantRejects {
		t.Fatalf("stream: %d predictions and %d DLQ records, want %d and %d", len(preds), len(dead), len(events)-wantRejects, wantRejects)
	}
	dlqAt := map[int64]string{} // source offset -> reason
	for _, r := range dead {
		off, _ := strconv.ParseInt(header(r, processor.HeaderDLQOffset), 10, 64)
		dlqAt[off] = header(r, processor.HeaderDLQReason)
	}
	next, bad, worst := 0, 0, 0.0
	fail := func(format string, args ...any) {
		bad++
		t.Errorf(format, args...)
		if bad > 10 {
			t.Fatal("too many mismatches")
		}
	}
	for i, r := range refs {
		if r.Reject != "" {
			if got := dlqAt[int64(i)]; got != r.Reject {
				fail("reference line %d (%s): the stream dead-letters %q, want %q", r.Line, r.Note, got, r.Reject)
			}
			continue
		}
		if reason, dead := dlqAt[int64(i)]; dead {
			fail("reference line %d (%s): the stream dead-letters it (%s), want scores %v", r.Line, r.Note, reason, r.Scores)
			continue
		}
		got, want := clockless(preds[next].Value), clockless(fromFile[i])
		next++
		if !bytes.Equal(got, want) {
			fail("reference line %d:\n stream %s\n  score %s", r.Line, got, want)
			continue
		}
		var rec schemas.PredictionRecord
		if err := json.Unmarshal(got, &rec); err != nil {
			t.Fatalf("reference line %d: prediction %s: %v", r.Line, got, err)
		}
		scores := []float64{rec.Score}
		if len(rec.Probabilities) > 0 {
			scores = scores[:0]
			for _, p := range rec.Probabilities {
				scores = append(scores, p.Probability)
			}
		}
		if len(scores) != len(r.Scores) {
			fail("reference line %d: %d scores, want %d", r.Line, len(scores), len(r.Scores))
			continue
		}
		for k := range scores {
			d := math.Abs(scores[k] - r.Scores[k])
			worst = math.Max(worst, d)
			if !(d <= 1e-6) {
				fail("reference line %d (%s): score %d is %v, scikit-learn's %v", r.Line, r.Note, k, scores[k], r.Scores[k])
			}
		}
	}
	t.Logf("%d events: %d predictions, identical from the stream and from score, worst |difference| from scikit-learn %.3g; %d DLQ records with the reference reasons",
		len(events), next, worst, wantRejects)
}

// eventTime is the prediction record's event time.
var eventTime = regexp.MustCompile(`"event_time":(\d+|null),`)

// clockless is a prediction record without its clock fields.
func clockless(v []byte) []byte { return eventTime.ReplaceAll(scoredTime.ReplaceAll(v, nil), nil) }
