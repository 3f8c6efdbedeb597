package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

// TestScoreIrisMatchesSklearn runs `streamscore score` over the iris
// reference events, as JSON Lines (one raw event per line) and as CSV, and
// compares every row's probabilities with scikit-learn's own predict_proba
// stored in the reference file.
func TestScoreIrisMatchesSklearn(t *testing.T) {
	for _, format := range []string{"jsonl", "csv"} {
		t.Run(format, func(t *testing.T) { scoreIris(t, format) })
	}
}

func scoreIris(t *testing.T, format string) {
	refs, err := scoring.ReadReference("../../examples/iris")
	if err != nil {
		t.Fatal(err)
	}
	var events bytes.Buffer
	var want [][]float64
	for _, ref := range refs {
		if ref.Scores == nil {
			continue // a row the bundle rejects
		}
		if format == "csv" {
			if events.Len() == 0 {
				events.WriteString(strings.Join(irisColumns, ",") + "\n")
			}
			var ev map[string]*float64
			if err := json.Unmarshal(ref.Event, &ev); err != nil {
				continue // not expressible as CSV number cells
			}
			cells := make([]string, len(irisColumns))
			for i, c := range irisColumns {
				if v := ev[c]; v != nil {
					cells[i] = strconv.FormatFloat(*v, 'g', -1, 64)
				}
			}
			events.WriteString(strings.Join(cells, ",") + "\n")
		} else {
			events.Write(ref.Event)
			events.WriteByte('\n')
		}
		want = append(want, ref.Scores)
	}
	if len(want) < 1500 {
		t.Fatalf("only %d reference rows usable, want the bulk of the file", len(want))
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "iris."+format), filepath.Join(dir, "scores.jsonl")
	if err := os.WriteFile(in, events.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := newRootCmd()
	cmd.SetArgs([]string{"score", "../../examples/iris", "--in", in, "--out", out})
	var stderr bytes.Buffer
	cmd.SetOut(new(bytes.Buffer))
	cmd.SetErr(&stderr)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("streamscore score: %v\n%s", err, stderr.String())
	}
	body, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if len(lines) != len(want) {
		t.Fatalf("scored %d rows, want %d", len(lines), len(want))
	}
	worst := 0.0
	for i, line := range lines {
		var got struct {
			Model         string `json:"model"`
			Probabilities []struct {
				Class       string  `json:"class"`
				Probability float64 `json:"probability"`
			} `json:"probabilities"`
		}
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("row %d: %v: %s", i+1, err, line)
		}
		if got.Model != "iris" || len(got.Probabilities) != len(want[i]) {
			t.Fatalf("row %d: %s: want an iris prediction record with %d probabilities", i+1, line, len(want[i]))
		}
		for k, c := range got.Probabilities {
			d := math.Abs(c.Probability - want[i][k])
			worst = max(worst, d)
			if d > 1e-6 {
				t.Errorf("row %d class %s: got %v, sklearn %v", i+1, c.Class, c.Probability, want[i][k])
			}
		}
	}
	t.Logf("%d iris rows (%s) scored by `streamscore score`, worst |diff| vs sklearn predict_proba %.3g", len(lines), format, worst)
}

var irisColumns = []string{"sepal_length", "sepal_width", "petal_length", "petal_width"}
