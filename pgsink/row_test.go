package pgsink

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas"
)

func strp(s string) *string { return &s }

// encoded is a prediction as the service writes it, so the sink is tested
// against the real encoder's output, not a hand-written copy of it.
func encoded(t testing.TB, p schemas.Prediction, echo bool) []byte {
	t.Helper()
	enc, err := schemas.NewEncoder(context.Background(), schemas.OutputConfig{Format: schemas.FormatJSON, EchoFeatures: echo}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := enc.Append(nil, &p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRowFromEncoder(t *testing.T) {
	scored := time.UnixMilli(1_764_000_000_123).UTC()
	event := time.UnixMilli(1_763_999_999_000).UTC()
	for _, tc := range []struct {
		name string
		p    schemas.Prediction
		echo bool
		want Row
	}{
		{
			name: "binary with label, no features",
			p: schemas.Prediction{Key: []byte("card-7"), EventID: []byte("tx-1"), EventTime: event, ScoredTime: scored,
				Model: "fraud", ModelVersion: "3", Score: 0.25, Label: "Low Risk",
				Classes: []string{"0", "1"}, Probs: []float64{0.75, 0.25}},
			want: Row{Model: "fraud", ModelVersion: "3", EventID: strp("tx-1"), Key: strp("card-7"), EventTime: &event,
				ScoredTime: scored, Label: strp("Low Risk"), Score: 0.25, Probabilities: []byte(`{"0":0.75,"1":0.25}`)},
		},
		{
			name: "no key, id, event time or label; features echoed with a missing value",
			p: schemas.Prediction{ScoredTime: scored, Model: "iris", ModelVersion: "1", Score: 0.9,
				Classes: []string{"setosa", "versicolor", "virginica"}, Probs: []float64{0.9, 0.07, 0.03},
				FeatureNames: []string{"sepal length (cm)", "petal width"}, Features: []float64{5.1, nan()}},
			echo: true,
			want: Row{Model: "iris", ModelVersion: "1", ScoredTime: scored, Score: 0.9,
				Probabilities: []byte(`{"setosa":0.9,"versicolor":0.07,"virginica":0.03}`),
				Features:      []byte(`{"sepal length (cm)":5.1,"petal width":null}`)},
		},
		{
			name: "regression: no classes",
			p:    schemas.Prediction{ScoredTime: scored, Model: "churn", ModelVersion: "2", Score: -12.5},
			want: Row{Model: "churn", ModelVersion: "2", ScoredTime: scored, Score: -12.5, Probabilities: []byte(`{}`)},
		},
		{
			name: "NUL and quotes in text become storable",
			p: schemas.Prediction{Key: []byte("a\x00b"), ScoredTime: scored, Model: "m\"x", ModelVersion: "1",
				Score: 1, Classes: []string{"c\x00"}, Probs: []float64{1}},
			want: Row{Model: "m\"x", ModelVersion: "1", Key: strp("a\uFFFDb"), ScoredTime: scored, Score: 1,
				Probabilities: []byte("{\"c\uFFFD\":1}")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRow(encoded(t, tc.p, tc.echo), "preds", 3, 42)
			if err != nil {
				t.Fatalf("ParseRow: %v", err)
			}
			tc.want.Topic, tc.want.Partition, tc.want.Offset = "preds", 3, 42
			if d := diffRow(got, tc.want); d != "" {
				t.Errorf("row differs: %s", d)
			}
		})
	}
}

// TestParseRowRaw: records not written by this encoder that still parse:
// what a newer writer may add is ignored, as is a key in another case
// (not the field), and invalid UTF-8 becomes U+FFFD as the encoder would
// have written it.
func TestParseRowRaw(t *testing.T) {
	const ok = `"scored_time":1764000000123,"model_version":"1","score":0.5,"probabilities":[{"class":"a","probability":1}]`
	base := Row{Model: "m", ModelVersion: "1", ScoredTime: time.UnixMilli(1_764_000_000_123).UTC(), Score: 0.5,
		Probabilities: []byte(`{"a":1}`), Topic: "preds", Offset: 7}
	bad := base
	bad.Model = "m\uFFFD"
	for _, tc := range []struct {
		name, value string
		want        Row
	}{
		{"unknown fields at every level", `{"model":"m",` + ok + `,"calibrated":true,"explain":{"top":[1,2]},` +
			`"features":[{"name":"x","value":2,"unit":"s"}]}`, withFeatures(base, `{"x":2}`)},
		{"a key in another case is an unknown field", `{"model":"m","Model":"other","SCORE":9,` + ok + `}`, base},
		{"invalid UTF-8", "{\"model\":\"m\xff\"," + ok + "}", bad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRow([]byte(tc.value), "preds", 0, 7)
			if err != nil {
				t.Fatalf("ParseRow(%q): %v", tc.value, err)
			}
			if d := diffRow(got, tc.want); d != "" {
				t.Errorf("row differs: %s", d)
			}
		})
	}
}

func withFeatures(r Row, features string) Row {
	r.Features = []byte(features)
	return r
}

func TestParseRowRejects(t *testing.T) {
	const ok = `"scored_time":1764000000000,"model":"m","model_version":"1","score":0.5,"probabilities":[]`
	for _, tc := range []struct {
		name, value string
		reason      reject.Reason
		field       string
	}{
		{"empty", ``, reject.Malformed, ""},
		{"tombstone null", `null`, reject.Malformed, ""},
		{"not json", `{"model":`, reject.Malformed, ""},
		{"not an object", `[1,2]`, reject.Malformed, ""},
		{"no model", `{"scored_time":1,"model_version":"1","score":0.5,"probabilities":[]}`, reject.MissingField, "model"},
		{"null score", `{"scored_time":1,"model":"m","model_version":"1","score":null,"probabilities":[]}`, reject.MissingField, "score"},
		{"no scored_time", `{"model":"m","model_version":"1","score":0.5,"probabilities":[]}`, reject.MissingField, "scored_time"},
		{"no probabilities", `{"scored_time":1,"model":"m","model_version":"1","score":0.5}`, reject.MissingField, "probabilities"},
		{"score as string", `{"scored_time":1,"model":"m","model_version":"1","score":"0.5","probabilities":[]}`, reject.WrongType, "score"},
		{"score too large", `{"scored_time":1,"model":"m","model_version":"1","score":1e999,"probabilities":[]}`, reject.NotFinite, "score"},
		{"fractional time", `{"scored_time":1.5,"model":"m","model_version":"1","score":0.5,"probabilities":[]}`, reject.WrongType, "scored_time"},
		{"time past year 9999", `{"scored_time":253402300800000,"model":"m","model_version":"1","score":0.5,"probabilities":[]}`, reject.WrongType, "scored_time"},
		{"event_time before year 1", `{"event_time":-62135596800001,` + ok + `}`, reject.WrongType, "event_time"},
		{"class without probability", `{"scored_time":1,"model":"m","model_version":"1","score":0.5,"probabilities":[{"class":"a"}]}`, reject.MissingField, "probabilities[0].probability"},
		{"duplicate class", `{"scored_time":1,"model":"m","model_version":"1","score":0.5,"probabilities":[{"class":"a","probability":1},{"class":"a","probability":0}]}`, reject.WrongType, "probabilities[1].class"},
		{"feature without name", `{` + ok + `,"features":[{"value":1}]}`, reject.MissingField, "features[0].name"},
		{"features not a list", `{` + ok + `,"features":{"a":1}}`, reject.WrongType, "features"},
		// Keys are exact: a repeated key is refused (which value did the
		// writer mean?), at any depth and in fields the sink ignores too;
		// a key in another case is not the field.
		{"repeated score", `{` + ok + `,"score":0.9}`, reject.Malformed, "score"},
		{"repeated model, same value", `{"model":"m",` + ok + `}`, reject.Malformed, "model"},
		{"repeated class key", `{"scored_time":1,"model":"m","model_version":"1","score":0.5,"probabilities":[{"class":"a","class":"b","probability":1}]}`, reject.Malformed, "probabilities[0].class"},
		{"repeated feature value", `{` + ok + `,"features":[{"name":"x","value":1},{"name":"y","value":1,"value":2}]}`, reject.Malformed, "features[1].value"},
		{"repeated unknown key", `{` + ok + `,"extra":1,"extra":2}`, reject.Malformed, "extra"},
		{"Score is not score", `{"scored_time":1,"model":"m","model_version":"1","Score":0.5,"probabilities":[]}`, reject.MissingField, "score"},
		{"MODEL is not model", `{"scored_time":1,"MODEL":"m","model_version":"1","score":0.5,"probabilities":[]}`, reject.MissingField, "model"},
		{"Class is not class", `{"scored_time":1,"model":"m","model_version":"1","score":0.5,"probabilities":[{"Class":"a","probability":1}]}`, reject.MissingField, "probabilities[0].class"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRow([]byte(tc.value), "preds", 0, 7)
			if err == nil {
				t.Fatalf("ParseRow(%q) = nil error, want %s", tc.value, tc.reason)
			}
			var re *reject.Error
			reason, _ := reject.Of(err)
			if reason != tc.reason {
				t.Errorf("reason %q, want %q (err %v)", reason, tc.reason, err)
			}
			if errors.As(err, &re) && re.Field != tc.field {
				t.Errorf("field %q, want %q (err %v)", re.Field, tc.field, err)
			}
		})
	}
}
