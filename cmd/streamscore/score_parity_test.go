package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScoreIrisMatchesSklearn runs `streamscore score` over the iris
// reference events (JSON Lines, one raw event per line) and compares every
// row's probabilities with scikit-learn's own predict_proba stored in the
// reference file.
func TestScoreIrisMatchesSklearn(t *testing.T) {
	f, err := os.Open("../../examples/iris/reference.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var events bytes.Buffer
	var want [][]float64
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ref struct {
			Event  json.RawMessage `json:"event"`
			Scores []float64       `json:"scores"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ref); err != nil {
			t.Fatal(err)
		}
		if ref.Scores == nil {
			continue // a row the bundle rejects
		}
		events.Write(ref.Event)
		events.WriteByte('\n')
		want = append(want, ref.Scores)
	}
	if len(want) < 1500 {
		t.Fatalf("only %d reference rows usable, want the bulk of the file", len(want))
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "iris.jsonl"), filepath.Join(dir, "scores.jsonl")
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
	t.Logf("%d iris rows scored by `streamscore score`, worst |diff| vs sklearn predict_proba %.3g", len(lines), worst)
}
