package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
	rejectpkg "github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// Bounds for tools and waits. They are deadlines for conditions, not
// assertions about speed: a healthy run meets them with a wide margin. (The
// subprocess bounds are internal/proctest's.)
const (
	toolTimeout  = 60 * time.Second // one kcat or Python run
	startTimeout = 30 * time.Second // service start -> "streamscore running"
	flowTimeout  = 90 * time.Second // records in -> predictions out
	venvTimeout  = 6 * time.Minute  // train/venv.sh on a machine without the venv (fits go test's default 10m)

	probTol = 1e-6 // as scoring/parity_test.go: XGBoost computes in float32
)

// ---------------------------------------------------------------------------
// subprocesses

// runTool runs a short-lived command to completion within toolTimeout, with
// stdin, and fails the test if it does not exit 0. It returns stdout and
// stderr.
func runTool(t testing.TB, stdin []byte, env []string, path string, args ...string) (stdout, stderr []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = repoRoot
	cmd.Env = env
	if cmd.Env == nil {
		cmd.Env = proctest.CleanEnv()
	}
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	err := cmd.Run()
	if err != nil {
		t.Fatalf("%s %s: %v (after %.1fs)\nstderr:\n%s\nstdout (last lines):\n%s", filepath.Base(path), strings.Join(args, " "),
			err, time.Since(start).Seconds(), proctest.LastLines(errb.String(), 40), proctest.LastLines(out.String(), 10))
	}
	return out.Bytes(), errb.Bytes()
}

// ---------------------------------------------------------------------------
// the service

// service is a running `streamscore run`.
type service struct {
	*proctest.Proc
	http string // host:port it serves /metrics on
}

// serviceConfig is what the tests vary in a streamscore config file.
type serviceConfig struct {
	Brokers            []string
	Input, Output, DLQ string
	Extra              map[string]any // more dotted keys (input.format, registry.url, ...)
}

// startService writes a config file, starts `streamscore run --config FILE`
// and waits for its "streamscore running" log line.
func startService(t testing.TB, c serviceConfig) *service {
	t.Helper()
	kv := proctest.MergeKeys(proctest.BaseKeys(filepath.Join(repoRoot, "examples", "fraud")), map[string]any{
		"kafka.brokers":              strings.Join(c.Brokers, ","),
		"input.topic":                c.Input,
		"input.group":                kafkatest.UniqueName(t, "g"),
		"output.topic":               c.Output,
		"dlq.topic":                  c.DLQ,
		"processor.shutdown_timeout": "10s",
		"processor.commit_interval":  "1s",
	}, c.Extra)
	p, addr := startCommand(t, "run", kv, "streamscore running", "http")
	return &service{Proc: p, http: addr}
}

// startCommand writes kv as a config file, starts `streamscore <command>
// --config FILE` and waits for its msg log line; it returns the process and
// the 127.0.0.1 address that line gives under addrKey.
func startCommand(t testing.TB, command string, kv map[string]any, msg, addrKey string) (*proctest.Proc, string) {
	t.Helper()
	path := proctest.WriteConfig(t, kv)
	p := proctest.Start(t, "streamscore "+command, proctest.Options{Dir: filepath.Dir(path), Separate: true}, bin, command, "--config", path)
	addr, _ := p.WaitLog(startTimeout, msg)[addrKey].(string)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("streamscore %s: %s is %q, want 127.0.0.1:<port>", command, addrKey, addr)
	}
	return p, addr
}

// ---------------------------------------------------------------------------
// progress: how many records reached a topic (franz-go, read_committed). Only
// for waiting; the checks read the topics with kcat and Python.

type recordCounter struct {
	cl *kgo.Client
	n  map[string]int
}

func newRecordCounter(t testing.TB, brokers []string, topics ...string) *recordCounter {
	t.Helper()
	cl := kafkatest.Client(t, brokers, kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.MetadataMinAge(250*time.Millisecond))
	return &recordCounter{cl: cl, n: map[string]int{}}
}

func (c *recordCounter) poll() error {
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	fs := c.cl.PollFetches(ctx)
	fs.EachRecord(func(r *kgo.Record) { c.n[r.Topic]++ })
	for _, e := range fs.Errors() {
		if !errors.Is(e.Err, context.DeadlineExceeded) && !errors.Is(e.Err, context.Canceled) {
			return fmt.Errorf("fetch %s/%d: %w", e.Topic, e.Partition, e.Err)
		}
	}
	return nil
}

// waitFor waits until at least want[topic] records reached every topic.
func (c *recordCounter) waitFor(t testing.TB, what string, want map[string]int, watch ...*proctest.Proc) {
	t.Helper()
	proctest.Eventually(t, flowTimeout, what, func() error {
		if err := c.poll(); err != nil {
			return err
		}
		for topic, n := range want {
			if c.n[topic] < n {
				return fmt.Errorf("%d of %d records in %s (all counts: %v)", c.n[topic], n, topic, c.n)
			}
		}
		return nil
	}, watch...)
}

// ---------------------------------------------------------------------------
// kcat

func kcatPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found in PATH: install it with `bash scripts/install-deps.sh` (make deps)")
	}
	return p
}

// kcatProduce writes key|value lines with `kcat -P -K '|'` plus extra args
// (e.g. -H name=value) and fails on any delivery error.
func kcatProduce(t testing.TB, brokers []string, topic string, lines []string, extra ...string) {
	t.Helper()
	args := append([]string{"-P", "-b", strings.Join(brokers, ","), "-t", topic, "-K", "|", "-X", "acks=all"}, extra...)
	_, stderr := runTool(t, []byte(strings.Join(lines, "\n")+"\n"), nil, kcatPath(t), args...)
	if s := strings.TrimSpace(string(stderr)); s != "" {
		t.Fatalf("kcat -P wrote to stderr (delivery failures?):\n%s", proctest.LastLines(s, 20))
	}
}

// kcatMsg is one line of `kcat -C -J`.
type kcatMsg struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	TsType    string   `json:"tstype"`
	Ts        int64    `json:"ts"`
	Headers   []string `json:"headers"` // name, value, name, value...
	Key       *string  `json:"key"`
	Payload   *string  `json:"payload"`
}

// header returns the values of header name, in order.
func (m kcatMsg) header(name string) []string {
	var out []string
	for i := 0; i+1 < len(m.Headers); i += 2 {
		if m.Headers[i] == name {
			out = append(out, m.Headers[i+1])
		}
	}
	return out
}

// kcatConsumeJSON reads the whole topic from the beginning with
// `kcat -C -e -J` (read_committed, librdkafka's default) and parses each line.
// Only for UTF-8 payloads: kcat writes payload bytes into the JSON string as
// they are.
func kcatConsumeJSON(t testing.TB, brokers []string, topic string) []kcatMsg {
	t.Helper()
	out, _ := runTool(t, nil, nil, kcatPath(t), "-C", "-b", strings.Join(brokers, ","), "-t", topic,
		"-o", "beginning", "-e", "-q", "-J", "-X", "isolation.level=read_committed")
	var msgs []kcatMsg
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var m kcatMsg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("kcat -J line %q: %v", sc.Text(), err)
		}
		msgs = append(msgs, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return msgs
}

// rawMsg is one record as kcat printed it byte for byte.
type rawMsg struct {
	Partition int32
	Offset    int64
	Key       []byte // nil: no key
	Value     []byte // nil: no value
}

// kcatConsumeRaw reads the whole topic with a length-prefixed kcat format
// (`-f '%p %o %K %S\n%k%s'`), so binary values come through unchanged.
func kcatConsumeRaw(t testing.TB, brokers []string, topic string) []rawMsg {
	t.Helper()
	out, _ := runTool(t, nil, nil, kcatPath(t), "-C", "-b", strings.Join(brokers, ","), "-t", topic,
		"-o", "beginning", "-e", "-q", "-X", "isolation.level=read_committed", "-f", "%p %o %K %S\n%k%s")
	var msgs []rawMsg
	for len(out) > 0 {
		nl := bytes.IndexByte(out, '\n')
		if nl < 0 {
			t.Fatalf("kcat -f output: no header line in %q", out[:min(len(out), 80)])
		}
		var m rawMsg
		var kl, vl int
		if _, err := fmt.Sscanf(string(out[:nl]), "%d %d %d %d", &m.Partition, &m.Offset, &kl, &vl); err != nil {
			t.Fatalf("kcat -f header %q: %v", out[:nl], err)
		}
		out = out[nl+1:]
		take := func(n int) []byte {
			if n < 0 {
				return nil
			}
			if n > len(out) {
				t.Fatalf("kcat -f output: record %d/%d wants %d bytes, %d left", m.Partition, m.Offset, n, len(out))
			}
			b := out[:n:n]
			out = out[n:]
			return b
		}
		m.Key, m.Value = take(kl), take(vl)
		msgs = append(msgs, m)
	}
	return msgs
}

// ---------------------------------------------------------------------------
// Python

var (
	pyOnce sync.Once
	pyPath string
	pyErr  error
)

// python returns the venv interpreter with confluent-kafka and fastavro at the
// versions pinned in train/requirements.txt. It runs train/venv.sh first
// (idempotent: a no-op when the venv is up to date, about 1.5 minutes when it
// must be made), under a file lock so concurrent test processes do not build
// it twice at once.
func python(t testing.TB) string {
	t.Helper()
	pyOnce.Do(func() { pyPath, pyErr = ensureVenv() })
	if pyErr != nil {
		t.Fatalf("Python venv: %v", pyErr)
	}
	return pyPath
}

func ensureVenv() (string, error) {
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "streamscore-venv.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	ctx, cancel := context.WithTimeout(context.Background(), venvTimeout)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot, "train", "venv.sh"))
	cmd.Dir = repoRoot
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("`bash train/venv.sh` failed after %.0fs: %v\n%s\n(run it by hand to see why; it needs python3 >= 3.11 and access to the Python package index)",
			time.Since(start).Seconds(), err, proctest.LastLines(stderr.String(), 30))
	}
	if d := time.Since(start); d > 5*time.Second {
		fmt.Fprintf(os.Stderr, "interop: train/venv.sh made the venv in %.0fs\n", d.Seconds())
	}
	venv := strings.TrimSpace(proctest.LastLines(stdout.String(), 1))
	py := filepath.Join(venv, "bin", "python")

	want, err := pinnedVersions("confluent-kafka", "fastavro")
	if err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, py, "-c",
		"import confluent_kafka, fastavro; print(confluent_kafka.__version__, fastavro.__version__)").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s cannot import confluent_kafka and fastavro: %v\n%s", py, err, out)
	}
	got := strings.Fields(string(out))
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		return "", fmt.Errorf("%s has confluent-kafka, fastavro %q, want %q (train/requirements.txt)", py, got, want)
	}
	return py, nil
}

// pinnedVersions reads name==version pins from train/requirements.txt. Extras
// (name[extra]==version) are not part of a name, on either side.
func pinnedVersions(names ...string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "train", "requirements.txt"))
	if err != nil {
		return nil, err
	}
	out := make([]string, len(names))
	for _, l := range strings.Split(string(data), "\n") {
		name, ver, ok := strings.Cut(strings.TrimSpace(l), "==")
		name, _, _ = strings.Cut(name, "[")
		i := slices.IndexFunc(names, func(n string) bool { base, _, _ := strings.Cut(n, "["); return base == name })
		if ok && i >= 0 {
			out[i] = ver
		}
	}
	for i, v := range out {
		if v == "" {
			return nil, fmt.Errorf("train/requirements.txt pins no version of %s", names[i])
		}
	}
	return out, nil
}

// pyScript is the path of a script in test/interop/py.
func pyScript(name string) string { return filepath.Join(repoRoot, "test", "interop", "py", name) }

// ---------------------------------------------------------------------------
// the fraud example: reference rows and the Go scorer

// refRow is one line of examples/fraud/reference.jsonl.
type refRow struct {
	Event  json.RawMessage `json:"event"`
	Scores []float64       `json:"scores"` // XGBoost predict_proba: [Low Risk, High Risk]
	Label  *string         `json:"label"`
	Reject string          `json:"reject"`
	Note   string          `json:"note"`

	line int
	ev   map[string]any
}

func loadReference(t testing.TB) []refRow {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "examples", "fraud", "reference.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []refRow
	for i, l := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var r refRow
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatalf("reference.jsonl line %d: %v", i+1, err)
		}
		if err := json.Unmarshal(r.Event, &r.ev); err != nil {
			t.Fatalf("reference.jsonl line %d event: %v", i+1, err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, r.Event); err != nil {
			t.Fatal(err)
		}
		r.Event, r.line = compact.Bytes(), i+1
		if (r.Reject == "") == (r.Scores == nil) {
			t.Fatalf("reference.jsonl line %d: want exactly one of scores and reject", i+1)
		}
		rows = append(rows, r)
	}
	if len(rows) < 100 {
		t.Fatalf("reference.jsonl has only %d rows", len(rows))
	}
	return rows
}

var (
	fraudOnce   sync.Once
	fraudBundle *scoring.Bundle
	fraudErr    error
)

func loadFraud(t testing.TB) *scoring.Bundle {
	t.Helper()
	fraudOnce.Do(func() { fraudBundle, fraudErr = scoring.Load(filepath.Join(repoRoot, "examples", "fraud")) })
	if fraudErr != nil {
		t.Fatalf("load examples/fraud: %v", fraudErr)
	}
	return fraudBundle
}

// expected is what a prediction must say.
type expected struct {
	key     string
	keyNull bool // the input had no key: the prediction's key is null
	eventID *string
	probs   []float64 // per class, bundle order
	label   string
}

// goExpected scores an event (a decoded JSON object) with the Go scorer,
// encoded as JSON and read by the stream's JSON decoder.
func goExpected(t testing.TB, b *scoring.Bundle, ev map[string]any) (probs []float64, label, reject string) {
	t.Helper()
	value, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := schemas.NewDecoder(schemas.InputConfig{}, b.Layout(), nil)
	if err != nil {
		t.Fatal(err)
	}
	row := b.Layout().NewRow()
	if _, err := dec.Decode(value, row); err != nil {
		why, _ := rejectpkg.Of(err)
		return nil, "", string(why)
	}
	p := b.NewScorer().ScoreOne(row)
	return append([]float64(nil), p.Probs...), p.Label, string(p.Reject)
}

// prediction is the record of schemas/avro/prediction.avsc as JSON (the json
// output format, and Python's decoding of the Avro one).
type prediction = schemas.PredictionRecord

// predictionFields are the fields of prediction.avsc, in order.
var predictionFields = []string{"key", "event_id", "event_time", "scored_time", "model", "model_version",
	"score", "label", "probabilities", "features"}

// decodePrediction decodes a JSON prediction and checks it has exactly the
// schema's fields.
func decodePrediction(raw []byte) (prediction, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return prediction{}, err
	}
	for _, f := range predictionFields {
		if _, ok := fields[f]; !ok {
			return prediction{}, fmt.Errorf("field %q missing", f)
		}
	}
	if len(fields) != len(predictionFields) {
		return prediction{}, fmt.Errorf("fields %v, want %v", slices.Sorted(mapKeys(fields)), predictionFields)
	}
	var p prediction
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(&p)
	return p, err
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// check compares a prediction with what it must say; recordTs is the Kafka
// timestamp of the prediction record (= the input record's timestamp).
func (e expected) check(b *scoring.Bundle, p prediction, recordTs int64) error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if e.keyNull {
		if p.Key != nil {
			bad("key %s, want null", strp(p.Key))
		}
	} else if p.Key == nil || *p.Key != e.key {
		bad("key %s, want %q", strp(p.Key), e.key)
	}
	if (p.EventID == nil) != (e.eventID == nil) || (p.EventID != nil && *p.EventID != *e.eventID) {
		bad("event_id %s, want %s", strp(p.EventID), strp(e.eventID))
	}
	if p.EventTime == nil || *p.EventTime != recordTs {
		bad("event_time %v, want the record timestamp %d", p.EventTime, recordTs)
	}
	if p.ScoredTime <= 0 {
		bad("scored_time %d", p.ScoredTime)
	}
	if p.Model != b.Name || p.ModelVersion != b.Version {
		bad("model %s@%s, want %s@%s", p.Model, p.ModelVersion, b.Name, b.Version)
	}
	if p.Label == nil || *p.Label != e.label {
		bad("label %s, want %q", strp(p.Label), e.label)
	}
	classes := b.Classes()
	if len(p.Probabilities) != len(classes) || len(e.probs) != len(classes) {
		bad("%d probabilities, want %d (expected %d)", len(p.Probabilities), len(classes), len(e.probs))
	} else {
		for i, c := range classes {
			got := p.Probabilities[i]
			if got.Class != c || !(math.Abs(got.Probability-e.probs[i]) <= probTol) {
				bad("probabilities[%d] = %s %v, want %s %v", i, got.Class, got.Probability, c, e.probs[i])
			}
		}
		// Binary: score is the positive (last) class's probability.
		if want := e.probs[len(e.probs)-1]; !(math.Abs(p.Score-want) <= probTol) {
			bad("score %v, want %v (error %.3g)", p.Score, want, math.Abs(p.Score-want))
		}
	}
	if p.Features != nil {
		bad("features %v, want null (echo_features is off)", p.Features)
	}
	if errs != nil {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func strp(s *string) string {
	if s == nil {
		return "null"
	}
	return strconv.Quote(*s)
}

// errorList collects per-record failures and reports the first few.
type errorList struct {
	t     testing.TB
	what  string
	n     int
	limit int
}

func (l *errorList) add(format string, args ...any) {
	l.t.Helper()
	l.n++
	if l.n <= l.limit {
		l.t.Errorf("%s: %s", l.what, fmt.Sprintf(format, args...))
	}
}

func (l *errorList) done() {
	l.t.Helper()
	if l.n > l.limit {
		l.t.Errorf("%s: %d failures in all (first %d shown)", l.what, l.n, l.limit)
	}
}

func newErrorList(t testing.TB, what string) *errorList {
	return &errorList{t: t, what: what, limit: 10}
}
