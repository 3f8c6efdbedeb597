package scoring

import (
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/internal/doctest"
)

func fixtureText(t testing.TB, name, file string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "bundles", name, file))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestLightGBMRefuses: what the bundle cannot express, and broken or
// hostile files, are load errors that say what is wrong.
func TestLightGBMRefuses(t *testing.T) {
	good := fixtureText(t, "gen-lgb-booster", "model.txt")
	if _, err := parseLightGBM([]byte(good)); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	first := func(s, old, new string) string { return strings.Replace(s, old, new, 1) }
	line := func(key string) string { return regexp.MustCompile(`(?m)^` + key + `=.*$`).FindString(good) }
	for _, c := range []struct {
		name, text, want string
	}{
		{"custom objective", first(good, line("objective")+"\n", ""), "custom objective"},
		{"ranking objective", first(good, line("objective"), "objective=lambdarank"), "not supported"},
		{"linear tree", first(good, "is_linear=0", "is_linear=1"), "linear trees"},
		{"old version", first(good, "version=v4", "version=v2"), "version"},
		{"not a model", "hello", "not a LightGBM text model"},
		{"unknown header key", first(good, "num_class=1", "num_class=1\nfoo=1"), "unknown key"},
		{"unknown tree key", first(good, "num_cat=0", "num_cat=0\nbar=2"), "unknown line"},
		{"duplicate key", first(good, "num_cat=0", "num_cat=0\nnum_cat=0"), "twice"},
		{"no end", good[:strings.Index(good, "end of trees")], "end of trees"},
		{"tree numbering", first(good, "Tree=1\n", "Tree=7\n"), "want \"Tree=1\""},
		{"short leaf_value", first(good, line("leaf_value"), "leaf_value=1"), "leaf_value has 1 values"},
		{"nan threshold", first(good, line("threshold"), strings.Replace(line("threshold"), "=", "=nan ", 1)[:len(line("threshold"))+4]), ""},
		{"nan leaf", first(good, "leaf_value=", "leaf_value=nan "), ""},
		{"child out of range", first(good, line("left_child"), strings.Replace(line("left_child"), "=", "=99 ", 1)), ""},
		{"missing type 3", first(good, line("decision_type"), strings.Replace(line("decision_type"), "=", "=12 ", 1)), ""},
		{"feature out of range", first(good, "max_feature_idx=4", "max_feature_idx=0"), ""},
		{"class mismatch", first(good, "num_class=1", "num_class=3"), "not supported"},
		{"tree sizes", first(good, line("tree_sizes"), "tree_sizes=5"), "tree_sizes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseLightGBM([]byte(c.text))
			if err == nil {
				t.Fatal("got no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %q, want it to contain %q", err, c.want)
			}
		})
	}
}

// TestLightGBMDocsObjectives keeps the objectives table of docs/bundle.md's
// lightgbm section in step with the loader.
func TestLightGBMDocsObjectives(t *testing.T) {
	sec := doctest.Section(t, bundleDoc, "#### `lightgbm`")
	var got []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_0-9]+)` \\|").FindAllStringSubmatch(sec, -1) {
		got = append(got, m[1])
	}
	var want []string
	for k := range lgbObjectives {
		want = append(want, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("documented %v, loader reads %v", got, want)
	}
}

// TestExp64CorrectlyRounded checks exp64 against e^x computed in 320-bit
// arithmetic and rounded once.
func TestExp64CorrectlyRounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := []float64{0, 1, -1, 0.5, 1e-300, -1e-20, 709.7, -708.3, 88.7, -88.7, math.Ln2, 36.7, -36.7}
	for range 3000 {
		xs = append(xs, rng.NormFloat64()*8, (rng.Float64()-0.5)*1400)
	}
	for _, x := range xs {
		if x < -708 || x > 709.7 {
			continue
		}
		if got, want := exp64(x), bigExp(x); got != want {
			t.Errorf("exp64(%v): got %v, want %v", x, got, want)
		}
	}
	if !math.IsInf(exp64(710), 1) || exp64(-746) != 0 || !math.IsNaN(exp64(math.NaN())) {
		t.Error("exp64 at the ends: want +Inf, 0 and NaN")
	}
}

// bigExp is e^x by the Taylor series of x/2^16, squared 16 times.
func bigExp(x float64) float64 {
	const prec = 320
	y := new(big.Float).SetPrec(prec).SetFloat64(x)
	y.SetMantExp(y, -16)
	sum := new(big.Float).SetPrec(prec).SetInt64(1)
	term := new(big.Float).SetPrec(prec).SetInt64(1)
	for k := int64(1); k < 60; k++ {
		term.Mul(term, y)
		term.Quo(term, new(big.Float).SetPrec(prec).SetInt64(k))
		sum.Add(sum, term)
	}
	for range 16 {
		sum.Mul(sum, sum)
	}
	f, _ := sum.Float64()
	return f
}

func TestAtofLegacy(t *testing.T) {
	for _, c := range []struct {
		in   string
		want float64
	}{
		{"1", 1}, {"0.7", 0.7}, {"2.5", 2.5}, {"-3", -3}, {"1e-05", 1.0 / 1e5}, {"12.345", 12 + 345.0/1000},
		{"1.5e2", 150},
	} {
		got, err := atofLegacy(c.in)
		if err != nil || got != c.want {
			t.Errorf("atofLegacy(%q): got %v, %v, want %v", c.in, got, err, c.want)
		}
	}
	if _, err := atofLegacy("1x"); err == nil {
		t.Error("atofLegacy(\"1x\"): want an error")
	}
}

// TestCategoricalDecisions pins the value -> direction rules of both
// libraries' categorical splits on one node whose left set is {0, 3}.
func TestCategoricalDecisions(t *testing.T) {
	build := func(lo, hi float64, missLeft bool) *forest64 {
		f := &forest64{nFeature: 1, nGroup: 1}
		f.catRange(lo, hi)
		spec := &treeSpec{left: []int32{^0}, right: []int32{^1}, feat: []int32{0}, thr: []float64{0},
			missLeft: []bool{missLeft}, cat: []int32{0}, catSets: [][]uint32{{1<<0 | 1<<3}}, leaves: []float64{-1, 1}}
		if err := f.addTree(spec, 0); err != nil {
			t.Fatal(err)
		}
		return f
	}
	lgbF := build(math.Nextafter(-1, 0), maxCategoryCode, false)
	hgbF := build(0, 256, true)
	for _, c := range []struct {
		v        float64
		lgb, hgb float64 // leaf reached: -1 left, 1 right
	}{
		{0, -1, -1}, {3, -1, -1}, {3.7, -1, -1}, {1, 1, 1}, {31, 1, 1}, {32, 1, 1}, {1000, 1, -1},
		{-0.5, -1, -1}, {-1, 1, -1}, {math.NaN(), 1, -1}, {1e10, 1, -1}, {math.Copysign(0, -1), -1, -1},
	} {
		for _, k := range []struct {
			f    *forest64
			want float64
			name string
		}{{lgbF, c.lgb, "lightgbm"}, {hgbF, c.hgb, "histgb"}} {
			out := []float64{0}
			k.f.predict([]float64{c.v}, 1, out, math.IsNaN(c.v))
			if out[0] != k.want {
				t.Errorf("%s: value %v went to leaf %v, want %v", k.name, c.v, out[0], k.want)
			}
		}
	}
}
