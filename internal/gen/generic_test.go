package gen

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

var testNow = time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC)

// exampleBundles loads every bundle under examples/.
func exampleBundles(t *testing.T) map[string]*scoring.Bundle {
	t.Helper()
	dirs, err := filepath.Glob("../../examples/*/bundle.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no example bundles (%v)", err)
	}
	out := map[string]*scoring.Bundle{}
	for _, d := range dirs {
		b, err := scoring.Load(filepath.Dir(d))
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(filepath.Dir(d))] = b
	}
	return out
}

// decodeAndScore runs one event through the stream's JSON decoder and the
// bundle's scorer, and returns the reject reason ("" when scored).
func decodeAndScore(t *testing.T, dec schemas.Decoder, sc *scoring.Scorer, b *scoring.Bundle, v []byte) (schemas.Meta, *features.Row, reject.Reason) {
	t.Helper()
	row := b.Layout().NewRow()
	meta, err := dec.Decode(v, row)
	if err != nil {
		reason, poison := reject.Of(err)
		if !poison {
			t.Fatalf("decode %.200s: not a poison error: %v", v, err)
		}
		return meta, row, reason
	}
	return meta, row, sc.ScoreOne(row).Reject
}

// TestGenericEventsScoreForEveryExample: for each example bundle, every
// clean event decodes with the stream's decoder and scores without a
// reject, with the key and a unique event id where the options put them,
// and with the missing values and departures from training asked for
// wherever the bundle takes them; every poison kind gets its reason.
func TestGenericEventsScoreForEveryExample(t *testing.T) {
	for name, b := range exampleBundles(t) {
		t.Run(name, func(t *testing.T) {
			opts := Options{Missing: 0.1, Outside: 0.05, KeyField: "customer.id", EventIDField: "event_id"}
			g, err := NewForBundle(b, 1, opts)
			if err != nil {
				t.Fatal(err)
			}
			cfg := schemas.DefaultInputConfig()
			cfg.KeyField, cfg.EventIDField = opts.KeyField, opts.EventIDField
			dec, err := schemas.NewDecoder(cfg, b.Layout(), nil)
			if err != nil {
				t.Fatal(err)
			}
			sc := b.NewScorer()
			ids := map[string]bool{}
			inputs := b.Layout().Inputs
			missing, outside := make([]int, len(inputs)), make([]int, len(inputs))
			const n = 3000
			for i := range n {
				key, v := g.Next(nil, testNow)
				meta, row, reason := decodeAndScore(t, dec, sc, b, v)
				if reason != "" {
					t.Fatalf("event %d rejected (%s): %s", i, reason, v)
				}
				if !bytes.Equal(meta.Key, key) || len(key) == 0 {
					t.Fatalf("event %d: key %q in the event, %q returned", i, meta.Key, key)
				}
				if ids[string(meta.EventID)] || len(meta.EventID) == 0 {
					t.Fatalf("event %d: event id %q empty or seen before", i, meta.EventID)
				}
				ids[string(meta.EventID)] = true
				for k, in := range inputs {
					slot := b.Layout().Slot(k)
					switch in.Type {
					case features.Category:
						c := row.Cat[slot]
						if c == nil {
							missing[k]++
						} else if len(in.Categories) > 0 && !slices.Contains(in.Categories, string(c)) {
							outside[k]++
						}
					default:
						x := row.Num[slot]
						if math.IsNaN(x) {
							missing[k]++
						} else if in.Range != nil && (x < in.Range[0] || x > in.Range[1]) {
							outside[k]++
						} else if in.Type == features.Timestamp && (x > float64(testNow.UnixMilli()) || x < float64(testNow.Add(-time.Hour).UnixMilli())) {
							t.Fatalf("event %d: %s %v is not within the hour before now", i, in.Name, x)
						}
					}
				}
			}
			for k, in := range inputs {
				tol := g.inputs[k].tol
				if got, want := missing[k] > 0, tol.missing; got != want {
					t.Errorf("input %s: missing in %d of %d events, want some: %v", in.Name, missing[k], n, want)
				}
				if in.Required && missing[k] > 0 {
					t.Errorf("required input %s missing in %d events", in.Name, missing[k])
				}
				departs := (in.Range != nil && (tol.below || tol.above)) || (len(in.Categories) > 0 && tol.unseen)
				if got := outside[k] > 0; got != departs {
					t.Errorf("input %s: outside training in %d of %d events, want some: %v", in.Name, outside[k], n, departs)
				}
				// about Outside of the values that are there, when it departs at all
				if departs {
					if frac := float64(outside[k]) / float64(n-missing[k]); frac < opts.Outside/2 || frac > opts.Outside*2 {
						t.Errorf("input %s: %.3f of the values outside training, want about %.2f", in.Name, frac, opts.Outside)
					}
				}
			}

			kinds := g.Poisons()
			hasRequired := slices.ContainsFunc(inputs, func(in features.Input) bool { return in.Required })
			if slices.Contains(kinds, "missing_field") != hasRequired {
				t.Errorf("poison kinds %v: missing_field should be there exactly when an input is required (%v)", kinds, hasRequired)
			}
			if len(kinds) < len(PoisonKinds)-1 {
				t.Errorf("poison kinds %v, want all of %v but missing_field at most", kinds, PoisonKinds)
			}
			for _, kind := range kinds {
				for range 20 {
					_, v := g.Poison(kind, testNow, 2<<20)
					if _, _, reason := decodeAndScore(t, dec, sc, b, v); string(reason) != kind {
						t.Fatalf("poison %s: reason %q: %.200s", kind, reason, v)
					}
				}
			}
		})
	}
}

// TestGenericIsDeterministic: the same seed gives the same events, another
// seed others.
func TestGenericIsDeterministic(t *testing.T) {
	b := exampleBundles(t)["churn"]
	events := func(seed uint64) [][]byte {
		g, err := NewForBundle(b, seed, Options{Missing: 0.2, Outside: 0.1, KeyField: "id", EventIDField: "eid"})
		if err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for i := range 200 {
			key, v := g.Next(nil, testNow)
			if i%10 == 0 {
				_, v = g.Poison(PoisonKinds[i/10%len(PoisonKinds)], testNow, 100)
			}
			out = append(out, append(key, v...))
		}
		return out
	}
	a, again, other := events(7), events(7), events(8)
	for i := range a {
		if !bytes.Equal(a[i], again[i]) {
			t.Fatalf("event %d differs for the same seed:\n%s\n%s", i, a[i], again[i])
		}
	}
	same := 0
	for i := range a {
		if bytes.Equal(a[i], other[i]) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d of %d events the same for seeds 7 and 8", same, len(a))
	}
}

// TestGenericNestedPaths: dotted input paths, key and event id fields are
// written as nested objects that the stream's decoder reads back.
func TestGenericNestedPaths(t *testing.T) {
	layout, err := features.NewLayout([]features.Input{
		{Name: "country", Type: features.Category, Path: "card.country", Categories: []string{"DE", "US"}},
		{Name: "present", Type: features.Bool, Path: "card.present", Required: true},
		{Name: "lat", Type: features.Number, Path: "geo.pos.lat", Range: &[2]float64{-90, 90}},
		{Name: "amount", Type: features.Number, Required: true},
		{Name: "at", Type: features.Timestamp, Path: "meta.at"},
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Missing: 0.3, KeyField: "card.id", EventIDField: "meta.id"}
	g, err := NewFromLayout(layout, 3, opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := schemas.DefaultInputConfig()
	cfg.KeyField, cfg.EventIDField = opts.KeyField, opts.EventIDField
	dec, err := schemas.NewDecoder(cfg, layout, nil)
	if err != nil {
		t.Fatal(err)
	}
	geoSeen := 0
	for i := range 200 {
		key, v := g.Next(nil, testNow)
		var ev struct {
			Card struct {
				ID      string `json:"id"`
				Present *bool  `json:"present"`
			} `json:"card"`
			Geo *struct {
				Pos struct {
					Lat *float64 `json:"lat"`
				} `json:"pos"`
			} `json:"geo"`
			Amount *float64 `json:"amount"`
			Meta   struct {
				ID string `json:"id"`
			} `json:"meta"`
		}
		if err := json.Unmarshal(v, &ev); err != nil {
			t.Fatalf("event %d: %v: %s", i, err, v)
		}
		if ev.Card.ID != string(key) || ev.Card.Present == nil || ev.Amount == nil || ev.Meta.ID == "" {
			t.Fatalf("event %d: want card.id %q, card.present, amount and meta.id: %s", i, key, v)
		}
		if ev.Geo != nil {
			geoSeen++
			if ev.Geo.Pos.Lat == nil && !bytes.Contains(v, []byte(`"lat":null`)) {
				t.Fatalf("event %d: an empty geo object: %s", i, v)
			}
		}
		row := layout.NewRow()
		meta, err := dec.Decode(v, row)
		if err != nil {
			t.Fatalf("event %d: %v: %s", i, err, v)
		}
		if !bytes.Equal(meta.Key, key) || string(meta.EventID) != ev.Meta.ID {
			t.Fatalf("event %d: decoded key %q id %q, want %q %q", i, meta.Key, meta.EventID, key, ev.Meta.ID)
		}
	}
	if geoSeen == 0 || geoSeen == 200 {
		t.Errorf("geo present in %d of 200 events: want the object left out when lat is absent, and there otherwise", geoSeen)
	}
	if got, want := g.Poisons(), PoisonKinds; !slices.Equal(got, want) {
		t.Errorf("poisons %v, want %v", got, want)
	}
}

// TestGenericBadOptions: conflicting paths and rates out of [0, 1] are errors.
func TestGenericBadOptions(t *testing.T) {
	in := []features.Input{
		{Name: "a", Type: features.Number},
		{Name: "b", Type: features.Number, Path: "x.b"},
	}
	tests := []struct {
		name   string
		inputs []features.Input
		opts   Options
		want   string
	}{
		{"input under another input", append(slices.Clone(in), features.Input{Name: "c", Type: features.Number, Path: "a.c"}), Options{}, `"a" is a value`},
		{"key under an input", in, Options{KeyField: "a.id"}, `also the parent of another field (the key field is "a.id"`},
		{"event id is an object", in, Options{EventIDField: "x"}, `"x" is a value, not an object (the key field is "", the event id field "x")`},
		{"missing above 1", in, Options{Missing: 1.5}, "missing rate 1.5"},
		{"outside NaN", in, Options{Outside: math.NaN()}, "outside rate NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layout, err := features.NewLayout(tt.inputs)
			if err != nil {
				t.Fatal(err)
			}
			_, err = NewFromLayout(layout, 1, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one saying %q", err, tt.want)
			}
		})
	}
}

// TestGenericKeyInput: a key field that is an input takes that input's
// value, which is then never missing.
func TestGenericKeyInput(t *testing.T) {
	layout, err := features.NewLayout([]features.Input{
		{Name: "store", Type: features.Category, Categories: []string{"north", "south"}},
		{Name: "x", Type: features.Number},
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewFromLayout(layout, 1, Options{KeyField: "store", Missing: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		key, v := g.Next(nil, testNow)
		var ev map[string]any
		if err := json.Unmarshal(v, &ev); err != nil {
			t.Fatal(err)
		}
		if s, _ := ev["store"].(string); s == "" || s != string(key) {
			t.Fatalf("key %q, event %s", key, v)
		}
	}
}

// TestFraudFits: the fraud generator is the one for the examples on the
// fraud events only (fraud, and fraud-rf and fraud-gb: its inputs with other models).
func TestFraudFits(t *testing.T) {
	for name, b := range exampleBundles(t) {
		if got, want := FraudFits(b.Layout()), name == "fraud" || name == "fraud-rf" || name == "fraud-gb"; got != want {
			t.Errorf("FraudFits(%s) = %v, want %v", name, got, want)
		}
	}
}
