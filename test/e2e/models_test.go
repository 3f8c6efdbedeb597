package e2e

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// eventTime: events without a time field get the record's timestamp on the
// stream and none from a file.
var eventTime = regexp.MustCompile(`"event_time":(\d+|null),`)

// clockFree is a prediction record without the fields that are clocks.
func clockFree(rec []byte) []byte { return eventTime.ReplaceAll(scoredTime.ReplaceAll(rec, nil), nil) }

// TestStreamServesEveryKind serves a bundle of each model kind but XGBoost
// (TestStreamAndScoreAgree serves that one) through the stream (`streamscore
// run` against the broker): every reference event gets the prediction record
// `streamscore score` writes for it, byte for byte (scored_time and
// event_time aside), or the same DLQ reason, and the stream's scores equal
// the training library's within the documented parity tolerance (1e-6, or
// the model's own: 1e-5 for the float32 Keras network). Which kinds are bit
// for bit is the parity tests' to say (predict.CheckReference counts them).
func TestStreamServesEveryKind(t *testing.T) {
	for _, c := range []struct{ kind, dir string }{
		{"lightgbm", filepath.Join("examples", "bike-demand")},
		{"lightgbm", filepath.Join("examples", "churn-lgbm")},
		{"histgb", filepath.Join("examples", "churn-hgb")},
		{"mlp", filepath.Join("examples", "risk-mlp")},
		{"mlp", filepath.Join("scoring", "testdata", "bundles", "gen-mlp-sk-multiclass")},
		{"sklearn_forest", filepath.Join("examples", "fraud-rf")},
		{"sklearn_gradient_boosting", filepath.Join("scoring", "testdata", "bundles", "gen-sk-gb-binary")},
	} {
		t.Run(filepath.Base(c.dir), func(t *testing.T) { checkStreamServes(t, c.kind, filepath.Join(repoRoot, c.dir)) })
	}
}

func checkStreamServes(t *testing.T, kind, dir string) {
	b, err := scoring.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Manifest.Model.Kind; got != kind {
		t.Fatalf("%s has kind %q, want %q", dir, got, kind)
	}
	refs, err := scoring.ReadReference(dir)
	if err != nil {
		t.Fatal(err)
	}
	events := make([][]byte, len(refs))
	rejects := 0
	for i, r := range refs {
		events[i] = r.Event
		if r.Reject != "" {
			rejects++
		}
	}
	fromFile := scoreFile(t, dir, events)
	preds, dlqAt := streamEvents(t, "streamscore run "+filepath.Base(dir), events, make([][]byte, len(events)),
		map[string]any{"model.bundle": dir}, rejects)
	tol := max(b.ModelOutput().Tolerance, 1e-6) // the documented parity tolerance; the parity tests count what is not bit-identical
	next, bad, worst := 0, 0, 0.0
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
		if bad++; bad > 10 {
			t.Fatal("too many mismatches")
		}
	}
	for i, r := range refs {
		if r.Reject != "" {
			if got := dlqAt[int64(i)]; got != r.Reject {
				fail("event %d (%s): stream reject %q, reference %q", i+1, events[i], got, r.Reject)
			}
			if !bytes.HasPrefix(fromFile[i], []byte(`{"row":`)) {
				fail("event %d (%s): score predicts, reference rejects with %q", i+1, events[i], r.Reject)
			}
			continue
		}
		p := preds[next]
		next++
		if !bytes.Equal(clockFree(p.Value), clockFree(fromFile[i])) {
			fail("event %d (%s):\n stream %s\n  score %s", i+1, events[i], p.Value, fromFile[i])
			continue
		}
		var rec schemas.PredictionRecord
		if err := json.Unmarshal(p.Value, &rec); err != nil {
			t.Fatalf("prediction %d: %v", i+1, err)
		}
		got := []float64{rec.Score}
		if len(rec.Probabilities) > 0 {
			got = got[:0]
			for _, c := range rec.Probabilities {
				got = append(got, c.Probability)
			}
		}
		if len(got) != len(r.Scores) {
			fail("event %d: %d scores, reference %d", i+1, len(got), len(r.Scores))
			continue
		}
		for k, want := range r.Scores {
			d := math.Abs(got[k]-want) / math.Max(1, math.Abs(want))
			worst = math.Max(worst, d)
			if !(d <= tol) {
				fail("event %d: score %d is %v, the library's %v", i+1, k, got[k], want)
			}
		}
		if r.Label != nil && (rec.Label == nil || *rec.Label != *r.Label) {
			fail("event %d: label %v, reference %q", i+1, rec.Label, *r.Label)
		}
	}
	t.Logf("%s (%s): %d events, %d predictions and %d rejects; stream = score byte for byte; worst difference from the library %.3g (tolerance %g)",
		filepath.Base(dir), kind, len(events), next, rejects, worst, tol)
}
