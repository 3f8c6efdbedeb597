package scoring

import (
	"os"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/internal/doctest"
)

// churnManifest is an example bundle with every kind of input (number,
// category, bool, timestamp) and drift statistics; its model is linear, so
// it needs no model file.
func churnManifest(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("../examples/churn/bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func noFiles(name string) ([]byte, error) { return nil, noFile(name) }

func TestDriftLoads(t *testing.T) {
	b, err := Parse(churnManifest(t), noFiles)
	if err != nil {
		t.Fatal(err)
	}
	d := b.Manifest.Drift
	if d == nil {
		t.Fatal("examples/churn: no drift statistics")
	}
	var names []string
	for _, h := range d.Inputs {
		names = append(names, h.Input)
	}
	if got, want := strings.Join(names, ","), "tenure_months,monthly_charges,total_charges,contract,internet_service,payment_method,senior_citizen,support_calls"; got != want {
		t.Errorf("histograms for %s, want %s (every input but the timestamp)", got, want)
	}
	if d.Rows != 8000 || len(d.Score.Expected) != len(d.Score.Edges)+1 {
		t.Errorf("rows %d, score %d edges %d fractions; want 8000 rows and one fraction more than edges",
			d.Rows, len(d.Score.Edges), len(d.Score.Expected))
	}

	var sum strings.Builder
	if err := b.WriteSummary(&sum); err != nil {
		t.Fatal(err)
	}
	if want := "drift      8 input histograms and the score's, from 8000 training rows\n"; !strings.Contains(sum.String(), want) {
		t.Errorf("summary without %q:\n%s", want, sum.String())
	}

	// Optional: the same bundle without it loads and has none.
	b, err = Parse(edit(t, churnManifest(t), func(m map[string]any) { delete(m, "drift") }), noFiles)
	if err != nil {
		t.Fatalf("without drift: %v", err)
	}
	if b.Manifest.Drift != nil {
		t.Errorf("without drift: got %+v, want nil", b.Manifest.Drift)
	}
}

func TestDriftErrors(t *testing.T) {
	drift := func(m map[string]any) map[string]any { return obj(m["drift"]) }
	input := func(m map[string]any, i int) map[string]any { return obj(arr(drift(m)["inputs"])[i]) }
	tenure, contract, senior := 0, 3, 6
	tests := []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"unknown key", func(m map[string]any) { drift(m)["window"] = 5 }, `drift: unknown key "window" (allowed: rows, inputs, score)`},
		{"missing score", func(m map[string]any) { delete(drift(m), "score") }, `drift: missing key "score"`},
		{"null", func(m map[string]any) { m["drift"] = []any{} }, `drift: got JSON array, want an object`},
		{"rows zero", func(m map[string]any) { drift(m)["rows"] = 0 }, "drift: rows 0: must be at least 1"},
		{"rows fraction", func(m map[string]any) { drift(m)["rows"] = 1.5 }, `drift: key "rows": got JSON number 1.5, want a number`},
		{"unknown input key", func(m map[string]any) { input(m, tenure)["deciles"] = []any{} }, `drift.inputs[0]: unknown key "deciles"`},
		{"missing expected", func(m map[string]any) { delete(input(m, tenure), "expected") }, `drift.inputs[0]: missing key "expected"`},
		{"missing missing", func(m map[string]any) { delete(input(m, contract), "missing") }, `drift.inputs[3]: missing key "missing"`},
		{"undeclared input", func(m map[string]any) { input(m, tenure)["input"] = "age" }, `drift.inputs[0] (input "age"): not a declared input`},
		{"twice", func(m map[string]any) { input(m, 1)["input"] = "tenure_months" }, `drift.inputs[1] (input "tenure_months"): a second histogram for the same input`},
		{"timestamp", func(m map[string]any) {
			input(m, tenure)["input"] = "last_payment"
		}, `drift.inputs[0] (input "last_payment"): a timestamp input has no drift histogram`},
		{"categories on a number", func(m map[string]any) {
			input(m, tenure)["categories"] = []any{"a"}
		}, `drift.inputs[0] (input "tenure_months"): a number input has edges and no categories`},
		{"edges on a category", func(m map[string]any) {
			input(m, contract)["edges"] = []any{1.0}
		}, `drift.inputs[3] (input "contract"): a category input has categories and no edges`},
		{"no edges on a bool", func(m map[string]any) {
			delete(input(m, senior), "edges")
		}, `drift.inputs[6] (input "senior_citizen"): a bool input has edges and no categories`},
		{"edges not increasing", func(m map[string]any) {
			e := arr(input(m, tenure)["edges"])
			e[2] = e[1]
		}, "edges must increase strictly, but edges[2] = 14 follows 14"},
		{"one fraction short", func(m map[string]any) {
			h := input(m, tenure)
			h["expected"] = arr(h["expected"])[1:]
		}, "9 expected fractions for 9 edges, want 10"},
		{"category fractions", func(m map[string]any) {
			h := input(m, contract)
			h["expected"] = arr(h["expected"])[:3]
		}, "3 expected fractions for 3 categories, want one per category and one for the others"},
		{"duplicate category", func(m map[string]any) {
			arr(input(m, contract)["categories"])[1] = "month-to-month"
		}, `category "month-to-month" listed twice`},
		{"fraction above 1", func(m map[string]any) {
			arr(input(m, tenure)["expected"])[0] = 1.5
		}, "expected[0] = 1.5 is not a fraction in [0, 1]"},
		{"negative missing", func(m map[string]any) { input(m, tenure)["missing"] = -0.1 }, "missing -0.1 is not a fraction"},
		{"sum", func(m map[string]any) {
			arr(input(m, tenure)["expected"])[0] = 0.5
		}, "the fractions sum to 1.4115, want 1"},
		{"missing forgotten", func(m map[string]any) { input(m, tenure)["missing"] = 0.0 }, "the fractions sum to 0.97225, want 1"},
		{"unknown score key", func(m map[string]any) { obj(drift(m)["score"])["missing"] = 0.0 }, `drift.score: unknown key "missing" (allowed: edges, expected)`},
		{"score without edges", func(m map[string]any) { delete(obj(drift(m)["score"]), "edges") }, `drift.score: missing key "edges"`},
		{"score sum", func(m map[string]any) {
			arr(obj(drift(m)["score"])["expected"])[0] = 0.9
		}, "drift.score: the fractions sum to"},
		{"too many bins", func(m map[string]any) {
			h := input(m, tenure)
			edges, exp := make([]any, MaxDriftBins), make([]any, MaxDriftBins+1)
			for i := range edges {
				edges[i], exp[i] = float64(i), 0.0
			}
			exp[0] = 1.0
			h["edges"], h["expected"], h["missing"] = edges, append(exp[:0:0], exp...), 0.0
		}, "1001 bins, more than the limit of 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(edit(t, churnManifest(t), tt.edit), noFiles)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestDocsDriftKeys: the drift section of docs/bundle.md names every key of
// the drift objects.
func TestDocsDriftKeys(t *testing.T) {
	text := doctest.Section(t, bundleDoc, "### drift")
	for _, keys := range [][]string{driftKeys, driftInputKeys, driftScoreKeys} {
		for _, k := range keys {
			if !strings.Contains(text, "`"+k+"`") {
				t.Errorf("docs/bundle.md ### drift does not name the key `%s`", k)
			}
		}
	}
}
