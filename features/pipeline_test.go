package features

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/reject"
)

// fraudInputs and fraudFeatures are a card-fraud style spec with every kind
// of step, used by tests and the per-record benchmark.
func fraudInputs() []Input {
	r := [2]float64{0, 10000}
	return []Input{
		{Name: "amount", Type: Number, Required: true, Range: &r},
		{Name: "avg_amount_30d", Type: Number},
		{Name: "merchant_category", Type: Category, Categories: []string{"grocery", "travel", "online", "fuel", "restaurant"}},
		{Name: "country", Type: Category, Path: "card.country"},
		{Name: "timestamp", Type: Timestamp, Required: true},
		{Name: "card_present", Type: Bool},
		{Name: "tx_count_24h", Type: Number},
		{Name: "account_age_days", Type: Number},
	}
}

func fraudFeatures() []Feature {
	return []Feature{
		{Name: "amount_scaled", Input: "amount", Steps: []Step{Impute{Value: 42.0}, Standard{Mean: 51.3, Scale: 80.2}}},
		{Name: "amount_log", Input: "amount", Steps: []Step{Impute{Value: 0.0}, Log1p{}}},
		{Name: "amount_missing", Input: "amount", Steps: []Step{Indicator{}}},
		{Name: "amount_ratio", Derive: &Derive{Op: "ratio", A: "amount", B: "avg_amount_30d", OnZero: math.NaN()},
			Steps: []Step{Impute{Value: 1.0}, Robust{Center: 1, Scale: 0.8}}},
		{Name: "hour", Input: "timestamp", Steps: []Step{Datepart{Part: "hour", TZ: "UTC"}}},
		{Name: "weekday", Input: "timestamp", Steps: []Step{Datepart{Part: "weekday", TZ: "Europe/Paris"}}},
		{Name: "merchant", Input: "merchant_category", Steps: []Step{Impute{Value: "grocery"},
			OneHot{Categories: []string{"grocery", "travel", "online", "fuel", "restaurant"}, Unknown: "zeros"}}},
		{Name: "country", Input: "country", Steps: []Step{Ordinal{Categories: []string{"US", "GB", "DE", "FR", "ES", "IT", "NL", "SE", "PL", "CA"}, Unknown: "value", UnknownValue: -1}}},
		{Name: "card_present", Input: "card_present"},
		{Name: "tx_count", Input: "tx_count_24h", Steps: []Step{Impute{Value: 0.0}, MinMax{Scale: 0.02, Offset: 0, DataMin: 0, DataMax: 50, OutOfRange: "clip"}}},
		{Name: "age_bucket", Input: "account_age_days", Steps: []Step{Impute{Value: 365.0}, Bucketize{Edges: []float64{30, 90, 365, 1000}}}},
	}
}

func fraudEvent() map[string]any {
	return map[string]any{
		"amount": 120.5, "avg_amount_30d": 60.25, "merchant_category": "travel",
		"card": map[string]any{"country": "FR"}, "timestamp": "2024-06-01T13:45:00Z",
		"card_present": false, "tx_count_24h": 3.0, "account_age_days": 400.0,
	}
}

func mustPipeline(t testing.TB, inputs []Input, feats []Feature) (*Layout, *Pipeline) {
	t.Helper()
	l, err := NewLayout(inputs)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(l, feats)
	if err != nil {
		t.Fatal(err)
	}
	return l, p
}

func TestFraudPipeline(t *testing.T) {
	l, p := mustPipeline(t, fraudInputs(), fraudFeatures())
	wantCols := []string{"amount_scaled", "amount_log", "amount_missing", "amount_ratio", "hour", "weekday",
		"merchant_grocery", "merchant_travel", "merchant_online", "merchant_fuel", "merchant_restaurant",
		"country", "card_present", "tx_count", "age_bucket"}
	if got := strings.Join(p.Columns(), ","); got != strings.Join(wantCols, ",") {
		t.Fatalf("columns: got %s, want %s", got, strings.Join(wantCols, ","))
	}
	row, err := RowFromMap(l, fraudEvent())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, p.Width())
	if rej := p.Transform(row, out, nil); !rej.OK() {
		t.Fatalf("got reject %+v", rej)
	}
	want := []float64{(120.5 - 51.3) / 80.2, math.Log1p(120.5), 0, (120.5/60.25 - 1) / 0.8, 13, 5,
		0, 1, 0, 0, 0, 3, 0, 3 * 0.02, 3}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("column %s: got %v, want %v", wantCols[i], out[i], want[i])
		}
	}
}

func TestRejectsAndCounts(t *testing.T) {
	r := [2]float64{0, 100}
	inputs := []Input{
		{Name: "x", Type: Number, Range: &r},
		{Name: "req", Type: Number, Required: true},
		{Name: "c", Type: Category},
		{Name: "rc", Type: Category, Required: true},
	}
	cats := []string{"a", "b"}
	tests := []struct {
		name        string
		feat        Feature
		event       map[string]any
		wantReason  reject.Reason
		wantFeature string
		wantOOR     uint64
		wantUnknown uint64
		wantOut     []float64
	}{
		{"required number missing", Feature{Name: "f", Input: "x"}, map[string]any{"rc": "a"}, reject.MissingField, "req", 0, 0, nil},
		{"required category missing", Feature{Name: "f", Input: "x"}, map[string]any{"req": 1.0}, reject.MissingField, "rc", 0, 0, nil},
		{"declared range counted", Feature{Name: "f", Input: "x"}, map[string]any{"x": 150.0, "req": 1.0, "rc": "a"}, "", "", 1, 0, []float64{150}},
		{"missing is not out of range", Feature{Name: "f", Input: "x"}, map[string]any{"req": 1.0, "rc": "a"}, "", "", 0, 0, []float64{math.NaN()}},
		{"minmax reject", Feature{Name: "f", Input: "req", Steps: []Step{MinMax{Scale: 1, DataMin: 0, DataMax: 10, OutOfRange: "reject"}}},
			map[string]any{"req": 11.0, "rc": "a"}, reject.OutOfRange, "f", 1, 0, nil},
		{"minmax extrapolate counts", Feature{Name: "f", Input: "req", Steps: []Step{MinMax{Scale: 0.1, Offset: 0, DataMin: 0, DataMax: 10}}},
			map[string]any{"req": 20.0, "rc": "a"}, "", "", 1, 0, []float64{2}},
		{"minmax clip", Feature{Name: "f", Input: "req", Steps: []Step{MinMax{Scale: 0.1, Offset: 0, DataMin: 0, DataMax: 10, OutOfRange: "clip"}}},
			map[string]any{"req": -5.0, "rc": "a"}, "", "", 1, 0, []float64{0}},
		{"range and minmax count once", Feature{Name: "f", Input: "x", Steps: []Step{MinMax{Scale: 0.1, Offset: 0, DataMin: 0, DataMax: 10}}},
			map[string]any{"x": 200.0, "req": 1.0, "rc": "a"}, "", "", 1, 0, []float64{20}},
		{"onehot reject unknown", Feature{Name: "f", Input: "c", Steps: []Step{OneHot{Categories: cats, Unknown: "reject"}}},
			map[string]any{"c": "z", "req": 1.0, "rc": "a"}, reject.UnknownCategory, "f", 0, 1, nil},
		{"onehot default is reject", Feature{Name: "f", Input: "c", Steps: []Step{OneHot{Categories: cats}}},
			map[string]any{"req": 1.0, "rc": "a"}, reject.UnknownCategory, "f", 0, 1, nil},
		{"onehot unknown column", Feature{Name: "f", Input: "c", Steps: []Step{OneHot{Categories: cats, Unknown: "column"}}},
			map[string]any{"c": "z", "req": 1.0, "rc": "a"}, "", "", 0, 1, []float64{0, 0, 1}},
		{"onehot known in column mode", Feature{Name: "f", Input: "c", Steps: []Step{OneHot{Categories: cats, Unknown: "column"}}},
			map[string]any{"c": "b", "req": 1.0, "rc": "a"}, "", "", 0, 0, []float64{0, 1, 0}},
		{"onehot dropped category", Feature{Name: "f", Input: "c", Steps: []Step{OneHot{Categories: cats, Unknown: "zeros", Drop: ptr("a")}}},
			map[string]any{"c": "a", "req": 1.0, "rc": "a"}, "", "", 0, 0, []float64{0}},
		{"ordinal reject", Feature{Name: "f", Input: "c", Steps: []Step{Ordinal{Categories: cats}}},
			map[string]any{"c": "q", "req": 1.0, "rc": "a"}, reject.UnknownCategory, "f", 0, 1, nil},
		{"ordinal nan value", Feature{Name: "f", Input: "c", Steps: []Step{Ordinal{Categories: cats, Unknown: "value", UnknownValue: math.NaN()}}},
			map[string]any{"c": "q", "req": 1.0, "rc": "a"}, "", "", 0, 1, []float64{math.NaN()}},
		{"bucketize missing rejects", Feature{Name: "f", Input: "x", Steps: []Step{Bucketize{Edges: []float64{1, 2}}}},
			map[string]any{"req": 1.0, "rc": "a"}, reject.MissingField, "f", 0, 0, nil},
		{"infinite input", Feature{Name: "f", Input: "x"}, map[string]any{"x": math.Inf(1), "req": 1.0, "rc": "a"}, reject.NotFinite, "x", 0, 0, nil},
		{"infinite feature", Feature{Name: "f", Input: "x", Steps: []Step{Log1p{}}}, map[string]any{"x": -1.0, "req": 1.0, "rc": "a"}, reject.NotFinite, "f", 1, 0, nil},
		{"log1p below -1 is missing", Feature{Name: "f", Input: "req", Steps: []Step{Log1p{}}}, map[string]any{"req": -2.0, "rc": "a"}, "", "", 0, 0, []float64{math.NaN()}},
		{"indicator of category", Feature{Name: "f", Input: "c", Steps: []Step{Indicator{}}}, map[string]any{"req": 1.0, "rc": "a"}, "", "", 0, 0, []float64{1}},
		{"ratio on zero nan", Feature{Name: "f", Derive: &Derive{Op: "ratio", A: "x", B: "req", OnZero: math.NaN()}}, map[string]any{"x": 1.0, "req": 0.0, "rc": "a"}, "", "", 0, 0, []float64{math.NaN()}},
		{"timestamp scaled as a number", Feature{Name: "f", Input: "req", Steps: []Step{Standard{Mean: 1, Scale: 2}}}, map[string]any{"req": 5.0, "rc": "a"}, "", "", 0, 0, []float64{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, p := mustPipeline(t, inputs, []Feature{tt.feat})
			row, err := RowFromMap(l, tt.event)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]float64, p.Width())
			c := p.NewCounts()
			rej := p.Transform(row, out, c)
			if rej.Reason != tt.wantReason || rej.Feature != tt.wantFeature {
				t.Errorf("reject: got %+v, want {%s %s}", rej, tt.wantReason, tt.wantFeature)
			}
			if c.OutOfRange[0] != tt.wantOOR || c.Unknown[0] != tt.wantUnknown {
				t.Errorf("counts: got out-of-range %d unknown %d, want %d and %d", c.OutOfRange[0], c.Unknown[0], tt.wantOOR, tt.wantUnknown)
			}
			if tt.wantOut != nil {
				for i := range tt.wantOut {
					if out[i] != tt.wantOut[i] && !(math.IsNaN(out[i]) && math.IsNaN(tt.wantOut[i])) {
						t.Errorf("column %d: got %v, want %v", i, out[i], tt.wantOut[i])
					}
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestCompileErrors(t *testing.T) {
	inputs := []Input{{Name: "x", Type: Number}, {Name: "c", Type: Category}, {Name: "ts", Type: Timestamp}}
	tests := []struct {
		name  string
		feats []Feature
		want  string
	}{
		{"no features", nil, "no features"},
		{"unknown input", []Feature{{Name: "f", Input: "nope"}}, `input "nope" is not declared`},
		{"both sources", []Feature{{Name: "f", Input: "x", Derive: &Derive{Op: "ratio", A: "x", B: "x"}}}, "both input and derive"},
		{"no source", []Feature{{Name: "f"}}, "needs an input or a derive"},
		{"duplicate feature", []Feature{{Name: "f", Input: "x"}, {Name: "f", Input: "x"}}, "declared twice"},
		{"category not encoded", []Feature{{Name: "f", Input: "c"}}, "encode it with onehot or ordinal"},
		{"standard on category", []Feature{{Name: "f", Input: "c", Steps: []Step{Standard{Scale: 1}}}}, "applies to a number"},
		{"zero scale", []Feature{{Name: "f", Input: "x", Steps: []Step{Standard{Scale: 0}}}}, "scale non-zero"},
		{"onehot on number", []Feature{{Name: "f", Input: "x", Steps: []Step{OneHot{Categories: []string{"a"}}}}}, "applies to a category"},
		{"step after onehot", []Feature{{Name: "f", Input: "c", Steps: []Step{OneHot{Categories: []string{"a"}}, Log1p{}}}}, "already wrote the columns"},
		{"duplicate category", []Feature{{Name: "f", Input: "c", Steps: []Step{OneHot{Categories: []string{"a", "a"}}}}}, "listed twice"},
		{"drop not a category", []Feature{{Name: "f", Input: "c", Steps: []Step{OneHot{Categories: []string{"a"}, Drop: ptr("b")}}}}, "not one of the categories"},
		{"edges descending", []Feature{{Name: "f", Input: "x", Steps: []Step{Bucketize{Edges: []float64{2, 1}}}}}, "ascending"},
		{"bad tz", []Feature{{Name: "f", Input: "ts", Steps: []Step{Datepart{Part: "hour", TZ: "Mars/Olympus"}}}}, "not an IANA zone"},
		{"datepart on number", []Feature{{Name: "f", Input: "x", Steps: []Step{Datepart{Part: "hour"}}}}, "applies to a timestamp"},
		{"bad part", []Feature{{Name: "f", Input: "ts", Steps: []Step{Datepart{Part: "second"}}}}, `part "second"`},
		{"impute type", []Feature{{Name: "f", Input: "c", Steps: []Step{Impute{Value: 1.0}, Ordinal{Categories: []string{"a"}}}}}, "must be a string"},
		{"derive of category", []Feature{{Name: "f", Derive: &Derive{Op: "ratio", A: "x", B: "c"}}}, `"c" is a category`},
		{"derive op", []Feature{{Name: "f", Derive: &Derive{Op: "sum", A: "x", B: "x"}}}, `unknown op "sum"`},
		{"column clash", []Feature{{Name: "f_a", Input: "x"}, {Name: "f", Input: "c", Steps: []Step{OneHot{Categories: []string{"a"}}}}}, `"f_a" produced twice`},
		{"minmax order", []Feature{{Name: "f", Input: "x", Steps: []Step{MinMax{Scale: 1, DataMin: 2, DataMax: 1}}}}, "data_min <= data_max"},
		{"unknown policy", []Feature{{Name: "f", Input: "c", Steps: []Step{OneHot{Categories: []string{"a"}, Unknown: "ignore"}}}}, `unknown "ignore"`},
	}
	l, err := NewLayout(inputs)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(l, tt.feats)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestFeatureStrictJSON(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"unknown feature key", `{"name":"f","input":"x","stepz":[]}`, `unknown key "stepz"`},
		{"unknown step key", `{"name":"f","input":"x","steps":[{"op":"standard","mean":1,"scale":2,"with_mean":true}]}`, `steps[0]: op "standard": unknown key "with_mean"`},
		{"key of another op", `{"name":"f","input":"x","steps":[{"op":"impute","value":1,"edges":[1]}]}`, `unknown key "edges"`},
		{"missing required", `{"name":"f","input":"x","steps":[{"op":"standard","mean":1}]}`, `missing key "scale"`},
		{"unknown op", `{"name":"f","input":"x","steps":[{"op":"pca"}]}`, `unknown op "pca"`},
		{"missing op", `{"name":"f","input":"x","steps":[{"mean":1}]}`, `missing key "op"`},
		{"wrong type", `{"name":"f","input":"x","steps":[{"op":"standard","mean":"1","scale":2}]}`, `key "mean": got JSON string, want a number`},
		{"derive key", `{"name":"f","derive":{"op":"ratio","a":"x","b":"y","c":"z"}}`, `derive: unknown key "c"`},
		{"bad on_zero", `{"name":"f","derive":{"op":"ratio","a":"x","b":"y","on_zero":"inf"}}`, `on_zero`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Feature
			err := json.Unmarshal([]byte(tt.json), &f)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
	var f Feature
	good := `{"name":"f","derive":{"op":"ratio","a":"x","b":"y"},"steps":[{"op":"ordinal","categories":["a"],"unknown":"value","unknown_value":null},{"op":"impute","value":"k"}]}`
	if err := json.Unmarshal([]byte(good), &f); err != nil {
		t.Fatal(err)
	}
	ord, ok0 := f.Steps[0].(Ordinal)
	imp, ok1 := f.Steps[1].(Impute)
	if !ok0 || !ok1 || !math.IsNaN(f.Derive.OnZero) || !math.IsNaN(ord.UnknownValue) || imp.Value != "k" {
		t.Errorf("got %+v, want Ordinal with unknown_value NaN, Impute with value \"k\", on_zero NaN", f)
	}
}

func TestTransformDoesNotAllocate(t *testing.T) {
	l, p := mustPipeline(t, fraudInputs(), fraudFeatures())
	row, err := RowFromMap(l, fraudEvent())
	if err != nil {
		t.Fatal(err)
	}
	// large category table: map lookup path
	cats := make([]string, 300)
	for i := range cats {
		cats[i] = "c" + string(rune('A'+i%26)) + string(rune('a'+i/26))
	}
	out := make([]float64, p.Width())
	c := p.NewCounts()
	if n := testing.AllocsPerRun(100, func() { p.Transform(row, out, c) }); n != 0 {
		t.Errorf("got %v allocations per Transform, want 0", n)
	}
	l2, p2 := mustPipeline(t, []Input{{Name: "c", Type: Category}},
		[]Feature{{Name: "f", Input: "c", Steps: []Step{OneHot{Categories: cats, Unknown: "zeros"}}}})
	row2, _ := RowFromMap(l2, map[string]any{"c": cats[57]})
	out2 := make([]float64, p2.Width())
	if n := testing.AllocsPerRun(100, func() { p2.Transform(row2, out2, nil) }); n != 0 {
		t.Errorf("got %v allocations per Transform with a map lookup, want 0", n)
	}
	p2.Transform(row2, out2, nil)
	if out2[57] != 1 {
		t.Errorf("map lookup: got column 57 = %v, want 1", out2[57])
	}
}

func TestRowInputs(t *testing.T) {
	l, err := NewLayout(fraudInputs())
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name  string
		event map[string]any
		want  string
	}{
		{"number as string", map[string]any{"amount": "12"}, `field "amount": want a number, got a string`},
		{"category as number", map[string]any{"merchant_category": 3.0}, `want a string category`},
		{"bad timestamp", map[string]any{"timestamp": "yesterday"}, `neither RFC 3339`},
		{"bool as string", map[string]any{"card_present": "yes"}, `want true or false`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RowFromMap(l, tt.event)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
	r := l.NewRow()
	for i, s := range []string{"12.5", "", "fuel", "FR", "1717249500000", "true", "nan", "inf"} {
		if err := l.SetText(r, i, s); err != nil {
			t.Fatalf("SetText(%d, %q): %v", i, s, err)
		}
	}
	if r.Num[0] != 12.5 || !math.IsNaN(r.Num[1]) || string(r.Cat[0]) != "fuel" || r.Num[2] != 1717249500000 || r.Num[3] != 1 ||
		!math.IsNaN(r.Num[4]) || !math.IsInf(r.Num[5], 1) {
		t.Errorf("SetText: got Num %v Cat %q", r.Num, r.Cat)
	}
	if err := l.SetText(r, 0, "twelve"); err == nil {
		t.Error("SetText of a non-number: got nil error")
	}
	ms, err := ParseTimestamp("2024-06-01T13:45:00.123+02:00")
	if err != nil || ms != 1717242300123 {
		t.Errorf("ParseTimestamp: got %v, %v, want 1717242300123", ms, err)
	}
}

func BenchmarkFraudPipeline(b *testing.B) {
	l, p := mustPipeline(b, fraudInputs(), fraudFeatures())
	row, err := RowFromMap(l, fraudEvent())
	if err != nil {
		b.Fatal(err)
	}
	out := make([]float64, p.Width())
	c := p.NewCounts()
	b.ReportAllocs()
	for b.Loop() {
		p.Transform(row, out, c)
	}
}

// TestDatepartMatchesTime checks the arithmetic datepart against the time
// package over two centuries, in zones with DST, half-hour and 45-minute
// offsets.
func TestDatepartMatchesTime(t *testing.T) {
	zones := []string{"UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham", "Europe/Paris"}
	seed := uint64(42)
	for _, z := range zones {
		loc, err := time.LoadLocation(z)
		if err != nil {
			t.Fatal(err)
		}
		zn := newZone(loc)
		for i := 0; i < 20000; i++ {
			seed = seed*6364136223846793005 + 1442695040888963407
			ms := int64(seed>>1)%(600*365*86400000) - 270*365*86400000 // 1700..2300: table and fallbacks
			tt := time.UnixMilli(ms).In(loc)
			want := [...]float64{float64(tt.Hour()), float64((int(tt.Weekday()) + 6) % 7), float64(tt.Month()), float64(tt.YearDay()), float64(tt.Minute())}
			for part := partHour; part <= partMinute; part++ {
				if got := zn.part(float64(ms), part); got != want[part] {
					t.Fatalf("%s %v part %d: got %v, want %v", z, tt, part, got, want[part])
				}
			}
		}
	}
}

// TestCatTable checks lookups for every member and some non-members, for
// table sizes on both sides of the small-table limit and for names that
// collide in the cheap hash (same length, same first, middle and last byte).
func TestCatTable(t *testing.T) {
	for _, n := range []int{1, 2, 3, 8, 9, 17, 100, smallTableMax, smallTableMax + 1, 1000} {
		cats := make([]string, n)
		for i := range cats {
			cats[i] = "a" + string(rune('A'+i%26)) + string(rune('A'+i/26%26)) + string(rune('A'+i/676)) + "a" // collide on first/last byte
		}
		tb := newCatTable(cats)
		for i, c := range cats {
			if got := tb.Index([]byte(c)); got != i {
				t.Fatalf("n=%d: lookup(%q) = %d, want %d", n, c, got, i)
			}
		}
		for _, miss := range []string{"", "a", "zzz", "aAAAb", cats[0] + "x"} {
			if got := tb.Index([]byte(miss)); got != -1 && cats[got] != miss {
				t.Fatalf("n=%d: lookup(%q) = %d, want -1", n, miss, got)
			}
		}
		if tb.Index(nil) != -1 {
			t.Fatalf("n=%d: lookup(nil) found something", n)
		}
	}
}

// TestFeatureJSONRoundTrip: a feature written by MarshalJSON decodes to the
// same steps, each as its op's type.
func TestFeatureJSONRoundTrip(t *testing.T) {
	for _, ft := range fraudFeatures() {
		if ft.Derive != nil { // on_zero NaN has no JSON number
			continue
		}
		t.Run(ft.Name, func(t *testing.T) {
			raw, err := json.Marshal(ft)
			if err != nil {
				t.Fatal(err)
			}
			var got Feature
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("decode %s: %v", raw, err)
			}
			if !reflect.DeepEqual(got, ft) {
				t.Errorf("got %+v, want %+v (JSON %s)", got, ft, raw)
			}
		})
	}
}

// TestDatepartYearsOneTo9999: a part of a time outside years 1-9999 UTC is
// missing (the exporter's derive.datepart gives NaN there too); inside, at
// both ends, it is the time package's, also where the local year is 0 or
// 10000.
func TestDatepartYearsOneTo9999(t *testing.T) {
	const lo, hi = -62135596800000, 253402300800000 // 0001-01-01T00:00:00Z, 10000-01-01T00:00:00Z
	for _, z := range []string{"UTC", "Europe/Berlin", "America/New_York", "Pacific/Kiritimati"} {
		loc, err := time.LoadLocation(z)
		if err != nil {
			t.Fatal(err)
		}
		zn := newZone(loc)
		for _, c := range []struct {
			ms      float64
			missing bool
		}{
			{lo - 1, true}, {lo, false}, {lo + 3600e3, false},
			{hi - 1, false}, {hi - 3600e3, false}, {hi, true},
			{1e15, true}, {-1e15, true}, {9e15, true}, {1e300, true}, {math.Inf(1), true},
		} {
			for part := partHour; part <= partMinute; part++ {
				got := zn.part(c.ms, part)
				if c.missing {
					if got == got {
						t.Errorf("%s ms %v part %d: got %v, want missing", z, c.ms, part, got)
					}
					continue
				}
				tt := time.UnixMilli(int64(c.ms)).In(loc)
				want := [...]float64{float64(tt.Hour()), float64((int(tt.Weekday()) + 6) % 7), float64(tt.Month()), float64(tt.YearDay()), float64(tt.Minute())}
				if got != want[part] {
					t.Errorf("%s %v part %d: got %v, want %v", z, tt, part, got, want[part])
				}
			}
		}
	}
}
