package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/streamscore/streamscore/internal/proctest"
)

// Bounds for waits. They are deadlines for conditions, not assertions about
// speed: a healthy run meets them with a wide margin. (The subprocess bounds
// are internal/proctest's.)
const startTimeout = 30 * time.Second // service start -> "streamscore running" / ready

// runCLI runs the binary to completion (bounded by limit) and returns
// stdout, stderr and the exit code.
func runCLI(t testing.TB, limit time.Duration, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := proctest.Start(t, "streamscore "+args[0], proctest.Options{Env: env, Separate: true}, bin, args...)
	code = p.Wait(limit)
	return p.Stdout.String(), p.Stderr.String(), code
}

// ---------------------------------------------------------------------------
// the service

// serviceConfig is what the tests vary in a streamscore YAML config file.
type serviceConfig struct {
	Brokers        string // host:port list, or "embedded"
	EmbeddedDir    string // kafka.embedded.data_dir ("" keeps it in memory)
	Input, Output  string // topics ("" keeps the default)
	DLQ, Group     string
	HTTP           string // http.listen
	Pprof          bool
	LagRefresh     string // processor.lag_refresh
	CommitInterval string // processor.commit_interval ("" keeps the default)
	Partitions     int    // processor.topic_partitions / kafka.embedded.partitions (0 keeps the default)
	CreateTopics   bool
	Extra          map[string]any // more dotted keys
}

// keys are the config's dotted keys.
func (c serviceConfig) keys() map[string]any {
	kv := proctest.MergeKeys(proctest.BaseKeys(filepath.Join(repoRoot, "examples", "fraud")), map[string]any{
		"kafka.brokers":              c.Brokers,
		"kafka.embedded.data_dir":    c.EmbeddedDir,
		"http.listen":                c.HTTP,
		"http.pprof":                 c.Pprof,
		"processor.create_topics":    c.CreateTopics,
		"processor.shutdown_timeout": "10s",
		"processor.session_timeout":  "10s",
		"processor.lag_refresh":      "1s",
		"processor.commit_interval":  "1s",
		"kafka.embedded.port":        0,
	})
	if c.LagRefresh != "" {
		kv["processor.lag_refresh"] = c.LagRefresh
	}
	if c.CommitInterval != "" {
		kv["processor.commit_interval"] = c.CommitInterval
	}
	if c.Partitions > 0 {
		kv["processor.topic_partitions"] = c.Partitions
		kv["kafka.embedded.partitions"] = c.Partitions
	}
	for k, v := range map[string]string{"input.topic": c.Input, "output.topic": c.Output, "dlq.topic": c.DLQ, "input.group": c.Group} {
		if v != "" {
			kv[k] = v
		}
	}
	return proctest.MergeKeys(kv, c.Extra)
}

// service is a running `streamscore run`.
type service struct {
	*proctest.Proc
	http    string // host:port of /metrics
	brokers string // the brokers it uses (the embedded broker's address when embedded)
}

// startService writes cfg to a file, starts `streamscore run --config FILE`
// and waits for its "streamscore running" log line.
func startService(t testing.TB, name string, cfg serviceConfig) *service {
	t.Helper()
	path := proctest.WriteConfig(t, cfg.keys())
	p := proctest.Start(t, name, proctest.Options{Dir: filepath.Dir(path)}, bin, "run", "--config", path)
	s := &service{Proc: p, http: cfg.HTTP}
	line := p.WaitLog(startTimeout, "streamscore running")
	s.brokers, _ = line["brokers"].(string)
	if s.brokers == "" {
		t.Fatalf("%s: no brokers in the start line %v", name, line)
	}
	if h, _ := line["http"].(string); h != cfg.HTTP {
		t.Fatalf("%s: serves HTTP on %q, configured %q", name, h, cfg.HTTP)
	}
	if ks, _ := line["kafka_security"].(string); ks != "PLAINTEXT" {
		t.Fatalf("%s: kafka_security %q in the start line, want PLAINTEXT (no TLS, no SASL)", name, ks)
	}
	return s
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func freeAddr(t testing.TB) string { return "127.0.0.1:" + strconv.Itoa(freePort(t)) }

var httpClient = &http.Client{Timeout: 5 * time.Second}

// httpGet returns the status and body of GET url.
func httpGet(url string) (int, string, error) {
	resp, b, err := proctest.HTTPDo(httpClient, "GET", url, nil)
	if resp == nil {
		return 0, "", err
	}
	return resp.StatusCode, string(b), err
}

// ---------------------------------------------------------------------------
// /metrics

// scrape fetches and parses http://addr/metrics.
func scrape(addr string) (map[string]*dto.MetricFamily, error) {
	code, body, err := httpGet("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("/metrics: HTTP %d", code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(strings.NewReader(body))
}

// metricValue is the value of the gauge/counter/untyped series of family
// name whose labels include want; ok is false when there is no such series.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, lp := range m.GetLabel() {
		got[lp.GetName()] = lp.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// lagSeries returns streamscore_consumer_lag_records per partition of topic.
func lagSeries(fams map[string]*dto.MetricFamily, topic string) map[int32]float64 {
	out := map[int32]float64{}
	f := fams["streamscore_consumer_lag_records"]
	if f == nil {
		return out
	}
	for _, m := range f.GetMetric() {
		var tp string
		part := int64(-1)
		for _, lp := range m.GetLabel() {
			switch lp.GetName() {
			case "topic":
				tp = lp.GetValue()
			case "partition":
				part, _ = strconv.ParseInt(lp.GetValue(), 10, 32)
			}
		}
		if tp == topic && part >= 0 {
			out[int32(part)] = m.GetGauge().GetValue()
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// Kafka's consumer-groups tool

// groupToolRow is one partition row of `kafka-consumer-groups --describe`.
type groupToolRow struct {
	Partition            int32
	Current, End, Lag    int64 // -1 when the tool prints "-"
	ConsumerID, ClientID string
}

// kafkaConsumerGroups runs deploy/kafka/kafka-tool.sh consumer-groups
// --describe for group and returns its rows for topic. The tool exits 0 even
// when it fails, so an "Error:" line or a missing table is a failure here.
func kafkaConsumerGroups(t testing.TB, brokers, group, topic string) map[int32]groupToolRow {
	t.Helper()
	libs := filepath.Join(kafkaCache(), "libs")
	if m, _ := filepath.Glob(filepath.Join(libs, "kafka-tools-*.jar")); len(m) == 0 {
		t.Fatalf("Kafka's command-line tools are not in %s: run `bash deploy/kafka/kafka-up.sh` once (it fetches the jars)", libs)
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Fatalf("java not found in PATH: the Kafka tools need it (scripts/install-deps.sh)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot, "deploy", "kafka", "kafka-tool.sh"),
		"consumer-groups", "--bootstrap-server", brokers, "--describe", "--group", group)
	cmd.Env = proctest.CleanEnv("STREAMSCORE_DEV_KAFKA_CACHE=" + kafkaCache())
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("kafka-consumer-groups --describe --group %s (%.1fs):\n%s", group, time.Since(start).Seconds(), strings.TrimSpace(stdout.String()))
	if err != nil || strings.Contains(stdout.String()+stderr.String(), "Error:") {
		t.Fatalf("kafka-consumer-groups --describe: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), proctest.LastLines(stderr.String(), 30))
	}
	rows, perr := parseGroupTool(stdout.String(), group, topic)
	if perr != nil {
		t.Fatalf("kafka-consumer-groups output: %v\n%s", perr, stdout.String())
	}
	return rows
}

func parseGroupTool(out, group, topic string) (map[int32]groupToolRow, error) {
	rows := map[int32]groupToolRow{}
	var cols map[string]int
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if f[0] == "GROUP" {
			cols = map[string]int{}
			for i, c := range f {
				cols[c] = i
			}
			continue
		}
		if cols == nil || f[0] != group || len(f) < len(cols) {
			continue
		}
		get := func(c string) string {
			if i, ok := cols[c]; ok && i < len(f) {
				return f[i]
			}
			return ""
		}
		if get("TOPIC") != topic {
			continue
		}
		num := func(c string) (int64, error) {
			s := get(c)
			if s == "-" {
				return -1, nil
			}
			return strconv.ParseInt(s, 10, 64)
		}
		part, err := strconv.ParseInt(get("PARTITION"), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("PARTITION %q: %v", get("PARTITION"), err)
		}
		r := groupToolRow{Partition: int32(part), ConsumerID: get("CONSUMER-ID"), ClientID: get("CLIENT-ID")}
		for c, dst := range map[string]*int64{"CURRENT-OFFSET": &r.Current, "LOG-END-OFFSET": &r.End, "LAG": &r.Lag} {
			if *dst, err = num(c); err != nil {
				return nil, fmt.Errorf("%s: %v", c, err)
			}
		}
		rows[r.Partition] = r
	}
	if cols == nil {
		return nil, errors.New("no GROUP header line")
	}
	return rows, nil
}

// kafkaCache is where deploy/kafka keeps the broker jars.
func kafkaCache() string {
	if c := os.Getenv("STREAMSCORE_DEV_KAFKA_CACHE"); c != "" {
		return c
	}
	return filepath.Join(repoRoot, ".cache", "kafka")
}
