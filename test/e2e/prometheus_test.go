package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
)

// ---------------------------------------------------------------------------
// a real Prometheus

type promServer struct {
	*proctest.Proc
	url string
}

// prometheusBinary finds the prometheus server or fails the test saying how
// to install it.
func prometheusBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/prometheus"); err == nil {
		return "/usr/bin/prometheus"
	}
	t.Fatalf("prometheus not found in PATH or /usr/bin (Debian package prometheus): run scripts/install-deps.sh")
	return ""
}

// startPrometheus runs Prometheus scraping target every second as job
// "streamscore" (the job name the alert rules select on), with the
// repository's alert rules loaded and evaluated every second.
func startPrometheus(t testing.TB, target string) *promServer {
	t.Helper()
	return startPrometheusRules(t, target, filepath.Join(repoRoot, "deploy", "prometheus", "alerts.yml"))
}

// startPrometheusRules is startPrometheus with another rule file.
func startPrometheusRules(t testing.TB, target, rules string) *promServer {
	t.Helper()
	binPath := prometheusBinary(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: streamscore
    metrics_path: /metrics
    static_configs:
      - targets: [%q]
`, rules, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	p := proctest.Start(t, "prometheus", proctest.Options{Dir: dir}, binPath,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--storage.tsdb.retention.time=1h",
	)
	s := &promServer{Proc: p, url: "http://" + addr}
	proctest.Eventually(t, startTimeout, "prometheus /-/ready", func() error {
		code, body, err := httpGet(s.url + "/-/ready")
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("HTTP %d: %s", code, strings.TrimSpace(body))
		}
		return nil
	}, p)
	return s
}

// promSample is one element of an instant vector.
type promSample struct {
	Metric map[string]string
	Value  float64
}

func (s promSample) String() string { return fmt.Sprintf("%v => %g", s.Metric, s.Value) }

// query runs an instant query and returns its vector.
func (s *promServer) query(q string) ([]promSample, error) {
	code, body, err := httpGet(s.url + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	var resp struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		return nil, fmt.Errorf("query %s: HTTP %d: %v: %s", q, code, err, body)
	}
	if resp.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", q, resp.Error)
	}
	if resp.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: result type %s, want vector", q, resp.Data.ResultType)
	}
	out := make([]promSample, 0, len(resp.Data.Result))
	for _, r := range resp.Data.Result {
		str, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %v: %v", q, r.Value[1], err)
		}
		out = append(out, promSample{Metric: r.Metric, Value: v})
	}
	return out, nil
}

// single runs q and returns the value of its only sample.
func (s *promServer) single(q string) (float64, error) {
	v, err := s.query(q)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("%s: %d samples %v, want 1", q, len(v), v)
	}
	return v[0].Value, nil
}

// promRule is one rule of /api/v1/rules.
type promRule struct {
	Name      string `json:"name"`
	Type      string `json:"type"` // alerting, recording
	Health    string `json:"health"`
	LastError string `json:"lastError"`
	State     string `json:"state"` // alerting: inactive, pending, firing
	Alerts    []struct {
		Labels map[string]string `json:"labels"`
		State  string            `json:"state"`
	} `json:"alerts"`
}

// rules returns the loaded rules by group name.
func (s *promServer) rules() (map[string][]promRule, error) {
	code, body, err := httpGet(s.url + "/api/v1/rules")
	if err != nil {
		return nil, err
	}
	var resp struct {
		Status string `json:"status"`
		Data   struct {
			Groups []struct {
				Name  string     `json:"name"`
				Rules []promRule `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil || resp.Status != "success" {
		return nil, fmt.Errorf("/api/v1/rules: HTTP %d: %v: %.500s", code, err, body)
	}
	out := map[string][]promRule{}
	for _, g := range resp.Data.Groups {
		out[g.Name] = g.Rules
	}
	return out, nil
}

// repoRules reads deploy/prometheus/alerts.yml: rule names (alert or
// record) by group.
func repoRules(t testing.TB) map[string][]string {
	t.Helper()
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert  string `yaml:"alert"`
				Record string `yaml:"record"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readAlertsYAML(t, &f)
	out := map[string][]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out[g.Name] = append(out[g.Name], r.Alert+r.Record)
		}
	}
	if len(out) == 0 {
		t.Fatal("alerts.yml has no rule groups")
	}
	return out
}

// readAlertsYAML decodes deploy/prometheus/alerts.yml into v.
func readAlertsYAML(t testing.TB, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
}

// checkRules verifies every rule of alerts.yml is loaded and evaluated
// without error, that no alert fires, and that the up-based alerts are not
// even pending while the service is up.
func checkRules(s *promServer, want map[string][]string) error {
	got, err := s.rules()
	if err != nil {
		return err
	}
	for group, names := range want {
		loaded := map[string]promRule{}
		for _, r := range got[group] {
			loaded[r.Name] = r
		}
		for _, n := range names {
			r, ok := loaded[n]
			switch {
			case !ok:
				return fmt.Errorf("rule %s of group %s not loaded (loaded groups: %v)", n, group, keys(got))
			case r.Health != "ok":
				return fmt.Errorf("rule %s: health %q %s", n, r.Health, r.LastError)
			case r.State == "firing":
				return fmt.Errorf("alert %s is firing: %+v", n, r.Alerts)
			case (n == "StreamscoreInstanceDown" || n == "StreamscoreAbsent") && r.State != "inactive":
				return fmt.Errorf("alert %s is %s while the service is up", n, r.State)
			}
		}
	}
	return nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ---------------------------------------------------------------------------
// Kafka side

// kafkaSetup is where the service under test reads and writes.
type kafkaSetup struct {
	real              bool
	brokers           string // real brokers; "embedded" otherwise
	embeddedDir       string
	in, out, dlq, grp string
	partitions        int
}

func newKafkaSetup(t *testing.T, partitions int) kafkaSetup {
	t.Helper()
	if !kafkatest.IsReal() {
		t.Logf("%s not set: the service runs its embedded broker (kfake); Kafka's own tools cannot describe it, so the lag is compared with the broker's offsets through the admin API only",
			kafkatest.EnvBrokers)
		return kafkaSetup{brokers: "embedded", embeddedDir: filepath.Join(t.TempDir(), "kafka"),
			in: "transactions", out: "predictions", dlq: "predictions-dlq", grp: "streamscore", partitions: partitions}
	}
	bs := kafkatest.Brokers(t)
	k := kafkaSetup{real: true, brokers: strings.Join(bs, ","), partitions: partitions,
		in:  kafkatest.Topic(t, bs, int32(partitions)),
		out: kafkatest.Topic(t, bs, 3),
		dlq: kafkatest.Topic(t, bs, 1),
		grp: kafkatest.UniqueName(t, "g"),
	}
	// Registered before any service starts, so it runs after they stopped.
	t.Cleanup(func() {
		adm := kafkatest.Admin(t, bs)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if _, err := adm.DeleteGroup(ctx, k.grp); err != nil {
			t.Logf("delete group %s: %v", k.grp, err)
		}
	})
	return k
}

func (k kafkaSetup) serviceConfig(httpAddr string) serviceConfig {
	return serviceConfig{Brokers: k.brokers, EmbeddedDir: k.embeddedDir, Input: k.in, Output: k.out, DLQ: k.dlq,
		Group: k.grp, HTTP: httpAddr, LagRefresh: "1s", Partitions: k.partitions}
}

// offsets is the broker's view of the group on the input topic.
type offsets struct {
	end, committed map[int32]int64
}

func (o offsets) lag(p int32) int64 {
	c, ok := o.committed[p]
	if !ok {
		c = 0 // fresh topics: the log starts at 0
	}
	return o.end[p] - c
}

func (o offsets) String() string {
	var parts []string
	for p := int32(0); p < int32(len(o.end)); p++ {
		c, ok := o.committed[p]
		cs := strconv.FormatInt(c, 10)
		if !ok {
			cs = "-"
		}
		parts = append(parts, fmt.Sprintf("p%d committed %s end %d", p, cs, o.end[p]))
	}
	return strings.Join(parts, "; ")
}

func brokerOffsets(t testing.TB, brokers, group, topic string) offsets {
	t.Helper()
	bs := strings.Split(brokers, ",")
	return offsets{end: kafkatest.EndOffsets(t, bs, topic, false), committed: kafkatest.GroupOffsets(t, bs, group, topic)}
}

func sum(m map[int32]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}

// produce runs `streamscore produce` against brokers and waits for it: count
// synthetic fraud events at rate/s (0: unthrottled).
func produce(t testing.TB, brokers, topic string, count, rate int, seed uint64) *proctest.Proc {
	t.Helper()
	return proctest.Start(t, "streamscore produce", proctest.Options{}, bin, "produce",
		"--kafka.brokers", brokers, "--input.topic", topic,
		"--count", strconv.Itoa(count), "--rate", strconv.Itoa(rate), "--seed", strconv.FormatUint(seed, 10))
}

func waitProduced(t testing.TB, p *proctest.Proc, count int, topic string) {
	t.Helper()
	if code := p.Wait(2 * time.Minute); code != 0 {
		t.Fatalf("streamscore produce exited %d", code)
	}
	want := fmt.Sprintf("produced %d records to %s", count, topic)
	if !strings.Contains(p.Stdout.String(), want) {
		t.Fatalf("streamscore produce: want %q in its output", want)
	}
}

// ---------------------------------------------------------------------------

// TestPrometheusScrapesService runs `streamscore run`, a real Prometheus
// scraping it every second with deploy/prometheus/alerts.yml loaded, and a
// producer, then checks what Prometheus sees through its HTTP API, and that
// the exported consumer lag equals the broker's (and Kafka's consumer-groups
// tool's) both at rest and at a deterministic non-zero value.
func TestPrometheusScrapesService(t *testing.T) {
	const (
		partitions = 4
		n1, rate1  = 2400, 400 // phase 1: 6 s of stream, long enough for rate() over 1 s scrapes
		n2         = 1000      // phase 2: processed but never committed
	)
	k := newKafkaSetup(t, partitions)
	wantRules := repoRules(t)
	httpAddr := freeAddr(t)
	cfg := k.serviceConfig(httpAddr)

	svc := startService(t, "streamscore run #1", cfg)
	waitReady(t, svc)
	prom := startPrometheus(t, httpAddr)

	// ---- phase 1: a stream of n1 events, then rest.
	prod := produce(t, svc.brokers, k.in, n1, rate1, 1)
	in := fmt.Sprintf("{topic=%q}", k.in)
	proctest.Eventually(t, 60*time.Second, "rate(streamscore_records_consumed_total) > 0 in Prometheus", func() error {
		v, err := prom.single("rate(streamscore_records_consumed_total" + in + "[5s])")
		if err != nil {
			return err
		}
		if !(v > 0) {
			return fmt.Errorf("rate %g", v)
		}
		t.Logf("Prometheus: consumption rate %.0f records/s", v)
		return nil
	}, svc.Proc, prom.Proc)
	for _, q := range []float64{0.5, 0.99} {
		expr := fmt.Sprintf("histogram_quantile(%g, sum by (le) (rate(streamscore_end_to_end_latency_seconds_bucket[10s])))", q)
		proctest.Eventually(t, 30*time.Second, "end-to-end latency quantile", func() error {
			v, err := prom.single(expr)
			if err != nil {
				return err
			}
			if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
				return fmt.Errorf("%s = %g, want finite and positive", expr, v)
			}
			t.Logf("Prometheus: end-to-end latency p%g = %.4fs", q*100, v)
			return nil
		}, svc.Proc, prom.Proc)
	}
	waitProduced(t, prod, n1, k.in)

	proctest.Eventually(t, 60*time.Second, "Prometheus sees every record consumed and predicted, and zero lag on every partition", func() error {
		return checkTotals(t, prom, k, n1, func(p int32) int64 { return 0 })
	}, svc.Proc, prom.Proc)
	proctest.Eventually(t, 30*time.Second, "target up, model and build info", func() error { return checkInfo(prom, httpAddr) }, svc.Proc, prom.Proc)
	proctest.Eventually(t, 30*time.Second, "alert rules loaded and healthy, none firing", func() error { return checkRules(prom, wantRules) }, prom.Proc)

	// The broker's view at rest: everything committed, so lag 0 everywhere.
	// Commits trail the acknowledged marks by up to processor.commit_interval
	// (1s here), so the broker catches up a moment after the metrics do.
	var rest offsets
	proctest.Eventually(t, 15*time.Second, "the broker has every offset committed (lag 0 on every partition)", func() error {
		rest = brokerOffsets(t, svc.brokers, k.grp, k.in)
		if sum(rest.end) != n1 {
			t.Fatalf("input topic holds %d records, produced %d (%s)", sum(rest.end), n1, rest)
		}
		for p := int32(0); p < partitions; p++ {
			if rest.lag(p) != 0 {
				return fmt.Errorf("at rest the group still lags on partition %d: %s", p, rest)
			}
		}
		return nil
	}, svc.Proc)
	if k.real {
		compareGroupTool(t, k, rest, true)
	}

	// ---- phase 2: a deterministic non-zero lag. Restart with a commit
	// interval that never elapses, so records are processed (predictions
	// acknowledged) but their offsets are committed only at shutdown: the
	// lag stays exactly what was produced during the run, and the exported
	// value, the broker's and the tool's must agree on it.
	if code := svc.Stop(); code != 0 {
		t.Fatalf("streamscore run #1 exited %d after SIGTERM, want 0", code)
	}
	cfg.CommitInterval = "1h"
	svc = startService(t, "streamscore run #2", cfg)
	waitReady(t, svc)
	if got := brokerOffsets(t, svc.brokers, k.grp, k.in); fmt.Sprint(got.committed) != fmt.Sprint(rest.committed) {
		t.Fatalf("committed offsets changed across the restart: before %s, after %s", rest, got)
	}
	prod = produce(t, svc.brokers, k.in, n2, 0, 2)
	waitProduced(t, prod, n2, k.in)
	proctest.Eventually(t, 60*time.Second, "run #2 consumed and predicted every new record (its own /metrics)", func() error {
		fams, err := scrape(httpAddr)
		if err != nil {
			return err
		}
		c, _ := metricValue(fams, "streamscore_records_consumed_total", map[string]string{"topic": k.in})
		pr, _ := metricValue(fams, "streamscore_predictions_produced_total", map[string]string{"topic": k.out})
		if c < n2 || pr != c {
			return fmt.Errorf("consumed %g, predictions %g, want %d each", c, pr, n2)
		}
		return nil
	}, svc.Proc)
	lagged := brokerOffsets(t, svc.brokers, k.grp, k.in)
	if fmt.Sprint(lagged.committed) != fmt.Sprint(rest.committed) || sum(lagged.end) != n1+n2 {
		t.Fatalf("want the phase 1 commits and %d records in the topic; broker says %s", n1+n2, lagged)
	}
	t.Logf("broker view with uncommitted work: %s", lagged)
	proctest.Eventually(t, 30*time.Second, "Prometheus's per-partition lag equals the broker's end - committed", func() error {
		return checkTotals(t, prom, k, -1, lagged.lag)
	}, svc.Proc, prom.Proc)
	proctest.Eventually(t, 30*time.Second, "recording rule topic:streamscore_consumer_lag_records:sum", func() error {
		v, err := prom.single("topic:streamscore_consumer_lag_records:sum" + in)
		if err != nil {
			return err
		}
		if v != n2 {
			return fmt.Errorf("= %g, want %d", v, n2)
		}
		return nil
	}, svc.Proc, prom.Proc)
	if k.real {
		compareGroupTool(t, k, lagged, true)
	}
	if err := checkRules(prom, wantRules); err != nil {
		// The restart gap may leave InstanceDown pending for a moment: give it time.
		proctest.Eventually(t, 30*time.Second, "alert rules after the restart", func() error { return checkRules(prom, wantRules) }, prom.Proc)
	}

	// A graceful stop commits what was processed: lag 0 at the broker.
	if code := svc.Stop(); code != 0 {
		t.Fatalf("streamscore run #2 exited %d after SIGTERM, want 0", code)
	}
	if k.real { // the embedded broker stopped with the service
		final := brokerOffsets(t, k.brokers, k.grp, k.in)
		for p := int32(0); p < partitions; p++ {
			if final.lag(p) != 0 {
				t.Errorf("after a graceful stop partition %d still lags: %s", p, final)
			}
		}
	}
}

// waitReady polls /readyz until 200.
func waitReady(t testing.TB, s *service) {
	t.Helper()
	proctest.Eventually(t, startTimeout, s.Name+" /readyz 200", func() error {
		code, body, err := httpGet("http://" + s.http + "/readyz")
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("HTTP %d %s", code, strings.TrimSpace(body))
		}
		return nil
	}, s.Proc)
}

// checkTotals checks in Prometheus: one lag series per input partition with
// the value wantLag(partition); with n >= 0 also at least n records consumed
// (more only if a rebalance replayed some: at-least-once), a prediction for
// every record consumed and no DLQ record (the generator's events are all
// valid).
func checkTotals(t testing.TB, prom *promServer, k kafkaSetup, n int, wantLag func(int32) int64) error {
	if n >= 0 {
		consumed, err := prom.single(fmt.Sprintf("streamscore_records_consumed_total{topic=%q}", k.in))
		if err != nil {
			return err
		}
		predicted, err := prom.single(fmt.Sprintf("streamscore_predictions_produced_total{topic=%q}", k.out))
		if err != nil {
			return err
		}
		dlq, err := prom.single("sum(streamscore_dlq_records_total) or vector(0)")
		if err != nil {
			return err
		}
		assigned, err := prom.single("streamscore_assigned_partitions")
		if err != nil {
			return err
		}
		if consumed < float64(n) || predicted != consumed || dlq != 0 || assigned != float64(k.partitions) {
			return fmt.Errorf("consumed %g (want >= %d), predictions %g (want = consumed), DLQ %g (want 0), assigned partitions %g (want %d)",
				consumed, n, predicted, dlq, assigned, k.partitions)
		}
		if consumed > float64(n) {
			t.Logf("NOTE: %g records consumed for %d produced: a rebalance replayed some (at-least-once)", consumed, n)
		}
	}
	lag, err := prom.query(fmt.Sprintf("streamscore_consumer_lag_records{topic=%q}", k.in))
	if err != nil {
		return err
	}
	if len(lag) != k.partitions {
		return fmt.Errorf("%d lag series %v, want one per input partition (%d)", len(lag), lag, k.partitions)
	}
	seen := map[int32]bool{}
	for _, s := range lag {
		p, err := strconv.ParseInt(s.Metric["partition"], 10, 32)
		if err != nil || p < 0 || p >= int64(k.partitions) || seen[int32(p)] {
			return fmt.Errorf("lag series with partition label %q: %v", s.Metric["partition"], lag)
		}
		seen[int32(p)] = true
		if s.Value < 0 || s.Value != float64(wantLag(int32(p))) {
			return fmt.Errorf("lag of partition %d = %g, want %d (all: %v)", p, s.Value, wantLag(int32(p)), lag)
		}
	}
	return nil
}

// checkInfo checks up, model info and build info.
func checkInfo(prom *promServer, target string) error {
	up, err := prom.query(`up{job="streamscore"}`)
	if err != nil {
		return err
	}
	if len(up) != 1 || up[0].Value != 1 || up[0].Metric["instance"] != target {
		return fmt.Errorf(`up{job="streamscore"} = %v, want 1 for instance %s`, up, target)
	}
	mi, err := prom.query("streamscore_model_info")
	if err != nil {
		return err
	}
	if len(mi) != 1 || mi[0].Value != 1 || mi[0].Metric["model"] != "fraud" || mi[0].Metric["version"] != "1.0.0" {
		return fmt.Errorf("streamscore_model_info = %v, want fraud 1.0.0 at 1", mi)
	}
	bi, err := prom.query("streamscore_build_info")
	if err != nil {
		return err
	}
	if len(bi) != 1 || bi[0].Value != 1 || bi[0].Metric["version"] == "" || bi[0].Metric["revision"] == "" ||
		!strings.HasPrefix(bi[0].Metric["goversion"], "go") {
		return fmt.Errorf("streamscore_build_info = %v, want one series at 1 with version, revision and goversion", bi)
	}
	return nil
}

// compareGroupTool checks that Kafka's consumer-groups tool reports, per
// input partition, the broker offsets in o (and so the same lag the service
// exported, which the caller compared with o).
func compareGroupTool(t testing.TB, k kafkaSetup, o offsets, active bool) {
	t.Helper()
	rows := kafkaConsumerGroups(t, k.brokers, k.grp, k.in)
	if len(rows) != k.partitions {
		t.Fatalf("consumer-groups tool: %d rows for %s, want %d", len(rows), k.in, k.partitions)
	}
	for p := int32(0); p < int32(k.partitions); p++ {
		r, ok := rows[p]
		if !ok {
			t.Fatalf("consumer-groups tool: no row for partition %d", p)
		}
		if r.End != o.end[p] || r.Lag != o.lag(p) || r.Current != o.committed[p] {
			t.Errorf("partition %d: tool says current %d end %d lag %d; broker (admin API) committed %d end %d lag %d",
				p, r.Current, r.End, r.Lag, o.committed[p], o.end[p], o.lag(p))
		}
		if active && (r.ConsumerID == "" || r.ConsumerID == "-") {
			t.Errorf("partition %d: tool shows no consumer, but the service owns it", p)
		}
	}
}
