// Tests for the deploy side: metric names, alert rules, the dashboard, the
// Kubernetes manifests, the Compose file and the Dockerfile.
//
// Tools they run (each missing tool is a failure with a hint, never a skip):
//   - promtool (Debian package prometheus, installed by scripts/install-deps.sh)
//   - kubeconform, built from its pinned Go module with `go run`
//   - scripts/check-compose.sh (docker compose, else python3 + jsonschema)
package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"go.yaml.in/yaml/v3"

	"github.com/streamscore/streamscore/httpapi"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/internal/reload"
	"github.com/streamscore/streamscore/pgsink"
	"github.com/streamscore/streamscore/processor"
)

// kubeconformModule is run with `go run`, so it never enters go.mod.
const kubeconformModule = "github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0"

// kubernetesVersion is the API the manifests are validated against; its
// schemas are vendored in testdata/kubeconform (see testdata/SOURCES.md).
const kubernetesVersion = "1.34.0"

const runbookPrefix = "https://github.com/streamscore/streamscore/blob/main/docs/operations.md#"

// ---------------------------------------------------------------- metrics

// touchingRegisterer registers into a real registry and creates one child of
// every metric vector it sees, so that Gather returns every family (a vector
// without children is not exported at all) with its label names.
type touchingRegisterer struct {
	reg        *prometheus.Registry
	collectors int
	err        error
}

func (r *touchingRegisterer) Register(c prometheus.Collector) error {
	if err := r.reg.Register(c); err != nil {
		return err
	}
	r.collectors++
	if err := touch(c); err != nil && r.err == nil {
		r.err = err
	}
	return nil
}

func (r *touchingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *touchingRegisterer) Unregister(c prometheus.Collector) bool { return r.reg.Unregister(c) }

// touch calls GetMetricWithLabelValues("x", ...) on a metric vector with as
// many label values as it takes; plain metrics have no such method.
func touch(c prometheus.Collector) error {
	get := reflect.ValueOf(c).MethodByName("GetMetricWithLabelValues")
	if !get.IsValid() {
		return nil
	}
	for n := 0; n <= 16; n++ {
		args := make([]reflect.Value, n)
		for i := range args {
			args[i] = reflect.ValueOf("x")
		}
		out := get.Call(args)
		if out[1].IsNil() {
			return nil
		}
	}
	return fmt.Errorf("%T: no label count between 0 and 16 fits", c)
}

// metricInfo is what queries may use of one exported series name.
type metricInfo struct {
	source  string
	labels  map[string]bool // nil: any label (ALERTS)
	counter bool            // a counter, or a histogram's or summary's _bucket, _sum, _count
}

type catalogue map[string]metricInfo

// targetLabels are attached by Prometheus to every scraped series.
var targetLabels = []string{"job", "instance"}

func (c catalogue) addFamilies(source string, fams []*dto.MetricFamily) {
	for _, f := range fams {
		labels := map[string]bool{}
		for _, l := range targetLabels {
			labels[l] = true
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = true
			}
		}
		name := f.GetName()
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			withLE := cloneWith(labels, "le")
			c[name+"_bucket"] = metricInfo{source, withLE, true}
			c[name+"_sum"] = metricInfo{source, labels, true}
			c[name+"_count"] = metricInfo{source, labels, true}
		case dto.MetricType_SUMMARY:
			c[name] = metricInfo{source, cloneWith(labels, "quantile"), false}
			c[name+"_sum"] = metricInfo{source, labels, true}
			c[name+"_count"] = metricInfo{source, labels, true}
		default:
			c[name] = metricInfo{source, labels, f.GetType() == dto.MetricType_COUNTER}
		}
	}
}

func cloneWith(m map[string]bool, extra ...string) map[string]bool {
	out := make(map[string]bool, len(m)+len(extra))
	for k, v := range m {
		out[k] = v
	}
	for _, e := range extra {
		out[e] = true
	}
	return out
}

// processorFamilies builds the processor's registry the way the service does
// and returns every family, each vector with one child.
func processorFamilies(t *testing.T) []*dto.MetricFamily {
	return registeredFamilies(t, "processor", func(r prometheus.Registerer) { processor.NewMetrics(r) })
}

// sinkFamilies: the same for `streamscore sink postgres` (pgsink).
func sinkFamilies(t *testing.T) []*dto.MetricFamily {
	return registeredFamilies(t, "pgsink", func(r prometheus.Registerer) { pgsink.NewMetrics(r) })
}

func registeredFamilies(t *testing.T, what string, register func(prometheus.Registerer)) []*dto.MetricFamily {
	t.Helper()
	tr := &touchingRegisterer{reg: prometheus.NewRegistry()}
	register(tr)
	if tr.err != nil {
		t.Fatal(tr.err)
	}
	fams, err := tr.reg.Gather()
	if err != nil {
		t.Fatalf("gather %s metrics: %v", what, err)
	}
	if len(fams) != tr.collectors {
		t.Fatalf("%s registered %d collectors but %d families were gathered", what, tr.collectors, len(fams))
	}
	return fams
}

// reloadFamilies: the same for the model reloader (internal/reload).
func reloadFamilies(t *testing.T) []*dto.MetricFamily {
	return registeredFamilies(t, "reload", func(r prometheus.Registerer) { reload.NewMetrics(r) })
}

// httpFamilies registers the HTTP door's metrics as httpapi.New does.
func httpFamilies(t *testing.T) []*dto.MetricFamily {
	return registeredFamilies(t, "httpapi", func(r prometheus.Registerer) { httpapi.RegisterMetrics(r) })
}

// runFamilies registers the processor's and the HTTP door's metrics on one
// registry, as `run` with http.predict does: the families both doors
// export (door label) are registered once and shared, and a family the two
// declared with different labels would fail here.
func runFamilies(t *testing.T) []*dto.MetricFamily {
	return registeredFamilies(t, "run with http.predict", func(r prometheus.Registerer) {
		processor.NewMetrics(r)
		httpapi.RegisterMetrics(r)
	})
}

// kpromFamilies registers franz-go's kprom plugin with its default options
// under the service's namespace, as cmd wires it, and gathers its families.
func kpromFamilies(t *testing.T) []*dto.MetricFamily {
	t.Helper()
	tr := &touchingRegisterer{reg: prometheus.NewRegistry()}
	m := kprom.NewMetrics("streamscore", kprom.Registerer(tr), kprom.Gatherer(tr.reg))
	// No broker is contacted: a client without consumer or producer work
	// only dials when asked to.
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.WithHooks(m))
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	defer cl.Close()
	if tr.err != nil {
		t.Fatal(tr.err)
	}
	fams, err := tr.reg.Gather()
	if err != nil {
		t.Fatalf("gather kprom metrics: %v", err)
	}
	if len(fams) == 0 {
		t.Fatal("kprom registered nothing")
	}
	return fams
}

func runtimeFamilies(t *testing.T) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather go/process metrics: %v", err)
	}
	return fams
}

// knownMetrics is every series name a query may select.
func knownMetrics(t *testing.T) catalogue {
	t.Helper()
	c := catalogue{}
	c.addFamilies("processor and httpapi", runFamilies(t))
	c.addFamilies("pgsink", sinkFamilies(t))
	c.addFamilies("reload", reloadFamilies(t))
	c.addCommon(t)
	c.addPrometheusMade(t)
	return c
}

// addPrometheusMade adds the series Prometheus makes itself (up, ALERTS) and
// those of the recording rules, from what c holds.
func (c catalogue) addPrometheusMade(t *testing.T) {
	t.Helper()
	c["up"] = metricInfo{"prometheus", map[string]bool{"job": true, "instance": true}, false}
	c["ALERTS"] = metricInfo{"prometheus", nil, false}
	// A recording rule's series carry the labels its expression keeps
	// (rules are evaluated in file order, so earlier ones are known).
	for _, r := range loadRules(t).all() {
		if r.Record == "" {
			continue
		}
		e, err := parser.ParseExpr(r.Expr)
		if err != nil {
			t.Fatalf("recording rule %s: %v", r.Record, err)
		}
		c[r.Record] = metricInfo{"recording rule", c.outLabels(e, nil), false}
	}
}

// addCommon adds what every command's registry has: the Kafka client's
// metrics, the Go and process collectors and build_info.
func (c catalogue) addCommon(t *testing.T) {
	c.addFamilies("kprom", kpromFamilies(t))
	c.addFamilies("go/process collectors", runtimeFamilies(t))
	// Added by cmd (the lead's wiring), not importable from here.
	c["streamscore_build_info"] = metricInfo{"cmd", map[string]bool{
		"job": true, "instance": true, "version": true, "revision": true, "goversion": true}, false}
}

// serveMetrics is every series name `streamscore serve` exports: the HTTP
// door's (with the shared data-quality, drift and prediction families), the
// reloader's and the common ones; no processor.
func serveMetrics(t *testing.T) catalogue {
	t.Helper()
	c := catalogue{}
	c.addFamilies("httpapi", httpFamilies(t))
	c.addFamilies("reload", reloadFamilies(t))
	c.addCommon(t)
	c.addPrometheusMade(t)
	return c
}

// servePanels are the dashboard panels that must show serve pods: every
// metric they select is in serve's registry, with the labels they use.
var servePanels = []string{
	"Score distribution", "Predictions by label", "Model version per instance", "Predictions by model version",
	"Model swaps and refused bundles", "Features outside training data",
	"HTTP requests by route and code", "HTTP latency by route", "HTTP events and in-flight requests", "HTTP prediction log",
	"HTTP 5xx share of prediction requests", "HTTP prediction latency",
	"Input drift (PSI per input)", "Score drift (PSI)", "Drift window sample", "Build", "CPU and memory",
}

// panelTitle is the title of the dashboard panel q is a target of ("" for
// variables and annotations).
func panelTitle(q query) string {
	if !strings.HasPrefix(q.where, `panel "`) {
		return ""
	}
	return strings.TrimSuffix(strings.TrimPrefix(q.where, `panel "`), `"`)
}

// TestServePanels: the panels of servePanels work on `serve` alone (no
// processor registered), so a serve pod's dashboard is not empty there.
func TestServePanels(t *testing.T) {
	serve := serveMetrics(t)
	seen := map[string]bool{}
	for _, q := range dashboardQueries(t) {
		title := panelTitle(q)
		if !slices.Contains(servePanels, title) {
			continue
		}
		seen[title] = true
		_, problems := serve.selectorProblems(q, "exported by streamscore serve (httpapi, reload, kprom, go/process, build_info)")
		for _, p := range append(problems, serve.labelProblems(q)...) {
			t.Errorf("%s (serve's registry): %s\n  %s", q.where, p, q.expr)
		}
	}
	for _, title := range servePanels {
		if !seen[title] {
			t.Errorf("dashboard.json has no panel %q (servePanels names it)", title)
		}
	}
}

func TestProcessorMetricsLint(t *testing.T) {
	fams := slices.Concat(processorFamilies(t), sinkFamilies(t), reloadFamilies(t))
	problems, err := promlint.NewWithMetricFamilies(fams).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("processor/metrics.go or pgsink/metrics.go: %s: %s", p.Metric, p.Text)
	}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "streamscore_") {
			t.Errorf("%s: want the streamscore_ prefix", f.GetName())
		}
	}
	t.Logf("promlint: %d processor and sink families, %d problems", len(fams), len(problems))
}

// ---------------------------------------------------------------- rules

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func (f ruleFile) all() []rule {
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	var f ruleFile
	readYAML(t, "prometheus/alerts.yml", &f)
	if len(f.all()) == 0 {
		t.Fatal("prometheus/alerts.yml has no rules")
	}
	return f
}

// readYAML decodes the YAML file path into v: every key must be one of v's
// fields.
func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	decodeYAML(t, path, v, true)
}

// readYAMLPart decodes the keys of the YAML file path that v declares; the
// others are not read.
func readYAMLPart(t *testing.T, path string, v any) {
	t.Helper()
	decodeYAML(t, path, v, false)
}

func decodeYAML(t *testing.T, path string, v any, strict bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(strict)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// promtool finds the binary or fails the test saying how to get it.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found in PATH (Debian package prometheus): run scripts/install-deps.sh")
	}
	return p
}

func run(t *testing.T, dir string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

func TestPromtool(t *testing.T) {
	pt := promtool(t)
	for _, args := range [][]string{
		{"check", "config", "prometheus/prometheus.yml"}, // also parses the rule files it names
		{"check", "rules", "prometheus/alerts.yml"},
		{"test", "rules", "prometheus/alerts_test.yml"},
	} {
		out, err := run(t, ".", pt, args...)
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			continue
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), strings.TrimSpace(out))
	}
}

// TestAlertConventions: every alert has a severity, summary, description and a
// runbook_url whose anchor exists in docs/operations.md, and alerts_test.yml
// has a case where it fires and one where it must stay quiet.
func TestAlertConventions(t *testing.T) {
	anchors := markdownAnchors(t, "../docs/operations.md")
	type testFile struct {
		Tests []struct {
			Name          string `yaml:"name"`
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	var tf struct {
		testFile `yaml:",inline"`
		Rest     map[string]any `yaml:",inline"`
	}
	readYAMLPart(t, "prometheus/alerts_test.yml", &tf)
	fires, quiet := map[string]int{}, map[string]int{}
	for _, tc := range tf.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname]++
			} else {
				quiet[a.Alertname]++
			}
		}
	}

	alerts := 0
	for _, r := range loadRules(t).all() {
		if r.Alert == "" {
			continue
		}
		alerts++
		if !strings.HasPrefix(r.Alert, "Streamscore") {
			t.Errorf("%s: alert names start with Streamscore", r.Alert)
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
		}
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[k]) == "" {
				t.Errorf("%s: annotation %s is missing", r.Alert, k)
			}
		}
		if got, want := r.Annotations["runbook_url"], runbookPrefix+strings.ToLower(r.Alert); got != want {
			t.Errorf("%s: runbook_url %q, want %q", r.Alert, got, want)
		}
		if !anchors[strings.ToLower(r.Alert)] {
			t.Errorf("%s: docs/operations.md has no heading with anchor #%s", r.Alert, strings.ToLower(r.Alert))
		}
		if fires[r.Alert] == 0 {
			t.Errorf("%s: alerts_test.yml has no case where it fires", r.Alert)
		}
		if quiet[r.Alert] == 0 {
			t.Errorf("%s: alerts_test.yml has no case where it must not fire", r.Alert)
		}
	}
	defined := func(name string) bool {
		return slices.ContainsFunc(loadRules(t).all(), func(r rule) bool { return r.Alert == name })
	}
	for name := range fires {
		if !defined(name) {
			t.Errorf("alerts_test.yml tests %s, which alerts.yml does not define", name)
		}
	}
	for _, name := range runbookAlerts(t, "../docs/operations.md") {
		if !defined(name) {
			t.Errorf("docs/operations.md has a runbook section for %s, which alerts.yml does not define", name)
		}
	}
	t.Logf("%d alerts, each with a runbook anchor and firing/quiet test cases", alerts)
}

var runbookHeading = regexp.MustCompile(`(?m)^###\s+(Streamscore\w+)\s*$`)

// runbookAlerts returns the alert names the runbook has a section for (its
// "### StreamscoreX" headings).
func runbookAlerts(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range runbookHeading.FindAllStringSubmatch(string(b), -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		t.Fatalf("%s: no ### Streamscore... alert sections", path)
	}
	return names
}

// markdownAnchors returns the anchors GitHub makes for a document's headings.
func markdownAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var slug strings.Builder
		for _, r := range strings.ToLower(h) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
				slug.WriteRune(r)
			case r == ' ':
				slug.WriteRune('-')
			}
		}
		anchors[slug.String()] = true
	}
	return anchors
}

// ---------------------------------------------------------------- PromQL

type query struct {
	where    string
	expr     string
	template string // the legend (dashboard) or the annotations (alert) that name its labels
	alert    bool
}

func ruleQueries(t *testing.T) []query {
	var qs []query
	for _, r := range loadRules(t).all() {
		var ann []string
		for _, k := range slices.Sorted(maps.Keys(r.Annotations)) {
			ann = append(ann, r.Annotations[k])
		}
		qs = append(qs, query{"alerts.yml " + r.Alert + r.Record, r.Expr, strings.Join(ann, "\n"), r.Alert != ""})
	}
	return qs
}

var grafanaVar = regexp.MustCompile(`\$\{?(\w+)(?::\w+)?\}?`)

// grafanaToPromQL replaces Grafana's variables with values of the right kind.
func grafanaToPromQL(expr string) string {
	return grafanaVar.ReplaceAllStringFunc(expr, func(v string) string {
		name := grafanaVar.FindStringSubmatch(v)[1]
		switch name {
		case "__rate_interval", "__interval", "__range":
			return "5m"
		case "__range_s", "__interval_ms", "__range_ms":
			return "300"
		default: // template variables are only used as regex matchers
			return ".*"
		}
	})
}

var labelValues = regexp.MustCompile(`^\s*(?:label_values|query_result)\((.*?)(?:,\s*\w+)?\)\s*$`)

func dashboardQueries(t *testing.T) []query {
	t.Helper()
	var d map[string]any
	b, err := os.ReadFile("grafana/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	var qs []query
	var walkPanels func(ps []any)
	walkPanels = func(ps []any) {
		for _, p := range ps {
			pm := p.(map[string]any)
			for _, tg := range asSlice(pm["targets"]) {
				if e, _ := tg.(map[string]any)["expr"].(string); e != "" {
					legend, _ := tg.(map[string]any)["legendFormat"].(string)
					qs = append(qs, query{fmt.Sprintf("panel %q", pm["title"]), e, legend, false})
				} else {
					t.Errorf("dashboard panel %q: a target without expr", pm["title"])
				}
			}
			walkPanels(asSlice(pm["panels"]))
		}
	}
	walkPanels(asSlice(d["panels"]))
	for _, a := range asSlice(mapAt(d, "annotations")["list"]) {
		if e, _ := a.(map[string]any)["expr"].(string); e != "" {
			qs = append(qs, query{where: fmt.Sprintf("annotation %q", a.(map[string]any)["name"]), expr: e})
		}
	}
	for _, v := range asSlice(mapAt(d, "templating")["list"]) {
		vm := v.(map[string]any)
		if vm["type"] != "query" {
			continue
		}
		q, _ := vm["query"].(string)
		if qm, ok := vm["query"].(map[string]any); ok {
			q, _ = qm["query"].(string)
		}
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("dashboard variable %q: query %q is not label_values(...) or query_result(...)", vm["name"], q)
			continue
		}
		qs = append(qs, query{where: fmt.Sprintf("variable %q", vm["name"]), expr: m[1]})
	}
	if len(qs) == 0 {
		t.Fatal("dashboard.json: no queries found")
	}
	return qs
}

// docQueries are the expressions of the ```promql blocks of docs/*.md: one
// per line, a line that starts with a space continuing the one before.
func docQueries(t *testing.T) []query {
	t.Helper()
	files, err := filepath.Glob("../docs/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("docs/*.md: %v (%d files)", err, len(files))
	}
	var qs []query
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in := false
		for i, line := range strings.Split(string(b), "\n") {
			switch {
			case strings.HasPrefix(line, "```"):
				in = !in && strings.TrimSpace(strings.TrimPrefix(line, "```")) == "promql"
			case !in || strings.TrimSpace(line) == "":
			case strings.HasPrefix(line, " ") && len(qs) > 0:
				qs[len(qs)-1].expr += "\n" + line
			default:
				qs = append(qs, query{where: fmt.Sprintf("%s:%d", strings.TrimPrefix(f, "../"), i+1), expr: line})
			}
		}
	}
	if len(qs) == 0 {
		t.Fatal("docs/*.md: no ```promql block found")
	}
	return qs
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func mapAt(m map[string]any, k string) map[string]any { v, _ := m[k].(map[string]any); return v }

// selectors parses a query and returns the metric names it selects, with the
// label matchers of each selector (but __name__).
func selectors(expr string) (map[string][]*labels.Matcher, error) {
	e, err := parser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	out := map[string][]*labels.Matcher{}
	var bad error
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		var ms []*labels.Matcher
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName {
				if name == "" && m.Type == labels.MatchEqual {
					name = m.Value
				}
				continue
			}
			ms = append(ms, m)
		}
		if name == "" {
			bad = fmt.Errorf("selector %s has no fixed metric name", vs)
		}
		out[name] = append(out[name], ms...)
		return nil
	})
	return out, bad
}

// selectorProblems returns the metric names q selects and what of them c
// does not know: a name it lacks (unknown says where c's names come from),
// a label a selector matches on that the name does not carry.
func (c catalogue) selectorProblems(q query, unknown string) (names []string, problems []string) {
	sels, err := selectors(grafanaToPromQL(q.expr))
	if err != nil {
		return nil, []string{err.Error()}
	}
	for _, name := range slices.Sorted(maps.Keys(sels)) {
		names = append(names, name)
		info, ok := c[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("metric %s is not %s", name, unknown))
			continue
		}
		for _, m := range sels[name] {
			if info.labels != nil && !info.labels[m.Name] {
				problems = append(problems, fmt.Sprintf("%s has no label %q (it has %v)", name, m.Name, keys(info.labels)))
			}
		}
	}
	return names, problems
}

// registryUnknown is where knownMetrics takes its names from.
const registryUnknown = "exported by the service (processor, httpapi, build_info, kprom, go/process) nor made by Prometheus or a recording rule"

func TestPromQL(t *testing.T) {
	known := knownMetrics(t)
	qs := slices.Concat(ruleQueries(t), dashboardQueries(t), docQueries(t))
	used := map[string]bool{}
	for _, q := range qs {
		names, problems := known.selectorProblems(q, registryUnknown)
		for _, p := range problems {
			t.Errorf("%s: %s\n  %s", q.where, p, q.expr)
		}
		for _, n := range names {
			used[n] = true
		}
	}
	t.Logf("%d queries parsed (alerts.yml, dashboard.json and the promql blocks of docs/), %d distinct metric names, all known", len(qs), len(used))
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestPromQLCheckerCatches proves the checks above are not vacuous.
func TestPromQLCheckerCatches(t *testing.T) {
	known := knownMetrics(t)
	for _, expr := range []string{
		`sum(rate(streamscore_records_consumed[5m]))`,     // missing _total
		`streamscore_end_to_end_latency_seconds > 1`,      // histogram without suffix
		`rate(streamscore_dlq_records_total[5m]`,          // syntax
		`{__name__=~"streamscore_.*"}`,                    // no fixed name
		`streamscore_dlq_records_total{partition="0"}`,    // label it does not have
		`streamscore_consumer_lag_records{grup="g"} > 10`, // label typo
	} {
		if _, problems := known.selectorProblems(query{expr: expr}, registryUnknown); len(problems) == 0 {
			t.Errorf("%s: the checker let it through", expr)
		}
	}
}

// familyName is the metric family a series name belongs to: a
// histogram's or summary's without _bucket, _sum or _count.
func familyName(series string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := strings.CutSuffix(series, suffix); ok {
			return f
		}
	}
	return series
}

func TestDashboardShowsEveryProcessorMetric(t *testing.T) {
	used := map[string]bool{}
	for _, q := range dashboardQueries(t) {
		sels, err := selectors(grafanaToPromQL(q.expr))
		if err != nil {
			continue // reported by TestPromQL
		}
		for name := range sels {
			used[familyName(name)] = true
		}
	}
	for _, f := range slices.Concat(processorFamilies(t), httpFamilies(t), sinkFamilies(t), reloadFamilies(t)) {
		if !used[f.GetName()] {
			t.Errorf("dashboard.json shows no panel for %s", f.GetName())
		}
	}
}

// ---------------------------------------------------------------- Kubernetes

func kubeconformArgs(paths ...string) []string {
	return append([]string{
		"run", kubeconformModule,
		"-strict", "-summary", "-verbose", "-output", "json",
		"-kubernetes-version", kubernetesVersion,
		"-skip", "Kustomization",
		"-schema-location", "testdata/kubeconform/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json",
		"-schema-location", "testdata/kubeconform/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json",
	}, paths...)
}

type kubeconformResult struct {
	Resources []struct {
		Filename string `json:"filename"`
		Kind     string `json:"kind"`
		Name     string `json:"name"`
		Status   string `json:"status"`
		Msg      string `json:"msg"`
	} `json:"resources"`
	Summary struct {
		Valid, Invalid, Errors, Skipped int
	} `json:"summary"`
}

func kubeconform(t *testing.T, paths ...string) (kubeconformResult, error) {
	t.Helper()
	cmd := exec.Command("go", kubeconformArgs(paths...)...)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var res kubeconformResult
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
		t.Fatalf("kubeconform (%s) printed no JSON report: %v\nrun error: %v\nstderr: %s", kubeconformModule, jerr, err, stderr.String())
	}
	return res, err
}

func TestKubeconform(t *testing.T) {
	res, err := kubeconform(t, "kubernetes")
	for _, r := range res.Resources {
		t.Logf("%s %s/%s: %s %s", filepath.Base(r.Filename), r.Kind, r.Name, r.Status, r.Msg)
		if r.Status != "statusValid" && !(r.Kind == "Kustomization" && r.Status == "statusSkipped") {
			t.Errorf("%s %s/%s: %s: %s", r.Filename, r.Kind, r.Name, r.Status, r.Msg)
		}
	}
	if err != nil {
		t.Errorf("kubeconform: %v", err)
	}
	// Every object of deploy/kubernetes and its door directories (kubeconform
	// reads the directory tree), each once.
	var want, got []string
	dirs := []string{"kubernetes"}
	for _, d := range doorDirs {
		dirs = append(dirs, d.dir)
	}
	for _, dir := range dirs {
		for name := range kustomized(t, dir) {
			want = append(want, name)
		}
	}
	for _, r := range res.Resources {
		if r.Status == "statusValid" {
			got = append(got, r.Kind+"/"+r.Name)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("objects validated = %v, want %v", got, want)
	}
	t.Logf("kubeconform summary: %+v (Kubernetes %s schemas, KEDA ScaledObject and TriggerAuthentication, prometheus-operator ServiceMonitor CRD schemas)", res.Summary, kubernetesVersion)
}

// TestKubeconformRejects: the vendored schemas are strict and complete enough
// to catch typos deep in a pod template, and a kind without a schema is an
// error rather than a silent skip.
func TestKubeconformRejects(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid-manifests/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid manifests: %v", err)
	}
	res, runErr := kubeconform(t, "testdata/invalid-manifests")
	if runErr == nil {
		t.Error("kubeconform accepted testdata/invalid-manifests")
	}
	seen := map[string]bool{}
	for _, r := range res.Resources {
		seen[filepath.Base(r.Filename)] = true
		if r.Status != "statusInvalid" && r.Status != "statusError" {
			t.Errorf("%s: status %s, want invalid or error", r.Filename, r.Status)
		}
		t.Logf("%s: %s: %s", filepath.Base(r.Filename), r.Status, r.Msg)
	}
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s: not reported by kubeconform", f)
		}
	}
}

type manifest = map[string]any

func loadManifests(t *testing.T) map[string]manifest {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]manifest{}
	for _, f := range files {
		var m manifest
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		kind, _ := m["kind"].(string)
		if _, dup := out[kind]; dup {
			t.Fatalf("%s: a second %s; the checks below expect one of each", f, kind)
		}
		m["_file"] = filepath.Base(f)
		out[kind] = m
	}
	return out
}

// at walks a decoded YAML document: at(m, "spec", "template", 0, "name").
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			s, _ := v.([]any)
			if k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

// TestKubernetesConsistent checks what a schema cannot: the manifests agree
// with each other and with the service's contract.
func TestKubernetesConsistent(t *testing.T) {
	ms := loadManifests(t)
	for _, k := range []string{"Kustomization", "StatefulSet", "Service", "ConfigMap", "PodDisruptionBudget", "ScaledObject"} {
		if ms[k] == nil {
			t.Fatalf("deploy/kubernetes has no %s", k)
		}
	}

	// kustomization lists exactly the other files.
	var listed, present []string
	for _, r := range asSlice(ms["Kustomization"]["resources"]) {
		listed = append(listed, str(r))
	}
	for k, m := range ms {
		if k != "Kustomization" {
			present = append(present, str(m["_file"]))
		}
	}
	sort.Strings(listed)
	sort.Strings(present)
	if !slices.Equal(listed, present) {
		t.Errorf("kustomization.yaml resources = %v, files = %v", listed, present)
	}

	// The service's config file.
	var cfg struct {
		Kafka struct {
			Brokers string `yaml:"brokers"`
		} `yaml:"kafka"`
		Input struct {
			Topic string `yaml:"topic"`
			Group string `yaml:"group"`
		} `yaml:"input"`
		HTTP struct {
			Listen string `yaml:"listen"`
		} `yaml:"http"`
		Processor struct {
			ShutdownTimeout string `yaml:"shutdown_timeout"`
			SessionTimeout  string `yaml:"session_timeout"`
		} `yaml:"processor"`
		Rest map[string]any `yaml:",inline"`
	}
	if err := yaml.Unmarshal([]byte(str(at(ms["ConfigMap"], "data", "config.yaml"))), &cfg); err != nil {
		t.Fatalf("configmap.yaml config.yaml: %v", err)
	}
	shutdown, err := time.ParseDuration(cfg.Processor.ShutdownTimeout)
	if err != nil {
		t.Fatalf("processor.shutdown_timeout: %v", err)
	}

	sts := ms["StatefulSet"]
	pod := at(sts, "spec", "template")
	podLabels := at(pod, "metadata", "labels").(map[string]any)
	c := at(pod, "spec", "containers", 0)

	grace, _ := at(pod, "spec", "terminationGracePeriodSeconds").(int)
	if time.Duration(grace)*time.Second <= shutdown {
		t.Errorf("terminationGracePeriodSeconds %ds must exceed processor.shutdown_timeout %s", grace, shutdown)
	}
	if sec, ok := at(pod, "spec", "securityContext", "runAsUser").(int); !ok || sec == 0 {
		t.Errorf("pod securityContext.runAsUser = %v, want a non-root uid", at(pod, "spec", "securityContext", "runAsUser"))
	}
	for _, k := range []string{"runAsNonRoot", "readOnlyRootFilesystem"} {
		if at(c, "securityContext", k) != true {
			t.Errorf("container securityContext.%s must be true", k)
		}
	}
	if at(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Error("container securityContext.allowPrivilegeEscalation must be false")
	}

	env := map[string]any{}
	for _, e := range asSlice(at(c, "env")) {
		env[str(at(e, "name"))] = e
	}
	if got := str(at(env["STREAMSCORE_PROCESSOR_INSTANCE_ID"], "valueFrom", "fieldRef", "fieldPath")); got != "metadata.name" {
		t.Errorf("STREAMSCORE_PROCESSOR_INSTANCE_ID comes from %q, want the pod name (metadata.name)", got)
	}
	memLimit := quantityBytes(t, str(at(c, "resources", "limits", "memory")))
	if gml := str(at(env["GOMEMLIMIT"], "value")); gml != "" && quantityBytes(t, strings.TrimSuffix(gml, "B")) >= memLimit {
		t.Errorf("GOMEMLIMIT %s must stay below limits.memory", gml)
	}
	for _, k := range []string{"cpu", "memory"} {
		if at(c, "resources", "requests", k) == nil {
			t.Errorf("container resources.requests.%s is not set", k)
		}
	}

	_, listenPort, _ := strings.Cut(cfg.HTTP.Listen, ":")
	if p, _ := at(c, "ports", 0, "containerPort").(int); strconv.Itoa(p) != listenPort || str(at(c, "ports", 0, "name")) != "http" {
		t.Errorf("container port %v (%v) does not match http.listen %s", at(c, "ports", 0, "containerPort"), at(c, "ports", 0, "name"), cfg.HTTP.Listen)
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"} {
		if got := str(at(c, probe, "httpGet", "path")); got != path {
			t.Errorf("%s path %q, want %q", probe, got, path)
		}
		if got := at(c, probe, "httpGet", "port"); got != "http" {
			t.Errorf("%s port %v, want the named port http", probe, got)
		}
	}
	if str(at(pod, "metadata", "annotations", "prometheus.io/port")) != listenPort {
		t.Errorf("prometheus.io/port annotation does not match http.listen %s", cfg.HTTP.Listen)
	}

	for _, sel := range []struct {
		what   string
		labels any
	}{
		{"StatefulSet selector", at(sts, "spec", "selector", "matchLabels")},
		{"Service selector", at(ms["Service"], "spec", "selector")},
		{"PodDisruptionBudget selector", at(ms["PodDisruptionBudget"], "spec", "selector", "matchLabels")},
	} {
		m, _ := sel.labels.(map[string]any)
		if len(m) == 0 {
			t.Errorf("%s is empty", sel.what)
		}
		for k, v := range m {
			if podLabels[k] != v {
				t.Errorf("%s %s=%v does not select the pod template (labels %v)", sel.what, k, v, podLabels)
			}
		}
	}
	if str(at(sts, "spec", "serviceName")) != str(at(ms["Service"], "metadata", "name")) {
		t.Error("StatefulSet serviceName must name the headless Service")
	}
	if at(sts, "spec", "replicas") != nil {
		t.Error("StatefulSet sets spec.replicas; KEDA owns it")
	}
	if str(at(pod, "spec", "volumes", 0, "configMap", "name")) != str(at(ms["ConfigMap"], "metadata", "name")) {
		t.Error("the config volume does not mount the ConfigMap")
	}

	so := ms["ScaledObject"]
	if str(at(so, "spec", "scaleTargetRef", "kind")) != "StatefulSet" || str(at(so, "spec", "scaleTargetRef", "name")) != str(at(sts, "metadata", "name")) {
		t.Errorf("ScaledObject targets %v, want the StatefulSet", at(so, "spec", "scaleTargetRef"))
	}
	trig := at(so, "spec", "triggers", 0)
	if str(at(trig, "type")) != "kafka" {
		t.Errorf("trigger type %v, want kafka", at(trig, "type"))
	}
	for k, want := range map[string]string{
		"bootstrapServers": cfg.Kafka.Brokers,
		"consumerGroup":    cfg.Input.Group,
		"topic":            cfg.Input.Topic,
	} {
		if got := str(at(trig, "metadata", k)); got != want {
			t.Errorf("ScaledObject trigger %s = %q, config.yaml says %q", k, got, want)
		}
	}
	minR, _ := at(so, "spec", "minReplicaCount").(int)
	maxR, _ := at(so, "spec", "maxReplicaCount").(int)
	if minR < 1 || maxR < minR {
		t.Errorf("minReplicaCount %d, maxReplicaCount %d: want 1 <= min <= max (max = input partitions)", minR, maxR)
	}
}

var quantityRE = regexp.MustCompile(`^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$`)

func quantityBytes(t *testing.T, q string) int64 {
	t.Helper()
	m := quantityRE.FindStringSubmatch(q)
	if m == nil {
		t.Fatalf("quantity %q: not understood", q)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	mult := map[string]int64{"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}[m[2]]
	return n * mult
}

// ---------------------------------------------------------------- the service's own config loader

// serviceBin is the binary under test, found or built at the first
// buildService; TestMain removes what was built.
var serviceBin struct {
	once    sync.Once
	path    string
	cleanup func()
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if serviceBin.cleanup != nil {
		serviceBin.cleanup()
	}
	os.Exit(code)
}

// buildService returns the streamscore binary under test (proctest.Binary:
// STREAMSCORE_TEST_BIN, or cmd/streamscore built once per test binary run),
// only when a test needs it: the file-only checks build nothing.
func buildService(t *testing.T) string {
	t.Helper()
	serviceBin.once.Do(func() {
		root, err := proctest.RepoRoot()
		if err != nil {
			serviceBin.err = err
			return
		}
		serviceBin.path, serviceBin.cleanup, serviceBin.err = proctest.Binary(root)
	})
	if serviceBin.err != nil {
		t.Fatal(serviceBin.err)
	}
	return serviceBin.path
}

// effectiveConfig runs `streamscore config` the way a deployment starts the
// service (config file and/or environment) and returns what it resolved. The
// loader rejects unknown keys and bad values, so this proves the deploy files
// speak the service's configuration language.
func effectiveConfig(t *testing.T, bin string, env map[string]string, args ...string) map[string]any {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"config"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STREAMSCORE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("streamscore config %v with %v: %v\n%s", args, env, err, stderr.String())
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(stdout.Bytes(), &cfg); err != nil {
		t.Fatalf("streamscore config output: %v", err)
	}
	return cfg
}

func TestServiceAcceptsDeployConfig(t *testing.T) {
	bin := buildService(t)

	// Kubernetes: the ConfigMap's file plus the StatefulSet's environment,
	// with the Secret's files (secretFiles) where the pod mounts them.
	ms := loadManifests(t)
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(secretFiles(t, ms, str(at(ms["ConfigMap"], "data", "config.yaml")))), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, e := range asSlice(at(ms["StatefulSet"], "spec", "template", "spec", "containers", 0, "env")) {
		name := str(at(e, "name"))
		if !strings.HasPrefix(name, "STREAMSCORE_") {
			continue
		}
		switch {
		case at(e, "value") != nil:
			env[name] = str(at(e, "value"))
		case at(e, "valueFrom", "fieldRef", "fieldPath") == "metadata.name":
			env[name] = "streamscore-0"
		case at(e, "valueFrom", "secretKeyRef") != nil:
			env[name] = "secret"
		}
	}
	k8s := effectiveConfig(t, bin, env, "--config", file)
	if got := at(k8s, "processor", "instance_id"); got != "streamscore-0" {
		t.Errorf("Kubernetes: processor.instance_id = %v, want the pod name", got)
	}
	shutdown, err := time.ParseDuration(str(at(k8s, "processor", "shutdown_timeout")))
	if err != nil {
		t.Fatalf("effective processor.shutdown_timeout: %v", err)
	}
	grace, _ := at(ms["StatefulSet"], "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
	if time.Duration(grace)*time.Second <= shutdown {
		t.Errorf("Kubernetes: terminationGracePeriodSeconds %ds must exceed the effective shutdown_timeout %s", grace, shutdown)
	}
	if h := str(at(k8s, "http", "listen")); !strings.HasPrefix(h, "0.0.0.0:") {
		t.Errorf("Kubernetes: http.listen %q is not reachable from outside the pod", h)
	}
	t.Logf("Kubernetes config accepted: brokers %v, topics %v -> %v / %v, group %v",
		at(k8s, "kafka", "brokers"), at(k8s, "input", "topic"), at(k8s, "output", "topic"), at(k8s, "dlq", "topic"), at(k8s, "input", "group"))

	// Compose: the streamscore and loadgen services' environment; the topics
	// they use are the ones kafka-init creates.
	var compose struct {
		Services map[string]struct {
			Environment     map[string]string `yaml:"environment"`
			Command         any               `yaml:"command"`
			StopGracePeriod string            `yaml:"stop_grace_period"`
		} `yaml:"services"`
		Rest map[string]any `yaml:",inline"`
	}
	readYAMLPart(t, "../docker-compose.yml", &compose)
	initCmd := fmt.Sprint(compose.Services["kafka-init"].Command)
	for _, svc := range []string{"streamscore", "loadgen"} {
		cfg := effectiveConfig(t, bin, compose.Services[svc].Environment)
		if svc == "streamscore" {
			// docker compose stop sends SIGKILL after stop_grace_period
			// (10s when unset); the drain needs processor.shutdown_timeout.
			grace := 10 * time.Second
			if g := compose.Services[svc].StopGracePeriod; g != "" {
				if grace, err = time.ParseDuration(g); err != nil {
					t.Fatalf("compose %s: stop_grace_period: %v", svc, err)
				}
			}
			drain, err := time.ParseDuration(str(at(cfg, "processor", "shutdown_timeout")))
			if err != nil {
				t.Fatalf("compose %s: effective processor.shutdown_timeout: %v", svc, err)
			}
			if grace <= drain {
				t.Errorf("compose %s: stop_grace_period %s must exceed the effective processor.shutdown_timeout %s", svc, grace, drain)
			}
		}
		if h := str(at(cfg, "http", "listen")); !strings.HasPrefix(h, "0.0.0.0:") {
			t.Errorf("compose %s: http.listen %q is not reachable from other containers", svc, h)
		}
		for _, k := range [][]string{{"input", "topic"}, {"output", "topic"}, {"dlq", "topic"}} {
			topic := str(at(cfg, k[0], k[1]))
			if !strings.Contains(initCmd, "--topic "+topic+" ") {
				t.Errorf("compose %s: %s.%s %q is not created by kafka-init", svc, k[0], k[1], topic)
			}
		}
	}

	// The doors profile: serve and the sink. `config` checks as run does,
	// so it gets run's required keys beside each service's own environment;
	// an unknown STREAMSCORE_* name is an error there.
	runKeys := map[string]string{"STREAMSCORE_KAFKA_BROKERS": "kafka:9092", "STREAMSCORE_MODEL_BUNDLE": "/examples/fraud"}
	drains := map[string]time.Duration{"streamscore-serve": 10 * time.Second, "streamscore-sink-postgres": 10 * time.Second}
	for svc, drain := range drains {
		env := maps.Clone(runKeys)
		maps.Copy(env, compose.Services[svc].Environment)
		if len(compose.Services[svc].Environment) == 0 {
			t.Fatalf("compose has no service %s with an environment", svc)
		}
		cfg := effectiveConfig(t, bin, env)
		if h := str(at(cfg, "http", "listen")); !strings.HasPrefix(h, "0.0.0.0:9464") {
			t.Errorf("compose %s: http.listen %q, want 0.0.0.0:9464 (the port prometheus.yml scrapes)", svc, h)
		}
		if svc == "streamscore-serve" {
			if d := str(at(cfg, "http", "shutdown_timeout")); d != drain.String() {
				t.Errorf("compose %s: http.shutdown_timeout %s, the test assumes %s", svc, d, drain)
			}
		}
		if grace, err := time.ParseDuration(compose.Services[svc].StopGracePeriod); err != nil || grace <= drain {
			t.Errorf("compose %s: stop_grace_period %q must exceed its drain %s", svc, compose.Services[svc].StopGracePeriod, drain)
		}
	}
	sink := compose.Services["streamscore-sink-postgres"].Environment
	if topic := sink["STREAMSCORE_OUTPUT_TOPIC"]; !strings.Contains(initCmd, "--topic "+topic+" ") {
		t.Errorf("compose sink: output topic %q is not created by kafka-init", topic)
	}
	if f := sink["STREAMSCORE_SINK_POSTGRES_PASSWORD_FILE"]; f != "/run/secrets/postgres-password" {
		t.Errorf("compose sink: password file %q, want the postgres-password secret's /run/secrets/postgres-password", f)
	}
	if _, err := os.Stat("compose/postgres-password"); err != nil {
		t.Errorf("compose: the postgres-password secret's file: %v", err)
	}
}

// ---------------------------------------------------------------- Compose

func checkCompose(t *testing.T, file string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash not found")
	}
	return run(t, "..", "bash", "scripts/check-compose.sh", file)
}

func TestCompose(t *testing.T) {
	out, err := checkCompose(t, "docker-compose.yml")
	if err != nil {
		t.Fatalf("scripts/check-compose.sh docker-compose.yml: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "check-compose: ok (") {
		t.Fatalf("unexpected last line %q", last)
	}
	t.Log(last) // says which check ran

	var compose struct {
		Services map[string]struct {
			Build       map[string]any `yaml:"build"`
			Image       string         `yaml:"image"`
			Command     []string       `yaml:"command"`
			Environment map[string]any `yaml:"environment"`
			Volumes     []string       `yaml:"volumes"`
		} `yaml:"services"`
		Rest map[string]any `yaml:",inline"`
	}
	readYAMLPart(t, "../docker-compose.yml", &compose)
	for _, s := range []string{"kafka", "streamscore", "loadgen", "prometheus", "grafana"} {
		if _, ok := compose.Services[s]; !ok {
			t.Errorf("docker-compose.yml has no %s service", s)
		}
	}
	if !strings.HasPrefix(compose.Services["kafka"].Image, "apache/kafka:") {
		t.Errorf("kafka image %q, want the official apache/kafka", compose.Services["kafka"].Image)
	}
	if got := compose.Services["streamscore"].Build["dockerfile"]; got != "deploy/Dockerfile" {
		t.Errorf("streamscore builds from %v, want deploy/Dockerfile", got)
	}
	if c := compose.Services["loadgen"].Command; len(c) == 0 || c[0] != "produce" {
		t.Errorf("loadgen command %v, want streamscore produce", c)
	}
	mounts := strings.Join(append(compose.Services["prometheus"].Volumes, compose.Services["grafana"].Volumes...), "\n")
	for _, f := range []string{"deploy/prometheus/prometheus.yml:", "deploy/prometheus/alerts.yml:", "deploy/grafana/provisioning:", "deploy/grafana/dashboard.json:"} {
		if !strings.Contains(mounts, "./"+f) {
			t.Errorf("docker-compose.yml does not mount %s", strings.TrimSuffix(f, ":"))
		}
	}
	// Prometheus finds the service by its compose name on the port it listens on.
	var prom struct {
		ScrapeConfigs []struct {
			JobName      string `yaml:"job_name"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
		Rest map[string]any `yaml:",inline"`
	}
	readYAMLPart(t, "prometheus/prometheus.yml", &prom)
	listen := str(compose.Services["streamscore"].Environment["STREAMSCORE_HTTP_LISTEN"])
	found := false
	for _, sc := range prom.ScrapeConfigs {
		if sc.JobName != "streamscore" {
			continue
		}
		for _, d := range sc.DNSSDConfigs {
			found = slices.Contains(d.Names, "streamscore") && strings.HasSuffix(listen, ":"+strconv.Itoa(d.Port))
		}
	}
	if !found {
		t.Errorf("prometheus.yml job streamscore does not scrape the compose service streamscore on its listen address %q", listen)
	}
}

// TestComposeCheckRejects feeds the check broken files; each names the
// problem it must report in a "# want:" line (checked when the schema check
// ran; docker compose words its errors its own way).
func TestComposeCheckRejects(t *testing.T) {
	files, err := filepath.Glob("testdata/compose/invalid-*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid compose files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, _, _ := strings.Cut(strings.TrimPrefix(string(b), "# want: "), "\n")
			out, err := checkCompose(t, "deploy/"+f)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit %v, want 1 (invalid)\n%s", err, out)
			}
			if strings.Contains(out, "(schema check)") && !strings.Contains(out, want) {
				t.Errorf("output does not mention %q:\n%s", want, out)
			}
		})
	}
}

// ---------------------------------------------------------------- Dockerfile and docs

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms, users []string
	var lines []string
	cont := ""
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "#") || l == "" {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cont += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		l, cont = cont+l, ""
		lines = append(lines, l)
		switch f := strings.Fields(l); strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, f[1])
		case "USER":
			users = append(users, f[1])
		}
	}
	all := strings.Join(lines, "\n")
	if len(froms) < 2 {
		t.Errorf("want a multi-stage build, FROM lines: %v", froms)
	}
	if froms[len(froms)-1] != "scratch" {
		t.Errorf("final stage FROM %s, want scratch", froms[len(froms)-1])
	}
	if len(users) == 0 {
		t.Fatal("no USER: the image would run as root")
	}
	uid, _, _ := strings.Cut(users[len(users)-1], ":")
	ms := loadManifests(t)
	wantUID := at(ms["StatefulSet"], "spec", "template", "spec", "securityContext", "runAsUser")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 || n != wantUID {
		t.Errorf("USER %s: want the numeric non-root uid the StatefulSet runs as (%v)", users[len(users)-1], wantUID)
	}
	for _, want := range []string{"CGO_ENABLED=0", "COPY examples/ /examples/", "ca-certificates.crt", "./cmd/streamscore", "EXPOSE 9464"} {
		if !strings.Contains(all, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Contains(all, ":latest") {
		t.Error("Dockerfile uses a :latest tag; pin versions")
	}
}

func TestRunbook(t *testing.T) {
	b, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	headers := processorHeaders(t)
	if len(headers) < 10 {
		t.Fatalf("found %d Header* constants in processor/records.go, want the DLQ headers and more: %v", len(headers), headers)
	}
	for _, h := range headers {
		if !strings.Contains(doc, "`"+h+"`") {
			t.Errorf("docs/operations.md does not document the record header %s", h)
		}
	}
}

// processorHeaders is the value of every Header* constant the processor
// declares (processor/records.go): the headers it writes, read from the
// source so that a new one cannot be left out of the runbook.
func processorHeaders(t *testing.T) []string {
	t.Helper()
	f, err := goparser.ParseFile(token.NewFileSet(), "../processor/records.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if lit, ok := vs.Values[i].(*ast.BasicLit); ok && strings.HasPrefix(name.Name, "Header") && lit.Kind == token.STRING {
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, v)
			}
		}
		return false
	})
	return out
}
