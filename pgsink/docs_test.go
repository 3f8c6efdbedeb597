package pgsink

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamscore/streamscore/internal/doctest"
)

// sinkSection is docs/operations.md's "PostgreSQL sink" section.
func sinkSection(t *testing.T) string {
	t.Helper()
	return doctest.Section(t, "../docs/operations.md", "## PostgreSQL sink")
}

// TestDocsDDL keeps the DDL in docs/operations.md equal to the one the sink runs.
func TestDocsDDL(t *testing.T) {
	s := sinkSection(t)
	i := strings.Index(s, "```sql\n")
	if i < 0 {
		t.Fatal("the PostgreSQL sink section has no ```sql block")
	}
	block := s[i+len("```sql\n"):]
	block = block[:strings.Index(block, "```")]
	if want := newTables("predictions").ddl() + "\n"; block != want {
		t.Errorf("docs/operations.md DDL differs from pgsink/schema.go (table predictions); want:\n%s", want)
	}
}

// TestDocsKeysAndMetrics: the section's tables list every config key and
// every metric, and nothing else.
func TestDocsKeysAndMetrics(t *testing.T) {
	s := sinkSection(t)
	var keys []string
	ct := reflect.TypeOf(Config{})
	for i := range ct.NumField() {
		if k := ct.Field(i).Tag.Get("config"); k != "" && k != "-" {
			keys = append(keys, "sink.postgres."+k)
		}
	}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.RecordsSkipped.WithLabelValues("x")
	m.Lag.WithLabelValues("x", "0")
	m.Errors.WithLabelValues("x")
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var metrics []string
	for _, f := range fams {
		metrics = append(metrics, f.GetName())
	}
	for _, tc := range []struct {
		what string
		re   *regexp.Regexp
		want []string
	}{
		{"config keys", regexp.MustCompile("(?m)^\\| `(sink\\.postgres\\.[a-z_]+)` \\|"), keys},
		{"metrics", regexp.MustCompile("(?m)^\\| `(streamscore_sink_[a-z_]+)[`{]"), metrics},
	} {
		var got []string
		for _, m := range tc.re.FindAllStringSubmatch(s, -1) {
			got = append(got, m[1])
		}
		slices.Sort(got)
		slices.Sort(tc.want)
		if !slices.Equal(got, tc.want) {
			t.Errorf("docs/operations.md lists %s %v, the code has %v", tc.what, got, tc.want)
		}
	}
}

// TestDocsExactKeys: the section's word on other-case and repeated keys is
// what ParseRow does, its example error included.
func TestDocsExactKeys(t *testing.T) {
	s := strings.Join(strings.Fields(sinkSection(t)), " ") // the doc wraps lines anywhere
	const repeated = "malformed: field probabilities[0].class: the key appears twice in its object"
	for _, tc := range []struct{ value, wantErr, claim string }{
		{`{"scored_time":1,"model":"m","model_version":"1","Score":0.5,"probabilities":[]}`,
			"missing_field: field score: absent or null", "a record with only `\"Score\"` is `missing_field` on `score`"},
		{`{"scored_time":1,"model":"m","model_version":"1","score":0.5,"probabilities":[{"class":"a","class":"b","probability":1}]}`,
			repeated, "`" + repeated + "`"},
	} {
		if _, err := ParseRow([]byte(tc.value), "preds", 0, 1); err == nil || err.Error() != tc.wantErr {
			t.Errorf("ParseRow(%s) = %v, want %s", tc.value, err, tc.wantErr)
		}
		if !strings.Contains(s, tc.claim) {
			t.Errorf("docs/operations.md does not say %s", tc.claim)
		}
	}
}
