package pgsink

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas"
)

// FuzzParseRow: any record value is a row PostgreSQL can store (text
// without NUL and in UTF-8, jsonb that is JSON without \u0000, a finite
// score, times in years 1-9999), or a *reject.Error with a reason of the
// vocabulary and a message; never a panic, never a row the server would
// refuse as text or jsonb. `make fuzz` runs it; `go test` runs the seeds.
func FuzzParseRow(f *testing.F) {
	f.Add(encoded(f, schemas.Prediction{Key: []byte("k\x00"), EventID: []byte("e"), Model: "m", ModelVersion: "1", Score: 0.5,
		Label: "L", Classes: []string{"a", "b\"c"}, Probs: []float64{0.5, 0.5}, FeatureNames: []string{"x", "y"},
		Features: []float64{1, math.NaN()}}, true))
	for _, s := range []string{
		`{"scored_time":1764000000000,"model":"m","model_version":"1","score":0.5,"probabilities":[{"class":"\u0000","probability":1}]}`,
		`{"scored_time":-62135596800001,"model":"m","model_version":"1","score":0.5,"probabilities":[]}`,
		`{"scored_time":1,"model":"m","model_version":"1","score":0.5,"probabilities":[{"class":"a","probability":1},{"class":"a","probability":0}]}`,
		`{"scored_time":1,"model":"\xff","model_version":"1","score":1e308,"probabilities":[],"features":[{"name":"n","value":null}]}`,
		`{"scored_time":1,"model":"m","model_version":"1","score":0.5,"score":0.9,"probabilities":[]}`,
		`{"scored_time":1,"Model":"m","model_version":"1","score":0.5,"probabilities":[{"class":"a","probability":1,"probability":0}]}`,
		`null`, ``, `[]`, `{"score":1e999}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		r, err := ParseRow(value, "t", 0, 1)
		if err != nil {
			var re *reject.Error
			if !errors.As(err, &re) || !reject.Known(re.Reason) || err.Error() == "" {
				t.Fatalf("%q: error %v (%T) is not a reject of the vocabulary", value, err, err)
			}
			return
		}
		text := []*string{&r.Model, &r.ModelVersion, r.EventID, r.Key, r.Label}
		for _, s := range text {
			if s != nil && (strings.IndexByte(*s, 0) >= 0 || !utf8.ValidString(*s)) {
				t.Fatalf("%q: text %q is not storable", value, *s)
			}
		}
		for _, j := range [][]byte{r.Probabilities, r.Features} {
			if j != nil && (!json.Valid(j) || bytes.Contains(j, []byte(`\u0000`)) || j[0] != '{') {
				t.Fatalf("%q: jsonb %s is not a storable object", value, j)
			}
		}
		if math.IsNaN(r.Score) || math.IsInf(r.Score, 0) {
			t.Fatalf("%q: score %v", value, r.Score)
		}
		if r.ScoredTime.Before(minTime) || r.ScoredTime.After(maxTime) || (r.EventTime != nil && (r.EventTime.Before(minTime) || r.EventTime.After(maxTime))) {
			t.Fatalf("%q: times %v %v outside years 1-9999", value, r.ScoredTime, r.EventTime)
		}
	})
}
