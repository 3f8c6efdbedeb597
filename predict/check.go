package predict

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// Tolerances of a reference check: how far the path's outputs may be from
// the training library's.
type Tolerances struct {
	Prob     float64 // absolute, per class probability
	Relative float64 // relative, regression values (absolute below 1e-12)
	Feature  float64 // relative (absolute below 1), model columns
}

// DefaultTolerances are what docs/bundle.md promises: 1e-6 on
// probabilities and regression values, 1e-9 on the model columns (float64
// on both sides).
var DefaultTolerances = Tolerances{Prob: 1e-6, Relative: 1e-6, Feature: 1e-9}

// Mismatch is one reference row the path disagrees with.
type Mismatch struct {
	Row  scoring.ReferenceRow
	What string // "class setosa: got probability 0.2, want 0.3 (error 0.1)"
}

// Report is the outcome of a reference check.
type Report struct {
	Rows, Scored, Rejected int
	WorstProb              float64 // largest |probability error| over scored classifier rows
	WorstRelative          float64 // largest relative error over scored regression rows
	// Inexact counts the scores and probabilities, within tolerance, that
	// are not bit-identical to the library's (its float32 values widened).
	Inexact    int
	Mismatches []Mismatch
}

// OK reports whether every row agreed.
func (r *Report) OK() bool { return len(r.Mismatches) == 0 }

// CheckBundle is the reference check: bundle b's reference rows (its
// reference.jsonl, scoring.ReadReference) through the stream's path as the
// exporter writes the events (JSON, the default limits, no event id field),
// the feature vector echoed, compared with the training library's outputs
// within DefaultTolerances. `streamscore validate`, the reloader before a
// swap and the parity tests all run this one check.
func CheckBundle(b *scoring.Bundle, refs []scoring.ReferenceRow) (*Report, error) {
	path, err := referencePath(b)
	if err != nil {
		return nil, err
	}
	return checkReference(path, refs, DefaultTolerances)
}

// referencePath is the path CheckBundle scores the reference rows through.
func referencePath(b *scoring.Bundle) (*Path, error) {
	enc, err := schemas.NewEncoder(context.Background(), schemas.OutputConfig{Format: schemas.FormatJSON, EchoFeatures: true}, nil)
	if err != nil {
		return nil, err
	}
	in := schemas.InputConfig{Format: schemas.FormatJSON}
	return New(b, func() (schemas.Decoder, error) { return schemas.NewDecoder(in, b.Layout(), nil) }, enc, true), nil
}

// checkReference runs the reference events through p, exactly as a door
// would (the bytes through p's decoder, features, model, policy and
// encoder), in micro-batches of 500, and compares every prediction record
// with the training library's outputs: probabilities or the value, the
// label, the feature vector when p echoes features and the reference has
// one, and the reject reason. A model whose ModelOutput has a Tolerance is
// checked with that tolerance where it is looser than tol's.
func checkReference(p *Path, refs []scoring.ReferenceRow, tol Tolerances) (*Report, error) {
	b, err := p.NewBatch()
	if err != nil {
		return nil, err
	}
	events := make([]Event, len(refs))
	for i, r := range refs {
		events[i] = Event{Value: r.Event}
	}
	results := make([]Result, len(refs))
	now := time.Now()
	for i := 0; i < len(events); i += 500 {
		j := min(i+500, len(events))
		if err := b.Run(events[i:j], results[i:j], now, nil); err != nil {
			return nil, err
		}
	}
	rep := &Report{Rows: len(refs)}
	bundle := p.Bundle()
	if t := bundle.ModelOutput().Tolerance; t > 0 {
		// the model kind's own tolerance (float32 networks), relative: for
		// probabilities, which are at most 1, an absolute bound
		tol.Prob, tol.Relative = max(tol.Prob, t), max(tol.Relative, t)
	}
	for i, r := range refs {
		if what := rep.check(bundle, r, &results[i], tol); what != "" {
			rep.Mismatches = append(rep.Mismatches, Mismatch{Row: r, What: what})
		}
	}
	return rep, nil
}

// check compares one row and returns what differs ("" when nothing does).
func (rep *Report) check(b *scoring.Bundle, r scoring.ReferenceRow, res *Result, tol Tolerances) string {
	if r.Reject != "" {
		rep.Rejected++
		if string(res.Reject) != r.Reject {
			return fmt.Sprintf("got %s, want reject %q", describe(res), r.Reject)
		}
		return ""
	}
	rep.Scored++
	if res.Reject != "" {
		return fmt.Sprintf("got %s, want scores %v", describe(res), r.Scores)
	}
	var got schemas.PredictionRecord
	if err := json.Unmarshal(res.Value, &got); err != nil {
		return fmt.Sprintf("prediction record %s: %v", res.Value, err)
	}
	if r.Features != nil && got.Features != nil {
		if what := featureMismatch(b, *got.Features, r.Features, tol.Feature); what != "" {
			return what
		}
	}
	if b.Task() == scoring.TaskRegression {
		if len(r.Scores) != 1 {
			return fmt.Sprintf("reference has %d scores, want 1 for regression", len(r.Scores))
		}
		d := math.Abs(got.Score - r.Scores[0])
		if d != 0 {
			rep.Inexact++
		}
		rel := d / math.Max(math.Abs(r.Scores[0]), 1e-300)
		// A row that passes only by the absolute floor (a value near 0)
		// has a relative error that says nothing; every other row counts,
		// so that a report with inexact outputs names their error.
		if rel <= tol.Relative || d > 1e-12 {
			rep.WorstRelative = math.Max(rep.WorstRelative, rel)
		}
		if !(rel <= tol.Relative) && !(d <= 1e-12) {
			return fmt.Sprintf("got score %v, want %v (relative error %.3g)", got.Score, r.Scores[0], rel)
		}
	} else {
		if len(got.Probabilities) != len(r.Scores) {
			return fmt.Sprintf("got %d probabilities, want %d", len(got.Probabilities), len(r.Scores))
		}
		for k, c := range got.Probabilities {
			if c.Class != b.Classes()[k] {
				return fmt.Sprintf("probability %d is for class %q, want %q", k, c.Class, b.Classes()[k])
			}
			d := math.Abs(c.Probability - r.Scores[k])
			rep.WorstProb = math.Max(rep.WorstProb, d)
			if d != 0 {
				rep.Inexact++
			}
			if !(d <= tol.Prob) {
				return fmt.Sprintf("class %s: got probability %v, want %v (error %.3g)", c.Class, c.Probability, r.Scores[k], d)
			}
		}
	}
	if r.Label != nil && (got.Label == nil || *got.Label != *r.Label) {
		return fmt.Sprintf("got label %s, want %q (score %v)", strOrNull(got.Label), *r.Label, got.Score)
	}
	return ""
}

func describe(res *Result) string {
	if res.Reject != "" {
		return fmt.Sprintf("reject %q (%s)", res.Reject, res.Err)
	}
	return "a prediction"
}

func strOrNull(s *string) string {
	if s == nil {
		return "null"
	}
	return fmt.Sprintf("%q", *s)
}

func featureMismatch(b *scoring.Bundle, got []schemas.FeatureValue, want []*float64, tol float64) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d model columns, want %d", len(got), len(want))
	}
	for j, w := range want {
		g := got[j].Value
		switch {
		case w == nil && g == nil:
		case w == nil || g == nil:
			return fmt.Sprintf("feature %s: got %s, want %s", b.FeatureNames()[j], numOrMissing(g), numOrMissing(w))
		case !(math.Abs(*g-*w) <= tol*math.Max(1, math.Abs(*w))):
			return fmt.Sprintf("feature %s: got %v, want %v", b.FeatureNames()[j], *g, *w)
		}
	}
	return ""
}

func numOrMissing(v *float64) string {
	if v == nil {
		return "missing"
	}
	return fmt.Sprint(*v)
}
