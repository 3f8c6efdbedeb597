package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
)

// The dashboard and the alert rules against what the built binary serves:
// TestPromQL and TestPromQLLabels check them against the packages'
// registries, which hold collectors that never emit a series (kprom's) and
// miss what only cmd's wiring adds. Here `streamscore run` and `streamscore
// serve` run as an SRE runs them, see traffic (a poison record, a rejected
// HTTP event), and their /metrics scrapes are the catalogue.

// absentFromScrape are the names the queries use that the scrape may lack
// after the traffic TestQueriesMatchScrape sends, each with why. Their
// labels are checked against the registries (knownMetrics) instead. A name
// listed here that the scrape does carry fails the test, so the list stays
// exact, unless flaky says it can appear by chance.
var absentFromScrape = map[string]struct {
	reason string
	flaky  bool // it appears when something goes wrong by chance (a dropped connection)
}{
	// franz-go's kprom registers these vectors at start but makes a
	// series (per broker node, or per topic) only at the first error.
	"streamscore_connect_errors_total": {reason: "kprom: only after a failed connection", flaky: true},
	"streamscore_read_errors_total":    {reason: "kprom: only after a failed read from a broker", flaky: true},
	"streamscore_write_errors_total":   {reason: "kprom: only after a failed write to a broker", flaky: true},
	"streamscore_produce_errors_total": {reason: "kprom: only after a produce request failed", flaky: true},
	// `streamscore sink postgres` needs PostgreSQL; this test runs the
	// stream and the HTTP door only (the sink's own tests check it serves these).
	"streamscore_sink_assigned_partitions":           {reason: "sink not run"},
	"streamscore_sink_batch_duration_seconds_bucket": {reason: "sink not run"},
	"streamscore_sink_batch_records_bucket":          {reason: "sink not run"},
	"streamscore_sink_errors_total":                  {reason: "sink not run"},
	"streamscore_sink_lag_records":                   {reason: "sink not run"},
	"streamscore_sink_postgres_up":                   {reason: "sink not run"},
	"streamscore_sink_records_skipped_total":         {reason: "sink not run"},
	"streamscore_sink_rows_written_total":            {reason: "sink not run"},
}

// scrapeTimeout bounds the wait for the traffic to show in the scrapes (a
// deadline for a condition, not a measurement).
const scrapeTimeout = 60 * time.Second

// scrapeTarget is a running command whose /metrics the test reads.
type scrapeTarget struct {
	*proctest.Proc
	http string // host:port of /metrics
}

func (s scrapeTarget) scrape() (map[string]*dto.MetricFamily, error) {
	resp, body, err := proctest.HTTPDo(nil, "GET", "http://"+s.http+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s /metrics: HTTP %d", s.Name, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(bytes.NewReader(body))
}

// counted is the sum of family name's series whose labels include want
// (counters and gauges).
func counted(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var sum float64
	for _, m := range fams[name].GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && got[k] == v
		}
		if match {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// streamTopics are the topics and group of `streamscore run`: fresh ones on
// the real broker (STREAMSCORE_TEST_BROKERS), the defaults on the embedded
// broker the service starts (it creates them).
type streamTopics struct {
	brokers                     string // host:port list, or "embedded"
	in, out, dlq, shadow, group string
}

func newStreamTopics(t *testing.T) streamTopics {
	t.Helper()
	if !kafkatest.IsReal() {
		t.Logf("%s not set: `streamscore run` starts its embedded broker", kafkatest.EnvBrokers)
		return streamTopics{brokers: "embedded", in: "transactions", out: "predictions", dlq: "predictions-dlq",
			shadow: "predictions-shadow", group: "streamscore"}
	}
	bs := kafkatest.Brokers(t)
	k := streamTopics{brokers: strings.Join(bs, ","), in: kafkatest.Topic(t, bs, 2), out: kafkatest.Topic(t, bs, 2),
		dlq: kafkatest.Topic(t, bs, 1), shadow: kafkatest.Topic(t, bs, 1), group: kafkatest.UniqueName(t, "g")}
	// Registered before the service starts, so it runs after it stopped.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if _, err := kafkatest.Admin(t, bs).DeleteGroup(ctx, k.group); err != nil {
			t.Logf("delete group %s: %v", k.group, err)
		}
	})
	return k
}

// referenceEvents are the first n events of the fraud bundle's reference
// rows: the edge cases (missing inputs, out-of-range amounts, unseen
// categories) come first.
func referenceEvents(t *testing.T, bundle string, n int) [][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join(bundle, "reference.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() && len(out) < n {
		var row struct {
			Event json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil || len(row.Event) == 0 {
			t.Fatalf("reference.jsonl line %d: no event (%v)", len(out)+1, err)
		}
		out = append(out, row.Event)
	}
	if err := sc.Err(); err != nil || len(out) < n {
		t.Fatalf("reference.jsonl: %d events (%v), want %d", len(out), err, n)
	}
	return out
}

// startCommand writes kv as a config file, starts `streamscore cmd` with it
// and waits for its log line started; http is the address in that line's
// "http" attribute.
func startCommand(t *testing.T, bin, cmd, started string, kv map[string]any) (scrapeTarget, map[string]any) {
	t.Helper()
	path := proctest.WriteConfig(t, kv)
	p := proctest.Start(t, "streamscore "+cmd, proctest.Options{Dir: filepath.Dir(path)}, bin, cmd, "--config", path)
	line := p.WaitLog(scrapeTimeout, started)
	addr, _ := line["http"].(string)
	if addr == "" {
		t.Fatalf("streamscore %s: no http address in %v", cmd, line)
	}
	return scrapeTarget{Proc: p, http: addr}, line
}

// TestQueriesMatchScrape: every metric every dashboard panel, variable and
// annotation and every alert and recording rule selects is in a scrape of
// `streamscore run` or `streamscore serve` (or in absentFromScrape, with
// why), with every label the query matches, groups, joins on or names in a
// legend or annotation.
func TestQueriesMatchScrape(t *testing.T) {
	const events = 100
	bin := buildService(t)
	root, err := proctest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(root, "examples", "fraud")
	k := newStreamTopics(t)

	// The stream, with a shadow model so the shadow's families have series.
	run, started := startCommand(t, bin, "run", "streamscore running", proctest.MergeKeys(proctest.BaseKeys(bundle), map[string]any{
		"kafka.brokers": k.brokers, "kafka.embedded.port": 0, "kafka.embedded.data_dir": "",
		"input.topic": k.in, "output.topic": k.out, "dlq.topic": k.dlq, "input.group": k.group,
		"model.shadow": bundle, "model.shadow_topic": k.shadow,
		"processor.lag_refresh": "1s", "processor.commit_interval": "1s",
		"processor.shutdown_timeout": "10s", "processor.session_timeout": "10s",
	}))
	brokers, _ := started["brokers"].(string) // the embedded broker's address when embedded
	// The HTTP door, logging its predictions and rejects to the stream's
	// topics (so its Kafka client's families exist too).
	serve, _ := startCommand(t, bin, "serve", "streamscore serving", proctest.MergeKeys(proctest.BaseKeys(bundle), map[string]any{
		"kafka.brokers": brokers, "http.log_to_topic": true, "output.topic": k.out, "dlq.topic": k.dlq,
	}))

	recs := []*kgo.Record{{Topic: k.in, Key: []byte("poison"), Value: []byte("{not json")}}
	for i, ev := range referenceEvents(t, bundle, events) {
		recs = append(recs, &kgo.Record{Topic: k.in, Key: fmt.Appendf(nil, "card-%d", i), Value: ev})
	}
	kafkatest.ProduceRecords(t, strings.Split(brokers, ","), recs)
	ev := recs[1].Value
	for _, c := range []struct {
		body string
		want int
	}{{string(ev), http.StatusOK}, {`{"amount": "lots", "timestamp": 1}`, http.StatusBadRequest}} {
		resp, answer := proctest.HTTP(t, nil, "POST", "http://"+serve.http+"/v1/predict", strings.NewReader(c.body), "Content-Type", "application/json")
		if resp.StatusCode != c.want {
			t.Fatalf("POST /v1/predict %s: %d %s, want %d", c.body, resp.StatusCode, answer, c.want)
		}
	}

	known := knownMetrics(t)
	qs := append(ruleQueries(t), dashboardQueries(t)...)
	var scraped catalogue // what the scrapes hold, without the absent names or Prometheus's
	used := map[string]bool{}
	proctest.Eventually(t, scrapeTimeout, "the traffic in the scrapes and every query served", func() error {
		runFams, err := run.scrape()
		if err != nil {
			return err
		}
		serveFams, err := serve.scrape()
		if err != nil {
			return err
		}
		for _, w := range []struct {
			fams   map[string]*dto.MetricFamily
			name   string
			labels map[string]string
			want   float64
		}{
			{runFams, "streamscore_records_consumed_total", nil, events + 1},
			{runFams, "streamscore_dlq_records_total", nil, 1},
			{runFams, "streamscore_shadow_predictions_total", nil, 1},
			{serveFams, "streamscore_http_events_total", map[string]string{"outcome": "scored"}, 1},
			{serveFams, "streamscore_http_events_total", map[string]string{"outcome": "rejected"}, 1},
		} {
			if got := counted(w.fams, w.name, w.labels); got < w.want {
				return fmt.Errorf("%s%v = %g, want at least %g", w.name, w.labels, got, w.want)
			}
		}
		scraped = catalogue{}
		scraped.addFamilies("streamscore run", slices.Collect(maps.Values(runFams)))
		scraped.addFamilies("streamscore serve", slices.Collect(maps.Values(serveFams)))
		served := maps.Clone(scraped)
		for name := range absentFromScrape {
			if info, ok := known[name]; ok && served[name].source == "" {
				served[name] = metricInfo{"registered, absent from the scrape", info.labels, info.counter}
			}
		}
		served.addPrometheusMade(t)
		var problems []string
		for _, q := range qs {
			names, ps := served.selectorProblems(q, "in a scrape of `streamscore run` or `streamscore serve`, nor in absentFromScrape, nor made by Prometheus or a recording rule")
			for _, p := range append(ps, served.labelProblems(q)...) {
				problems = append(problems, fmt.Sprintf("%s: %s\n    %s", q.where, p, strings.Join(strings.Fields(q.expr), " ")))
			}
			for _, n := range names {
				used[n] = true
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("%d problems:\n  %s", len(problems), strings.Join(problems, "\n  "))
		}
		return nil
	}, run.Proc, serve.Proc)

	for _, name := range slices.Sorted(maps.Keys(absentFromScrape)) {
		a := absentFromScrape[name]
		switch _, inScrape := scraped[name]; {
		case !used[name]:
			t.Errorf("absentFromScrape lists %s (%s), which no query uses: remove it", name, a.reason)
		case known[name].source == "":
			t.Errorf("absentFromScrape lists %s (%s), which no package registers either", name, a.reason)
		case inScrape && !a.flaky:
			t.Errorf("absentFromScrape lists %s (%s), but the scrape has it: remove it", name, a.reason)
		}
	}
	var fromScrape int
	for n := range used {
		if scraped[n].source != "" {
			fromScrape++
		}
	}
	t.Logf("%d queries, %d metric names: %d in the scrapes of run and serve (%d families), %d listed as absent, the rest made by Prometheus or a recording rule",
		len(qs), len(used), fromScrape, len(scraped), len(absentFromScrape))
	run.StopClean()
	serve.StopClean()
}
