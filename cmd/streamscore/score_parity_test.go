package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestScoreIrisMatchesSklearn runs `streamscore score` over the iris
// reference events written as CSV and compares every row's probabilities
// with scikit-learn's own predict_proba stored in the reference file.
func TestScoreIrisMatchesSklearn(t *testing.T) {
	cols := []string{"sepal_length", "sepal_width", "petal_length", "petal_width"}
	f, err := os.Open("../../examples/iris/reference.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var csv strings.Builder
	csv.WriteString(strings.Join(cols, ",") + "\n")
	var want [][]float64
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
rows:
	for sc.Scan() {
		var ref struct {
			Event  map[string]any `json:"event"`
			Scores []float64      `json:"scores"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ref); err != nil {
			t.Fatal(err)
		}
		if ref.Scores == nil {
			continue // a row the bundle rejects
		}
		cells := make([]string, len(cols))
		for i, c := range cols {
			switch v := ref.Event[c].(type) {
			case nil:
			case float64:
				cells[i] = strconv.FormatFloat(v, 'g', -1, 64)
			default:
				continue rows // not expressible as a CSV number cell
			}
		}
		csv.WriteString(strings.Join(cells, ",") + "\n")
		want = append(want, ref.Scores)
	}
	if len(want) < 1500 {
		t.Fatalf("only %d reference rows usable, want the bulk of the file", len(want))
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "iris.csv"), filepath.Join(dir, "scores.jsonl")
	if err := os.WriteFile(in, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := newRootCmd()
	cmd.SetArgs([]string{"score", "--bundle", "../../examples/iris", "--in", in, "--out", out})
	cmd.SetOut(new(bytes.Buffer))
	cmd.SetErr(new(bytes.Buffer))
	if err := cmd.Execute(); err != nil {
		t.Fatalf("streamscore score: %v", err)
	}
	body, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if len(lines) != len(want) {
		t.Fatalf("scored %d rows, want %d", len(lines), len(want))
	}
	classes := []string{"setosa", "versicolor", "virginica"}
	worst := 0.0
	for i, line := range lines {
		var got struct {
			Row   int                `json:"row"`
			Probs map[string]float64 `json:"probs"`
		}
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("row %d: %v: %s", i+1, err, line)
		}
		for k, c := range classes {
			d := math.Abs(got.Probs[c] - want[i][k])
			worst = max(worst, d)
			if d > 1e-6 {
				t.Errorf("row %d class %s: got %v, sklearn %v", got.Row, c, got.Probs[c], want[i][k])
			}
		}
	}
	t.Logf("%d iris rows scored by `streamscore score`, worst |diff| vs sklearn predict_proba %.3g", len(lines), worst)
}
