// Package drifttest reads the golden drift values that train/drift_golden.py
// computes with numpy (drift/testdata/psi_golden.json) and rebuilds the
// events of their windows, for the tests of package drift and of the stream
// (package processor). `make parity` regenerates the file with the examples.
package drifttest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

// Golden is psi_golden.json.
type Golden struct {
	Epsilon float64            `json:"epsilon"`
	Bundle  string             `json:"bundle"` // relative to the repository root
	Drift   scoring.DriftStats `json:"drift"`  // the statistics the windows were counted against
	Formula []Formula          `json:"formula"`
	Windows []Window           `json:"windows"`

	root   string
	events []json.RawMessage // the bundle's reference.jsonl events, by line
}

// Formula is PSI(Expected, Counts) by numpy.
type Formula struct {
	Name     string    `json:"name"`
	Expected []float64 `json:"expected"`
	Counts   []uint64  `json:"counts"`
	PSI      *float64  `json:"psi"` // nil: NaN (no data)
}

// Window is a set of reference events (Rows, line numbers of
// reference.jsonl), every Every-th of them changed by Change, and numpy's
// bin counts and PSI of every input with a histogram and of the score.
type Window struct {
	Name   string            `json:"name"`
	Rows   []int             `json:"rows"`
	Change *Change           `json:"change"`
	Every  int               `json:"every"`
	Inputs map[string]Expect `json:"inputs"`
	Score  Expect            `json:"score"`
}

// Change is what a window does to its events: scale numeric fields, set
// fields, drop fields.
type Change struct {
	Scale map[string]float64 `json:"scale"`
	Set   map[string]string  `json:"set"`
	Drop  []string           `json:"drop"`
}

// Expect is one histogram's counts (value bins, then missing for an input)
// and its PSI.
type Expect struct {
	Counts []uint64 `json:"counts"`
	PSI    *float64 `json:"psi"`
}

// Value is the PSI, NaN for null.
func (e Expect) Value() float64 {
	if e.PSI == nil {
		return math.NaN()
	}
	return *e.PSI
}

// Near reports whether got equals want to 1e-12 (relative, or absolute
// near 0), NaN equal to NaN: how close the Go PSI must be to numpy's (the
// sums run in another order).
func Near(got, want float64) bool {
	if math.IsNaN(want) || math.IsNaN(got) {
		return math.IsNaN(want) && math.IsNaN(got)
	}
	return math.Abs(got-want) <= 1e-12*max(1, math.Abs(want))
}

// Load reads the golden file under root (the repository) and fails the test
// when the bundle's drift statistics are no longer the ones it was computed
// against.
func Load(t testing.TB, root string) *Golden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "drift", "testdata", "psi_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	g := &Golden{root: root}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var file struct {
		About string `json:"about"`
		*Golden
	}
	file.Golden = g
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("psi_golden.json: %v", err)
	}
	b := g.LoadBundle(t)
	if !reflect.DeepEqual(*b.Manifest.Drift, g.Drift) {
		t.Fatalf("drift/testdata/psi_golden.json was computed for other drift statistics than %s/bundle.json has: run `make parity` (train/drift_golden.py)", g.Bundle)
	}
	f, err := os.Open(filepath.Join(root, g.Bundle, "reference.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var row struct {
			Event json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("reference.jsonl line %d: %v", len(g.events), err)
		}
		g.events = append(g.events, row.Event)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return g
}

// LoadBundle loads the bundle the golden values belong to.
func (g *Golden) LoadBundle(t testing.TB) *scoring.Bundle {
	t.Helper()
	b, err := scoring.Load(filepath.Join(g.root, g.Bundle))
	if err != nil {
		t.Fatal(err)
	}
	if b.Manifest.Drift == nil {
		t.Fatalf("%s has no drift statistics", g.Bundle)
	}
	return b
}

// Events returns the window's events as JSON, changed as it says.
func (g *Golden) Events(t testing.TB, w Window) [][]byte {
	t.Helper()
	out := make([][]byte, 0, len(w.Rows))
	for k, i := range w.Rows {
		if i < 0 || i >= len(g.events) {
			t.Fatalf("window %q: row %d of %d", w.Name, i, len(g.events))
		}
		ev := g.events[i]
		if w.Change != nil && k%w.Every == 0 {
			ev = w.Change.apply(t, ev)
		}
		out = append(out, ev)
	}
	return out
}

// apply is train/drift_golden.py's apply: numbers scaled, fields set, fields
// dropped. Go's float64 product and JSON encoding give Python's values.
func (c *Change) apply(t testing.TB, ev json.RawMessage) json.RawMessage {
	var m map[string]any
	if err := json.Unmarshal(ev, &m); err != nil {
		t.Fatal(err)
	}
	for k, f := range c.Scale {
		if v, ok := m[k].(float64); ok {
			m[k] = v * f
		}
	}
	for k, v := range c.Set {
		m[k] = v
	}
	for _, k := range c.Drop {
		delete(m, k)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
