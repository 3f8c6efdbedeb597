package scoring

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/streamscore/streamscore/features"
)

// DriftStats is the manifest's optional "drift" object: how the training
// data was distributed, per raw input and for the model's score, so the
// service can compare live traffic with it (the population stability index,
// docs/operations.md). A bundle without it serves the same, with no drift
// metrics.
type DriftStats struct {
	Rows   int              `json:"rows"`   // training rows the fractions come from
	Inputs []InputHistogram `json:"inputs"` // at most one per input; timestamps have none
	Score  ScoreHistogram   `json:"score"`
}

// InputHistogram is one input's training distribution over bins. A number
// or bool input has Edges: bin i holds the values v with Edges[i-1] <= v <
// Edges[i] (bin 0 everything below Edges[0], the last bin everything from
// the last edge up). A category input has Categories: bin i is
// Categories[i], the last bin every other category (unseen ones too).
// Expected has one fraction of the training rows per bin; Missing is the
// fraction of rows without the input, so Expected and Missing sum to 1.
type InputHistogram struct {
	Input      string    `json:"input"`
	Edges      []float64 `json:"edges,omitempty"`
	Categories []string  `json:"categories,omitempty"`
	Expected   []float64 `json:"expected"`
	Missing    float64   `json:"missing"`
}

// ScoreHistogram is the distribution of the model's score (Prediction.Score)
// over the training rows, binned like a number input; Expected sums to 1.
type ScoreHistogram struct {
	Edges    []float64 `json:"edges"`
	Expected []float64 `json:"expected"`
}

// Keys of the drift objects; bundle.schema.json must agree (tested).
var (
	driftKeys      = []string{"rows", "inputs", "score"}
	driftInputKeys = []string{"input", "edges", "categories", "expected", "missing"}
	driftScoreKeys = []string{"edges", "expected"}
)

// Limits on the drift object: they bound the service's window memory
// (window slots x total bins x 8 bytes).
const (
	MaxDriftBins      = 1_000   // bins of one histogram (edges + 1, categories + 1)
	MaxDriftBinsTotal = 1 << 16 // bins over every histogram of a bundle
	// DriftSumTolerance is how far the fractions of a histogram may sum
	// from 1 (they are rounded decimals).
	DriftSumTolerance = 1e-6
)

// parseDrift decodes and validates the drift object against the declared
// inputs.
func parseDrift(raw json.RawMessage, inputs []features.Input) (*DriftStats, error) {
	top, err := requiredObject(raw, driftKeys, driftKeys, "drift")
	if err != nil {
		return nil, err
	}
	d := &DriftStats{}
	if err := field(top, "rows", &d.Rows, "drift"); err != nil {
		return nil, err
	}
	if d.Rows < 1 {
		return nil, fmt.Errorf("drift: rows %d: must be at least 1", d.Rows)
	}
	var rawInputs []json.RawMessage
	if err := field(top, "inputs", &rawInputs, "drift"); err != nil {
		return nil, err
	}
	if len(rawInputs) > len(inputs) {
		return nil, fmt.Errorf("drift: %d input histograms for %d inputs", len(rawInputs), len(inputs))
	}
	types := make(map[string]features.InputType, len(inputs))
	for _, in := range inputs {
		types[in.Name] = in.Type
	}
	seen := map[string]bool{}
	total := 0
	for i, r := range rawInputs {
		where := fmt.Sprintf("drift.inputs[%d]", i)
		h, err := parseInputHistogram(r, where, types, seen)
		if err != nil {
			return nil, err
		}
		total += len(h.Expected) + 1
		d.Inputs = append(d.Inputs, h)
	}
	if _, err := requiredObject(top["score"], driftScoreKeys, driftScoreKeys, "drift.score"); err != nil {
		return nil, err
	}
	if err := decodeInto(top["score"], &d.Score); err != nil {
		return nil, fmt.Errorf("drift.score: %w", err)
	}
	if err := checkBins("drift.score", d.Score.Edges, len(d.Score.Expected)); err != nil {
		return nil, err
	}
	if err := checkFractions("drift.score", d.Score.Expected, 0); err != nil {
		return nil, err
	}
	if total += len(d.Score.Expected); total > MaxDriftBinsTotal {
		return nil, fmt.Errorf("drift: %d bins in all, more than the limit of %d", total, MaxDriftBinsTotal)
	}
	return d, nil
}

func parseInputHistogram(raw json.RawMessage, where string, types map[string]features.InputType, seen map[string]bool) (InputHistogram, error) {
	var h InputHistogram
	obj, err := requiredObject(raw, driftInputKeys, []string{"input", "expected", "missing"}, where)
	if err != nil {
		return h, err
	}
	if err := decodeInto(raw, &h); err != nil {
		return h, fmt.Errorf("%s: %w", where, err)
	}
	where = fmt.Sprintf("%s (input %q)", where, h.Input)
	typ, ok := types[h.Input]
	switch {
	case !ok:
		return h, fmt.Errorf("%s: not a declared input", where)
	case seen[h.Input]:
		return h, fmt.Errorf("%s: a second histogram for the same input", where)
	}
	seen[h.Input] = true
	_, hasEdges := obj["edges"]
	_, hasCats := obj["categories"]
	switch typ {
	case features.Number, features.Bool:
		if !hasEdges || hasCats {
			return h, fmt.Errorf("%s: a %s input has edges and no categories", where, typ)
		}
		if err := checkBins(where, h.Edges, len(h.Expected)); err != nil {
			return h, err
		}
	case features.Category:
		if !hasCats || hasEdges {
			return h, fmt.Errorf("%s: a category input has categories and no edges", where)
		}
		if len(h.Expected) != len(h.Categories)+1 {
			return h, fmt.Errorf("%s: %d expected fractions for %d categories, want one per category and one for the others",
				where, len(h.Expected), len(h.Categories))
		}
		if len(h.Expected) > MaxDriftBins {
			return h, fmt.Errorf("%s: %d bins, more than the limit of %d", where, len(h.Expected), MaxDriftBins)
		}
		dup := make(map[string]bool, len(h.Categories))
		for _, c := range h.Categories {
			if dup[c] {
				return h, fmt.Errorf("%s: category %q listed twice", where, c)
			}
			dup[c] = true
		}
	default:
		return h, fmt.Errorf("%s: a %s input has no drift histogram (its values move on with time by nature)", where, typ)
	}
	if err := checkFractions(where, h.Expected, h.Missing); err != nil {
		return h, err
	}
	return h, nil
}

// checkBins checks numeric bin edges: finite, strictly increasing, one more
// bin than edges, within the limit.
func checkBins(where string, edges []float64, nExpected int) error {
	if nExpected != len(edges)+1 {
		return fmt.Errorf("%s: %d expected fractions for %d edges, want %d", where, nExpected, len(edges), len(edges)+1)
	}
	if nExpected > MaxDriftBins {
		return fmt.Errorf("%s: %d bins, more than the limit of %d", where, nExpected, MaxDriftBins)
	}
	for i, e := range edges {
		if !isFinite(e) {
			return fmt.Errorf("%s: edges[%d] is not finite", where, i)
		}
		if i > 0 && !(edges[i-1] < e) {
			return fmt.Errorf("%s: edges must increase strictly, but edges[%d] = %g follows %g", where, i, e, edges[i-1])
		}
	}
	return nil
}

// checkFractions checks that every fraction is in [0, 1] and that they sum
// (with missing) to 1 within DriftSumTolerance.
func checkFractions(where string, expected []float64, missing float64) error {
	if !isFinite(missing) || missing < 0 || missing > 1 {
		return fmt.Errorf("%s: missing %g is not a fraction in [0, 1]", where, missing)
	}
	sum := missing
	for i, e := range expected {
		if !isFinite(e) || e < 0 || e > 1 {
			return fmt.Errorf("%s: expected[%d] = %g is not a fraction in [0, 1]", where, i, e)
		}
		sum += e
	}
	if math.Abs(sum-1) > DriftSumTolerance {
		return fmt.Errorf("%s: the fractions sum to %.9g, want 1", where, sum)
	}
	return nil
}
