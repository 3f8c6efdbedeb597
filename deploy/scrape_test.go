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
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/pgtest"
	"github.com/streamscore/streamscore/internal/proctest"
)

// The dashboard and the alert rules against what the built binary serves:
// TestPromQL and TestPromQLLabels check them against the packages'
// registries, which hold collectors that never emit a series (kprom's) and
// miss what only cmd's wiring adds. Here `streamscore run`, `streamscore
// serve` and `streamscore sink postgres` run as an SRE runs them, see
// traffic (a poison record, a rejected HTTP event, a record the sink cannot
// store), and their /metrics scrapes are the catalogue: names, labels and
// the values of labels a query matches exactly.

// absence is why a name the queries use may be missing from the scrapes.
type absence struct {
	reason string
	flaky  bool // it appears when something goes wrong by chance (a dropped connection)
}

// absentFromScrape are the names the queries use that the scrapes may lack
// after the traffic TestQueriesMatchScrape sends, each with why. Their
// labels are checked against the registries (knownMetrics) instead. A name
// listed here that a scrape does carry fails the test, so the list stays
// exact, unless flaky says it can appear by chance.
var absentFromScrape = map[string]absence{
	// franz-go's kprom registers these vectors at start but makes a
	// series (per broker node, or per topic) only at the first error.
	"streamscore_connect_errors_total": {reason: "kprom: only after a failed connection", flaky: true},
	"streamscore_read_errors_total":    {reason: "kprom: only after a failed read from a broker", flaky: true},
	"streamscore_write_errors_total":   {reason: "kprom: only after a failed write to a broker", flaky: true},
	"streamscore_produce_errors_total": {reason: "processor: by topic, only after a write the broker refused", flaky: true},
	"streamscore_sink_errors_total":    {reason: "pgsink: by kind, only after a PostgreSQL, fetch, fencing or lag error", flaky: true},
}

// envPostgres is the PostgreSQL server `streamscore sink postgres` writes
// to; `make test` sets it (deploy/postgres/pg-up.sh). Without it the sink
// does not run and its names are absent (logged, with their labels checked
// against pgsink's registry only).
const envPostgres = pgtest.Env

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
	deleteGroupAtEnd(t, bs, k.group)
	return k
}

// deleteGroupAtEnd deletes group from the real broker in the test's
// cleanup: call it before the process that joins the group starts, so it
// runs after that process stopped.
func deleteGroupAtEnd(t *testing.T, brokers []string, group string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if _, err := kafkatest.Admin(t, brokers).DeleteGroup(ctx, group); err != nil {
			t.Logf("delete group %s: %v", group, err)
		}
	})
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

// startCommand writes kv as a config file, starts `streamscore args...
// --config FILE` and waits for its log line started; the target's address
// is that line's "http" attribute.
func startCommand(t *testing.T, bin, started string, kv map[string]any, args ...string) (scrapeTarget, map[string]any) {
	t.Helper()
	path := proctest.WriteConfig(t, kv)
	name := "streamscore " + strings.Join(args, " ")
	p := proctest.Start(t, name, proctest.Options{Dir: filepath.Dir(path)}, bin, append(args, "--config", path)...)
	line := p.WaitLog(scrapeTimeout, started)
	addr, _ := line["http"].(string)
	if addr == "" {
		t.Fatalf("%s: no http address in %v", name, line)
	}
	return scrapeTarget{Proc: p, http: addr}, line
}

// scrapedValues are the values each label of each family has in the scrapes.
type scrapedValues map[string]map[string]map[string]bool

func (v scrapedValues) add(fams map[string]*dto.MetricFamily) {
	for name, f := range fams {
		if v[name] == nil {
			v[name] = map[string]map[string]bool{}
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v[name][lp.GetName()] == nil {
					v[name][lp.GetName()] = map[string]bool{}
				}
				v[name][lp.GetName()][lp.GetValue()] = true
			}
		}
	}
}

// problems are the selectors of q that match a label to a fixed value no
// scraped series of the family has: a panel or alert that stays empty (or,
// for one alternative of a list such as route=~"/v1/predict|...", a part
// of it that never matches). Names not scraped, the labels Prometheus
// attaches and regexps that are not a list of fixed values are not checked.
func (v scrapedValues) problems(q query) []string {
	sels, err := selectors(grafanaToPromQL(q.expr))
	if err != nil {
		return nil // reported by selectorProblems
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(sels)) {
		fam, ok := v[familyName(name)]
		if !ok {
			continue
		}
		for _, m := range sels[name] {
			if slices.Contains(targetLabels, m.Name) {
				continue
			}
			var fixed []string
			switch m.Type {
			case labels.MatchEqual:
				fixed = []string{m.Value}
			case labels.MatchRegexp:
				fixed = literalAlternatives(m.Value)
			}
			for _, value := range fixed {
				if !fam[m.Name][value] {
					out = append(out, fmt.Sprintf("%s: no scraped series has %s=%q (values: %v)", name, m.Name, value, keys(fam[m.Name])))
				}
			}
		}
	}
	return out
}

// literalAlternatives are the values a regexp matcher lists, when it is
// nothing but fixed values joined by | ("a|b|c"); nil otherwise.
func literalAlternatives(re string) []string {
	var out []string
	for _, alt := range strings.Split(re, "|") {
		r, err := syntax.Parse(alt, syntax.Perl)
		if err != nil || r.Op != syntax.OpLiteral || r.Flags&syntax.FoldCase != 0 {
			return nil
		}
		out = append(out, string(r.Rune))
	}
	return out
}

// target is a running command and what the test's traffic must have made
// in its scrape before the scrape counts.
type target struct {
	scrapeTarget
	want []want
}

type want struct {
	name    string
	labels  map[string]string
	atLeast float64
}

// TestQueriesMatchScrape: every metric every dashboard panel, variable and
// annotation and every alert and recording rule selects is in a scrape of
// `streamscore run`, `streamscore serve` or `streamscore sink postgres` (or
// in absentFromScrape, with why), with every label the query matches,
// groups, joins on or names in a legend or annotation.
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
	run, started := startCommand(t, bin, "streamscore running", proctest.MergeKeys(proctest.BaseKeys(bundle), map[string]any{
		"kafka.brokers": k.brokers, "kafka.embedded.port": 0, "kafka.embedded.data_dir": "",
		"input.topic": k.in, "output.topic": k.out, "dlq.topic": k.dlq, "input.group": k.group,
		"model.shadow": bundle, "model.shadow_topic": k.shadow,
		"processor.lag_refresh": "1s", "processor.commit_interval": "1s",
		"processor.shutdown_timeout": "10s", "processor.session_timeout": "10s",
	}), "run")
	brokers, _ := started["brokers"].(string) // the embedded broker's address when embedded
	bs := strings.Split(brokers, ",")
	// The HTTP door, logging its predictions and rejects to the stream's
	// topics (so its Kafka client's families exist too).
	serve, _ := startCommand(t, bin, "streamscore serving", proctest.MergeKeys(proctest.BaseKeys(bundle), map[string]any{
		"kafka.brokers": brokers, "http.log_to_topic": true, "output.topic": k.out, "dlq.topic": k.dlq,
	}), "serve")
	targets := []target{
		{run, []want{{"streamscore_records_consumed_total", nil, events + 1}, {"streamscore_dlq_records_total", nil, 1},
			{"streamscore_shadow_predictions_total", nil, 1}}},
		{serve, []want{{"streamscore_http_events_total", map[string]string{"outcome": "scored"}, 1},
			{"streamscore_http_events_total", map[string]string{"outcome": "rejected"}, 1},
			{"streamscore_http_requests_total", map[string]string{"route": "/v2/models/{name}/infer"}, 1},
			{"streamscore_http_requests_total", map[string]string{"route": "/v2/models/{name}/versions/{version}/infer"}, 1}}},
	}
	// The sink, writing the prediction topic to PostgreSQL.
	absent := maps.Clone(absentFromScrape)
	if dsn := os.Getenv(envPostgres); dsn != "" {
		group := kafkatest.UniqueName(t, "sink")
		if kafkatest.IsReal() {
			deleteGroupAtEnd(t, bs, group)
		}
		_, schema := pgtest.Schema(t, dsn) // dropped after the sink stopped: registered before it starts
		kv := proctest.MergeKeys(proctest.BaseKeys(""), map[string]any{
			"kafka.brokers": brokers, "output.topic": k.out, "sink.postgres.dsn": dsn, "sink.postgres.table": schema + ".predictions",
			"sink.postgres.group": group, "sink.postgres.flush_interval": "100ms",
		})
		delete(kv, "model.bundle") // the sink has no model
		sink, _ := startCommand(t, bin, "streamscore sink postgres running", kv, "sink", "postgres")
		targets = append(targets, target{sink, []want{{"streamscore_sink_rows_written_total", nil, 1},
			{"streamscore_sink_records_skipped_total", nil, 1}, {"streamscore_sink_lag_records", nil, 0}}})
	} else {
		t.Logf("%s not set: `streamscore sink postgres` does not run; its names are checked against pgsink's registry only", envPostgres)
		sinkNames := catalogue{}
		sinkNames.addFamilies("pgsink", sinkFamilies(t))
		for name := range sinkNames {
			if _, ok := absent[name]; !ok {
				absent[name] = absence{reason: "the sink did not run (" + envPostgres + " not set)"}
			}
		}
	}

	// The traffic: reference events and a poison record to the stream, a
	// record that is no prediction to the sink's topic, one scored and one
	// rejected event to the HTTP door, and one outside the training data (an
	// amount out of range, an unseen country: serve's data-quality series),
	// and an OIP infer request on each infer route (the HTTP alerts' routes).
	recs := []*kgo.Record{{Topic: k.in, Key: []byte("poison"), Value: []byte("{not json")},
		{Topic: k.out, Key: []byte("not-a-prediction"), Value: []byte("{not json")}}
	for i, ev := range referenceEvents(t, bundle, events) {
		recs = append(recs, &kgo.Record{Topic: k.in, Key: fmt.Appendf(nil, "card-%d", i), Value: ev})
	}
	kafkatest.ProduceRecords(t, bs, recs)
	for _, c := range []struct {
		body string
		want int
	}{{string(recs[2].Value), http.StatusOK}, {`{"amount": "lots", "timestamp": 1}`, http.StatusBadRequest},
		{`{"amount": 1e9, "country": "ZZ", "timestamp": 1}`, http.StatusOK}} {
		resp, answer := proctest.HTTP(t, nil, "POST", "http://"+serve.http+"/v1/predict", strings.NewReader(c.body), "Content-Type", "application/json")
		if resp.StatusCode != c.want {
			t.Fatalf("POST /v1/predict %s: %d %s, want %d", c.body, resp.StatusCode, answer, c.want)
		}
	}
	infer := `{"inputs":[{"name":"amount","datatype":"FP64","shape":[1],"data":[12.5]},` +
		`{"name":"timestamp","datatype":"BYTES","shape":[1],"data":["2026-02-07T19:26:47Z"]}]}`
	for _, path := range []string{"/v2/models/fraud/infer", "/v2/models/fraud/versions/1.0.0/infer"} {
		resp, answer := proctest.HTTP(t, nil, "POST", "http://"+serve.http+path, strings.NewReader(infer), "Content-Type", "application/json")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %d %s, want 200", path, resp.StatusCode, answer)
		}
	}

	known := knownMetrics(t)
	qs := append(ruleQueries(t), dashboardQueries(t)...)
	var sc scrape
	var used map[string]bool
	var watch []*proctest.Proc
	for _, tg := range targets {
		watch = append(watch, tg.Proc)
	}
	proctest.Eventually(t, scrapeTimeout, "the traffic in the scrapes and every query served", func() error {
		var err error
		if sc, err = scrapeAll(targets); err != nil {
			return err
		}
		var problems []string
		problems, used = sc.problems(t, sc.served(t, known, absent), qs)
		if len(problems) > 0 {
			return fmt.Errorf("%d problems:\n  %s", len(problems), strings.Join(problems, "\n  "))
		}
		return nil
	}, watch...)

	for _, name := range slices.Sorted(maps.Keys(absent)) {
		a := absent[name]
		switch _, inScrape := sc.names[name]; {
		case !used[name]:
			if _, listed := absentFromScrape[name]; listed {
				t.Errorf("absentFromScrape lists %s (%s), which no query uses: remove it", name, a.reason)
			}
		case known[name].source == "":
			t.Errorf("absentFromScrape lists %s (%s), which no package registers either", name, a.reason)
		case inScrape && !a.flaky:
			t.Errorf("absentFromScrape lists %s (%s), but the scrape has it: remove it", name, a.reason)
		}
	}
	// The same scrapes catch what the registries let through.
	bare := sc.served(t, known, nil)
	for _, q := range []query{
		{expr: `sum(rate(streamscore_connect_errors_total[5m]))`},                                                              // kprom registers it, emits it only after an error
		{expr: `sum(rate(streamscore_input_missing_total{door="https"}[5m]))`},                                                 // a label value no series has
		{expr: `sum by (door) (rate(streamscore_records_consumed_total[5m]))`},                                                 // a label the series lack
		{expr: `sum(rate(streamscore_http_requests_total{route=~"/v1/predict|/v1/predikt"}[5m]))`},                             // one listed value no series has
		{expr: `sum(rate(streamscore_http_log_records_total[5m]))`, where: "serve"},                                            // a control: served, no problem
		{expr: `sum(rate(streamscore_http_requests_total{route=~"/v1/predict|/v2/models/{name}/infer"}[5m]))`, where: "serve"}, // a control: both scraped
	} {
		if strings.Contains(q.expr, "connect_errors") && sc.names["streamscore_connect_errors_total"].source != "" {
			t.Logf("a connection failed during the test, so %s proves nothing this time", q.expr)
			continue
		}
		problems, _ := sc.problems(t, bare, []query{q})
		if caught := len(problems) > 0; caught != (q.where == "") {
			t.Errorf("%s: problems %q; want some: %t", q.expr, problems, q.where == "")
		}
	}

	// What the binary serves of its own (not franz-go's client metrics) has
	// a panel: TestDashboardShowsEveryProcessorMetric for what cmd wires.
	shown := map[string]bool{}
	for _, q := range dashboardQueries(t) {
		names, _ := known.selectorProblems(q, registryUnknown)
		for _, n := range names {
			shown[familyName(n)] = true
		}
	}
	kprom := map[string]bool{}
	for _, f := range kpromFamilies(t) {
		kprom[f.GetName()] = true
	}
	for _, name := range slices.Sorted(maps.Keys(sc.values)) {
		if strings.HasPrefix(name, "streamscore_") && !kprom[name] && !shown[name] {
			t.Errorf("dashboard.json shows no panel for %s, which the binary serves", name)
		}
	}

	var fromScrape, absentUsed int
	for _, n := range slices.Sorted(maps.Keys(used)) {
		switch {
		case sc.names[n].source != "":
			fromScrape++
		case absent[n].reason != "":
			absentUsed++
			t.Logf("absent from the scrapes: %s (%s)", n, absent[n].reason)
		}
	}
	t.Logf("%d queries, %d metric names: %d in the scrapes of %d commands, %d absent (listed), the rest made by Prometheus or a recording rule",
		len(qs), len(used), fromScrape, len(targets), absentUsed)
	// A serve pod's dashboard: the panels of servePanels on serve's scrape
	// alone (TestServePanels checks them against the registries).
	fams, err := serve.scrape()
	if err != nil {
		t.Fatal(err)
	}
	alone := scrape{names: catalogue{}, values: scrapedValues{}}
	alone.names.addFamilies(serve.Name, slices.Collect(maps.Values(fams)))
	alone.values.add(fams)
	var panels []query
	for _, q := range dashboardQueries(t) {
		if slices.Contains(servePanels, panelTitle(q)) {
			panels = append(panels, q)
		}
	}
	problems, _ := alone.problems(t, alone.served(t, known, absent), panels)
	for _, p := range problems {
		t.Errorf("streamscore serve alone: %s", p)
	}
	t.Logf("%d queries of %d panels served by streamscore serve alone", len(panels), len(servePanels))
	for _, tg := range slices.Backward(targets) {
		tg.StopClean()
	}
}

// scrape is what the targets' /metrics hold together.
type scrape struct {
	names  catalogue // the series names and their labels
	values scrapedValues
}

// scrapeAll scrapes every target once; it fails while a target's scrape
// lacks what the traffic must have made.
func scrapeAll(targets []target) (scrape, error) {
	sc := scrape{names: catalogue{}, values: scrapedValues{}}
	for _, tg := range targets {
		fams, err := tg.scrape()
		if err != nil {
			return sc, err
		}
		for _, w := range tg.want {
			if _, ok := fams[w.name]; !ok {
				return sc, fmt.Errorf("%s: no %s yet", tg.Name, w.name)
			}
			if got := counted(fams, w.name, w.labels); got < w.atLeast {
				return sc, fmt.Errorf("%s: %s%v = %g, want at least %g", tg.Name, w.name, w.labels, got, w.atLeast)
			}
		}
		sc.names.addFamilies(tg.Name, slices.Collect(maps.Values(fams)))
		sc.values.add(fams)
	}
	return sc, nil
}

// served is the catalogue the queries are checked against: the scraped
// names, the absent ones with their registered labels (from known), and
// what Prometheus makes.
func (sc scrape) served(t *testing.T, known catalogue, absent map[string]absence) catalogue {
	c := maps.Clone(sc.names)
	for name := range absent {
		if info, ok := known[name]; ok && c[name].source == "" {
			c[name] = metricInfo{"registered, absent from the scrape", info.labels, info.counter}
		}
	}
	c.addPrometheusMade(t)
	return c
}

// problems checks qs against the catalogue c and the scraped label values;
// used are the names they select.
func (sc scrape) problems(t *testing.T, c catalogue, qs []query) (problems []string, used map[string]bool) {
	used = map[string]bool{}
	for _, q := range qs {
		names, ps := c.selectorProblems(q, "in a scrape of streamscore run, serve or sink postgres, nor in absentFromScrape, nor made by Prometheus or a recording rule")
		ps = append(ps, c.labelProblems(q)...)
		for _, p := range append(ps, sc.values.problems(q)...) {
			problems = append(problems, fmt.Sprintf("%s: %s\n    %s", q.where, p, strings.Join(strings.Fields(q.expr), " ")))
		}
		for _, n := range names {
			used[n] = true
		}
	}
	return problems, used
}
