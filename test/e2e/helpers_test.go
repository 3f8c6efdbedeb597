package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Bounds for subprocesses and waits. They are deadlines for conditions, not
// assertions about speed: a healthy run meets them with a wide margin.
const (
	procMaxLife  = 4 * time.Minute  // a subprocess is SIGKILLed after this, whatever happens
	stopTimeout  = 30 * time.Second // SIGTERM -> exit, before SIGKILL
	startTimeout = 30 * time.Second // service start -> "streamscore running" / ready
	pollEvery    = 100 * time.Millisecond
)

// ---------------------------------------------------------------------------
// output buffers

// logBuffer collects a subprocess's output; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) Lines() []string {
	s := strings.TrimRight(b.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// ---------------------------------------------------------------------------
// subprocesses

// proc is a subprocess that the test's cleanup stops (SIGTERM, then SIGKILL)
// and whose output is printed when the test fails.
type proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stdout *logBuffer
	stderr *logBuffer // the same buffer as stdout when started with combined output
	done   chan struct{}
	err    error // Wait's result, valid once done is closed
	start  time.Time
}

// cleanEnv is the test's environment without STREAMSCORE_* variables, so
// the subprocess's configuration is exactly what the test passes.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STREAMSCORE_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

type procOpts struct {
	dir      string   // working directory (default: a fresh temp dir)
	env      []string // extra environment, KEY=VALUE
	separate bool     // keep stdout and stderr apart (default: combined)
}

// startProc starts path with args. The process is bounded: SIGKILLed after
// procMaxLife, and stopped in t.Cleanup if still running.
func startProc(t testing.TB, name string, o procOpts, path string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, stdout: &logBuffer{}, done: make(chan struct{})}
	p.stderr = p.stdout
	if o.separate {
		p.stderr = &logBuffer{}
	}
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = o.dir
	cmd.Env = cleanEnv(o.env...)
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	// Die with the test binary if it is killed before its cleanups run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd = cmd
	// Registered before the stop cleanup, so it runs after it (LIFO) and
	// prints the complete output.
	t.Cleanup(func() {
		if t.Failed() {
			p.dumpOutput()
		}
	})
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s (%s %s): %v", name, path, strings.Join(args, " "), err)
	}
	p.start = time.Now()
	t.Logf("started %s: pid %d: %s %s", name, cmd.Process.Pid, filepath.Base(path), strings.Join(args, " "))
	killer := time.AfterFunc(procMaxLife, func() {
		t.Errorf("%s still running after %s: SIGKILL", name, procMaxLife)
		_ = cmd.Process.Kill()
	})
	go func() {
		p.err = cmd.Wait()
		killer.Stop()
		close(p.done)
	}()
	t.Cleanup(func() { p.stopQuietly() })
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitCode is the exit status once the process ended (-1: killed by a signal).
func (p *proc) exitCode() int {
	<-p.done
	if p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// wait waits up to d for the process to exit by itself and returns its exit
// code; on timeout it fails the test (the cleanup kills the process).
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.exitCode()
	case <-time.After(d):
		p.t.Fatalf("%s (pid %d) did not exit within %s", p.name, p.pid(), d)
		return -1
	}
}

// stop sends SIGTERM and waits up to stopTimeout for the exit; it returns
// the exit code, or fails the test and SIGKILLs the process on timeout.
func (p *proc) stop() int {
	p.t.Helper()
	if p.exited() {
		return p.exitCode()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.exitCode()
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Errorf("%s (pid %d) did not exit within %s of SIGTERM; SIGKILLed", p.name, p.pid(), stopTimeout)
		return -1
	}
}

func (p *proc) stopQuietly() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) dumpOutput() {
	const max = 200
	dump := func(what string, lines []string) {
		if len(lines) > max {
			p.t.Logf("---- %s %s (last %d of %d lines)", p.name, what, max, len(lines))
			lines = lines[len(lines)-max:]
		} else {
			p.t.Logf("---- %s %s (%d lines)", p.name, what, len(lines))
		}
		for _, l := range lines {
			p.t.Logf("  | %s", l)
		}
	}
	if p.stderr == p.stdout {
		dump("output", p.stdout.Lines())
		return
	}
	dump("stdout", p.stdout.Lines())
	dump("stderr", p.stderr.Lines())
}

// runCLI runs the binary to completion (bounded by limit) and returns
// stdout, stderr and the exit code.
func runCLI(t testing.TB, limit time.Duration, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := startProc(t, "streamscore "+args[0], procOpts{env: env, separate: true}, bin, args...)
	code = p.wait(limit)
	return p.stdout.String(), p.stderr.String(), code
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

// yaml renders the config as a nested YAML document.
func (c serviceConfig) yaml(t testing.TB) []byte {
	t.Helper()
	kv := map[string]any{
		"kafka.brokers":              c.Brokers,
		"kafka.embedded.data_dir":    c.EmbeddedDir,
		"model.bundle":               filepath.Join(repoRoot, "examples", "fraud"),
		"http.listen":                c.HTTP,
		"http.pprof":                 c.Pprof,
		"log.format":                 "json",
		"log.level":                  "info",
		"processor.create_topics":    c.CreateTopics,
		"processor.shutdown_timeout": "10s",
		"processor.session_timeout":  "10s",
		"processor.lag_refresh":      "1s",
		"processor.commit_interval":  "1s",
		"kafka.embedded.port":        0,
	}
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
	for k, v := range c.Extra {
		kv[k] = v
	}
	tree := map[string]any{}
	for k, v := range kv {
		parts := strings.Split(k, ".")
		m := tree
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = v
	}
	out, err := yaml.Marshal(tree)
	if err != nil {
		t.Fatalf("config yaml: %v", err)
	}
	return out
}

// service is a running `streamscore run`.
type service struct {
	*proc
	http    string // host:port of /metrics
	brokers string // the brokers it uses (the embedded broker's address when embedded)
}

// startService writes cfg to a file, starts `streamscore run --config FILE`
// and waits for its "streamscore running" log line.
func startService(t testing.TB, name string, cfg serviceConfig) *service {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, cfg.yaml(t), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, name, procOpts{dir: dir}, bin, "run", "--config", path)
	s := &service{proc: p, http: cfg.HTTP}
	line := p.waitLogLine(t, startTimeout, func(l logLine) bool { return l.Msg == "streamscore running" })
	s.brokers, _ = line.Fields["brokers"].(string)
	if s.brokers == "" {
		t.Fatalf("%s: no brokers in the start line %v", name, line.Fields)
	}
	if h, _ := line.Fields["http"].(string); h != cfg.HTTP {
		t.Fatalf("%s: serves HTTP on %q, configured %q", name, h, cfg.HTTP)
	}
	return s
}

// logLine is one JSON log line of the service.
type logLine struct {
	Msg    string
	Level  string
	Fields map[string]any
}

func parseLogLine(s string) (logLine, bool) {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return logLine{}, false
	}
	l := logLine{Fields: m}
	l.Msg, _ = m["msg"].(string)
	l.Level, _ = m["level"].(string)
	return l, true
}

// waitLogLine polls the process's output for a JSON log line matching
// match; it fails the test if the process exits or the deadline passes.
func (p *proc) waitLogLine(t testing.TB, d time.Duration, match func(logLine) bool) logLine {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, s := range p.stderr.Lines() {
			if l, ok := parseLogLine(s); ok && match(l) {
				return l
			}
		}
		if p.exited() {
			t.Fatalf("%s exited (code %d) before the expected log line", p.name, p.exitCode())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: expected log line not seen within %s", p.name, d)
		}
		time.Sleep(pollEvery)
	}
}

// ---------------------------------------------------------------------------
// polling

// eventually polls cond every pollEvery until it returns nil or d passes;
// then it fails the test with the last error. It stops early when a
// watched process exits.
func eventually(t testing.TB, d time.Duration, what string, cond func() error, watch ...*proc) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last error
	for {
		if last = cond(); last == nil {
			return
		}
		for _, p := range watch {
			if p.exited() {
				t.Fatalf("%s: %s exited (code %d) while waiting; last: %v", what, p.name, p.exitCode(), last)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %v", what, d, last)
		}
		time.Sleep(pollEvery)
	}
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
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
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
	cmd.Env = cleanEnv("STREAMSCORE_KAFKA_CACHE=" + kafkaCache())
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("kafka-consumer-groups --describe --group %s (%.1fs):\n%s", group, time.Since(start).Seconds(), strings.TrimSpace(stdout.String()))
	if err != nil || strings.Contains(stdout.String()+stderr.String(), "Error:") {
		t.Fatalf("kafka-consumer-groups --describe: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), lastLines(stderr.String(), 30))
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
	if c := os.Getenv("STREAMSCORE_KAFKA_CACHE"); c != "" {
		return c
	}
	return filepath.Join(repoRoot, ".cache", "kafka")
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
