//go:build faults

package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/kafkatest"
)

const (
	rate        = 5000 // events/s of the live stream
	pollEvery   = 100 * time.Millisecond
	maxMsgBytes = "4194304" // 4 MiB: input and DLQ topics (2 MB poison records)
	// caughtUpLag is "the output caught up with the input": the group's
	// committed offsets are within one second of input (at the stream's
	// rate) of the input's end offsets, summed over partitions.
	caughtUpLag = rate * 1
)

// ---------------------------------------------------------------------------
// subprocesses

// proc is one subprocess with its output in a log file.
type proc struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // exit status, valid once done is closed
	started time.Time
}

func startProc(logPath, name string, args ...string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(suite.bin, args...)
	cmd.Env = cleanEnv()
	cmd.Dir = suite.repo
	cmd.Stdout, cmd.Stderr = f, f
	// The subprocess dies with the test process, whatever happens to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{}), started: time.Now()}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to exit, at most d.
func (p *proc) wait(d time.Duration) error {
	select {
	case <-p.done:
		return nil
	case <-time.After(d):
		return fmt.Errorf("%s (pid %d) still running %s after the signal", p.name, p.cmd.Process.Pid, d)
	}
}

// stop sends sig and waits up to d for the exit.
func (p *proc) stop(sig syscall.Signal, d time.Duration) error {
	if p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return p.wait(d)
}

func (p *proc) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	return tail(string(b), n)
}

// ---------------------------------------------------------------------------
// scenario: topics, config, instances, producer, lag monitor

type scenario struct {
	t        *testing.T
	name     string
	mode     string // at-least-once | exactly-once
	events   int
	poison   float64
	seed     uint64
	dir      string
	brokers  []string
	input    string
	output   string
	dlq      string
	group    string
	adm      *kadm.Client
	rng      *rand.Rand
	mu       sync.Mutex
	live     map[string]*service // instances expected to run
	all      []*proc             // every subprocess started, for the failure logs
	producer *proc
	prodAt   time.Time
	mon      *monitor
	exits    []string // unexpected instance exits: name@time in the stream
	// extraProcessor holds more "  key: value" lines for the processor section.
	extraProcessor string
}

// service is one `streamscore run` instance; restarts keep its instance id.
type service struct {
	id         string
	cfgPath    string
	p          *proc
	restarts   int
	unexpected int // exits nobody asked for
}

func newScenario(t *testing.T, name, mode string, events int, poison float64, seedOffset uint64) *scenario {
	t.Helper()
	s := &scenario{t: t, name: name, mode: mode, events: events, poison: poison,
		seed: suite.seed*1000 + seedOffset, dir: t.TempDir(), brokers: []string{suite.brokers},
		live: make(map[string]*service)}
	if mode == "exactly-once" {
		s.seed += 500
	}
	s.rng = rand.New(rand.NewPCG(s.seed, 0xfa017))
	s.input = kafkatest.TopicWithConfigs(t, s.brokers, 6, map[string]string{"max.message.bytes": maxMsgBytes})
	s.output = kafkatest.TopicWithConfigs(t, s.brokers, 6, nil)
	s.dlq = kafkatest.TopicWithConfigs(t, s.brokers, 1, map[string]string{"max.message.bytes": maxMsgBytes})
	s.group = kafkatest.UniqueName(t, "g")
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryTimeout(2*time.Second))
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	s.adm = kadm.NewClient(cl)
	t.Cleanup(cl.Close)
	t.Cleanup(s.cleanup)
	t.Logf("scenario %s/%s: seed %d, %d events at %d/s, poison %.2f; topics in=%s out=%s dlq=%s group=%s; broker %s",
		name, mode, s.seed, events, rate, poison, s.input, s.output, s.dlq, s.group, suite.brokers)
	return s
}

// cleanup kills what still runs and prints the logs of a failed test.
func (s *scenario) cleanup() {
	if s.mon != nil {
		s.mon.stop()
	}
	s.mu.Lock()
	procs := append([]*proc(nil), s.all...)
	s.mu.Unlock()
	for _, p := range procs {
		if !p.exited() {
			p.stop(syscall.SIGKILL, 10*time.Second)
		}
	}
	if dir := os.Getenv(envTrace); dir != "" {
		dst := filepath.Join(dir, strings.NewReplacer("/", "_").Replace(s.t.Name()))
		if err := os.MkdirAll(dst, 0o755); err == nil {
			for _, p := range procs {
				if b, err := os.ReadFile(p.logPath); err == nil {
					os.WriteFile(filepath.Join(dst, filepath.Base(p.logPath)), b, 0o644)
				}
			}
		}
	}
	if !s.t.Failed() {
		return
	}
	for _, p := range procs {
		s.t.Logf("----- log of %s (%s), last 60 lines (lag-refresh warnings left out) -----\n%s", p.name, p.logPath, nonNoise(p.logTail(5000), 60))
	}
	if b, err := os.ReadFile(filepath.Join(suite.cache, "run", "kafka.log")); err == nil {
		s.t.Logf("----- dedicated broker log, last 30 lines -----\n%s", tail(string(b), 30))
	}
}

// writeConfig writes the configuration of one instance (or of the producer
// when id is empty).
func (s *scenario) writeConfig(id string) string {
	name := "producer"
	if id != "" {
		name = id
	}
	cfg := fmt.Sprintf(`kafka:
  brokers: %q
  client_id: streamscore-faults-%s
input:
  topic: %q
  group: %q
output:
  topic: %q
dlq:
  topic: %q
model:
  bundle: %q
processor:
  delivery: %s
  instance_id: %q
  lag_refresh: 1s
%shttp:
  listen: 127.0.0.1:0
log:
  format: json
  level: info
`, suite.brokers, name, s.input, s.group, s.output, s.dlq, suite.bundle, s.mode, id, s.extraProcessor)
	if extra := os.Getenv(envProcessor); extra != "" && id != "" {
		// Experiments only: more processor keys for every instance, e.g.
		// STREAMSCORE_TEST_FAULTS_PROCESSOR="commit_interval=250ms".
		var lines strings.Builder
		for _, kv := range strings.Split(extra, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok {
				s.t.Fatalf("%s: %q is not key=value", envProcessor, kv)
			}
			fmt.Fprintf(&lines, "  %s: %s\n", k, v)
		}
		cfg = strings.Replace(cfg, "  lag_refresh: 1s\n", "  lag_refresh: 1s\n"+lines.String(), 1)
	}
	path := filepath.Join(s.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		s.t.Fatalf("write config: %v", err)
	}
	return path
}

// startInstance starts `streamscore run` with instance id id and waits until
// its /readyz says it joined the group.
func (s *scenario) startInstance(id string, waitReady bool) *service {
	s.t.Helper()
	svc := &service{id: id, cfgPath: s.writeConfig(id)}
	s.launch(svc)
	if waitReady {
		if err := s.waitReady(svc, 90*time.Second); err != nil {
			s.t.Fatalf("%v", err)
		}
	}
	return svc
}

func (s *scenario) launch(svc *service) {
	s.t.Helper()
	name := fmt.Sprintf("run-%s-%d", svc.id, svc.restarts)
	p, err := startProc(filepath.Join(s.dir, name+".log"), name, "run", "--config", svc.cfgPath)
	if err != nil {
		s.t.Fatalf("%v", err)
	}
	svc.p = p
	s.mu.Lock()
	s.live[svc.id] = svc
	s.all = append(s.all, p)
	s.mu.Unlock()
}

// kill SIGKILLs an instance and waits until the process is gone.
func (s *scenario) kill(svc *service) {
	s.t.Helper()
	s.mu.Lock()
	delete(s.live, svc.id)
	s.mu.Unlock()
	if err := svc.p.stop(syscall.SIGKILL, 10*time.Second); err != nil {
		s.t.Fatalf("SIGKILL %s: %v", svc.p.name, err)
	}
}

// restart starts the instance again with the same id and configuration.
func (s *scenario) restart(svc *service) {
	s.t.Helper()
	svc.restarts++
	s.launch(svc)
}

// terminate SIGTERMs an instance and requires a clean exit (status 0).
func (s *scenario) terminate(svc *service, d time.Duration) {
	s.t.Helper()
	s.mu.Lock()
	delete(s.live, svc.id)
	s.mu.Unlock()
	if err := svc.p.stop(syscall.SIGTERM, d); err != nil {
		s.t.Fatalf("SIGTERM %s: %v", svc.p.name, err)
	}
	if svc.p.err != nil {
		s.t.Fatalf("%s exited with %v after SIGTERM (want a clean exit):\n%s", svc.p.name, svc.p.err, svc.p.logTail(30))
	}
}

// checkLive deals with an instance that should run but exited by itself:
// that fails the test (t.Errorf, with the end of its log), and, like a
// supervisor would, the instance is started again so the scenario runs to
// its end and the checker still counts every record. After maxRestarts
// such exits of one instance it gives up with an error.
func (s *scenario) checkLive() error {
	s.mu.Lock()
	var dead []*service
	for _, svc := range s.live {
		if svc.p.exited() {
			dead = append(dead, svc)
		}
	}
	s.mu.Unlock()
	for _, svc := range dead {
		s.exits = append(s.exits, fmt.Sprintf("%s@%s", svc.p.name, time.Since(s.prodAt).Round(10*time.Millisecond)))
		lines := nonNoise(svc.p.logTail(400), 15)
		if svc.unexpected++; svc.unexpected > maxRestarts {
			return fmt.Errorf("instance %s exited by itself (%v) for the %d. time; giving up:\n%s", svc.p.name, svc.p.err, svc.unexpected, lines)
		}
		s.t.Errorf("instance %s exited by itself (%v) at %s of the stream; restarting it as a supervisor would. Its log ends:\n%s",
			svc.p.name, svc.p.err, time.Since(s.prodAt).Round(10*time.Millisecond), lines)
		s.restart(svc)
	}
	return nil
}

const maxRestarts = 3

// nonNoise keeps the last n lines of log that are not repeated lag-refresh warnings.
func nonNoise(log string, n int) string {
	var keep []string
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, "consumer lag refresh failed") {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, "\n")
}

// httpAddr reads the HTTP address from the "streamscore running" log line.
func httpAddr(p *proc) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			HTTP string `json:"http"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "streamscore running" && line.HTTP != "" {
			return line.HTTP
		}
	}
	return ""
}

// waitReady polls /readyz until the instance joined its group.
func (s *scenario) waitReady(svc *service, d time.Duration) error {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	hc := &http.Client{Timeout: time.Second}
	for {
		if svc.p.exited() {
			return fmt.Errorf("%s exited before it was ready (%v):\n%s", svc.p.name, svc.p.err, svc.p.logTail(30))
		}
		if addr := httpAddr(svc.p); addr != "" {
			resp, err := hc.Get("http://" + addr + "/readyz")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s:\n%s", svc.p.name, d, svc.p.logTail(30))
		}
		<-tick.C
	}
}

// startProducer starts `streamscore produce` for the scenario's events.
func (s *scenario) startProducer() {
	s.t.Helper()
	cfg := s.writeConfig("")
	args := []string{"produce", "--config", cfg, "--rate", strconv.Itoa(rate), "--count", strconv.Itoa(s.events),
		"--seed", strconv.FormatUint(s.seed, 10)}
	if s.poison > 0 {
		args = append(args, "--poison", strconv.FormatFloat(s.poison, 'f', -1, 64))
	}
	p, err := startProc(filepath.Join(s.dir, "produce.log"), "produce", args...)
	if err != nil {
		s.t.Fatalf("%v", err)
	}
	s.mu.Lock()
	s.all = append(s.all, p)
	s.mu.Unlock()
	s.producer, s.prodAt = p, p.started
}

// waitProducer waits for the producer to finish and requires success.
func (s *scenario) waitProducer() {
	s.t.Helper()
	d := time.Duration(s.events/rate)*time.Second + 3*time.Minute
	deadline := time.Now().Add(d)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !s.producer.exited() {
		if err := s.checkLive(); err != nil {
			s.t.Fatalf("while the producer runs: %v", err)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("producer still running after %s:\n%s", d, s.producer.logTail(20))
		}
		<-tick.C
	}
	if s.producer.err != nil {
		s.t.Fatalf("producer failed (%v):\n%s", s.producer.err, s.producer.logTail(20))
	}
	s.t.Logf("producer done in %s: %s", time.Since(s.prodAt).Round(10*time.Millisecond), strings.TrimSpace(s.producer.logTail(1)))
}

// at waits until the producer has run for d (the planned moment of a
// fault), watching the instances meanwhile.
func (s *scenario) at(d time.Duration) {
	s.t.Helper()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for time.Since(s.prodAt) < d {
		if err := s.checkLive(); err != nil {
			s.t.Fatalf("%v", err)
		}
		<-tick.C
	}
}

// plan draws n fault times (seeded): one in each of n equal slices of the
// window [from, to] of the producer's run.
func (s *scenario) plan(n int, from, to time.Duration) []time.Duration {
	slice := (to - from) / time.Duration(n)
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = from + time.Duration(i)*slice + time.Duration(s.rng.Int64N(int64(slice)))
		out[i] = out[i].Round(10 * time.Millisecond)
	}
	return out
}

// ---------------------------------------------------------------------------
// lag monitor

// sample is one poll of the input's end offsets and the group's committed offsets.
type sample struct {
	at        time.Time
	ok        bool
	end       map[int32]int64
	committed map[int32]int64
	lag       int64
}

func (s sample) covers(ends map[int32]int64) bool {
	for p, e := range ends {
		if s.committed[p] < e {
			return false
		}
	}
	return true
}

// monitor polls the lag every pollEvery in the background.
type monitor struct {
	s       *scenario
	mu      sync.Mutex
	samples []sample
	cancel  context.CancelFunc
	done    chan struct{}
}

func (s *scenario) startMonitor() {
	ctx, cancel := context.WithCancel(context.Background())
	m := &monitor{s: s, cancel: cancel, done: make(chan struct{})}
	s.mon = m
	go func() {
		defer close(m.done)
		tick := time.NewTicker(pollEvery)
		defer tick.Stop()
		for {
			smp := s.poll(ctx)
			m.mu.Lock()
			m.samples = append(m.samples, smp)
			m.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

func (m *monitor) stop() {
	m.cancel()
	<-m.done
	if dir := os.Getenv(envTrace); dir != "" {
		m.writeTrace(dir)
	}
}

// writeTrace writes the lag samples as CSV (seconds since the producer
// started, input end, committed, lag) to dir, for a look at a run.
func (m *monitor) writeTrace(dir string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	b.WriteString("t,end,committed,lag,ok\n")
	for _, smp := range m.samples {
		var end, com int64
		for p, e := range smp.end {
			end += e
			com += smp.committed[p]
		}
		fmt.Fprintf(&b, "%.2f,%d,%d,%d,%v\n", smp.at.Sub(m.s.prodAt).Seconds(), end, com, smp.lag, smp.ok)
	}
	name := filepath.Join(dir, strings.NewReplacer("/", "_").Replace(m.s.t.Name())+".csv")
	if err := os.MkdirAll(dir, 0o755); err == nil {
		os.WriteFile(name, []byte(b.String()), 0o644)
	}
}

func (m *monitor) last() sample {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.samples) == 0 {
		return sample{}
	}
	return m.samples[len(m.samples)-1]
}

// maxLag is the largest lag sampled in [from, to).
func (m *monitor) maxLag(from, to time.Time) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var mx int64
	for _, smp := range m.samples {
		if smp.ok && !smp.at.Before(from) && smp.at.Before(to) && smp.lag > mx {
			mx = smp.lag
		}
	}
	return mx
}

// poll reads the input's end offsets and the group's committed offsets.
func (s *scenario) poll(ctx context.Context) sample {
	smp := sample{at: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ends, err := s.endOffsets(ctx)
	if err != nil {
		return smp
	}
	offs, err := s.adm.FetchOffsets(ctx, s.group)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		return smp
	}
	smp.end, smp.committed, smp.ok = ends, make(map[int32]int64), true
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == s.input && o.At >= 0 {
			smp.committed[o.Partition] = o.At
		}
	})
	for p, e := range ends {
		if d := e - smp.committed[p]; d > 0 {
			smp.lag += d
		}
	}
	smp.at = time.Now()
	return smp
}

func (s *scenario) endOffsets(ctx context.Context) (map[int32]int64, error) {
	listed, err := s.adm.ListEndOffsets(ctx, s.input)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, err
	}
	out := make(map[int32]int64)
	listed.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	if len(out) == 0 {
		return nil, fmt.Errorf("no partitions listed for %s", s.input)
	}
	return out, nil
}

// inputEnds lists the input's end offsets now, retrying until d passes
// (the broker may be restarting).
func (s *scenario) inputEnds(d time.Duration) map[int32]int64 {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		ends, err := s.endOffsets(ctx)
		if err == nil {
			return ends
		}
		select {
		case <-ctx.Done():
			s.t.Fatalf("input end offsets: %v", err)
		case <-tick.C:
		}
	}
}

// fault is one injected fault and how long the output took to catch up.
type fault struct {
	what     string
	at       time.Time     // when the fault was injected
	atStream time.Duration // ... relative to the producer's start
	endsAt   map[int32]int64
	recovery time.Duration
	note     string
}

// newFault records the input end offsets right before a fault.
func (s *scenario) newFault(what string) *fault {
	ends := s.inputEnds(10 * time.Second)
	now := time.Now()
	return &fault{what: what, at: now, atStream: now.Sub(s.prodAt).Round(10 * time.Millisecond), endsAt: ends}
}

// waitCaughtUp polls until the output caught up with the input after f:
// every input record that existed when f was injected is committed (so the
// service made progress after the fault), and the lag is at most caughtUpLag
// again. extra, if set, must hold as well (e.g. group membership). The
// recovery time is measured from the fault.
func (s *scenario) waitCaughtUp(f *fault, d time.Duration, extra func() (bool, string)) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var why string
	for {
		if err := s.checkLive(); err != nil {
			s.t.Fatalf("after %s: %v", f.what, err)
		}
		smp := s.mon.last()
		switch {
		case !smp.ok || smp.at.Before(f.at):
			why = "no lag sample since the fault (broker unreachable?)"
		case !smp.covers(f.endsAt):
			why = fmt.Sprintf("committed %v has not passed the input end offsets at the fault %v", smp.committed, f.endsAt)
		case smp.lag > caughtUpLag:
			why = fmt.Sprintf("lag %d > %d", smp.lag, caughtUpLag)
		default:
			ok, w := true, ""
			if extra != nil {
				ok, w = extra()
			}
			if ok {
				f.recovery = smp.at.Sub(f.at)
				return
			}
			why = w
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("output did not catch up within %s after %s: %s", d, f.what, why)
		}
		<-tick.C
	}
}

// waitDrained waits until the group committed every input record (lag 0),
// after the producer finished.
func (s *scenario) waitDrained(d time.Duration) time.Duration {
	s.t.Helper()
	start := time.Now()
	ends := s.inputEnds(30 * time.Second)
	deadline := start.Add(d)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		if err := s.checkLive(); err != nil {
			s.t.Fatalf("while draining: %v", err)
		}
		smp := s.mon.last()
		if smp.ok && smp.at.After(start) && smp.covers(ends) {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("group %s did not commit up to the input's end %v within %s (last committed %v)", s.group, ends, d, smp.committed)
		}
		<-tick.C
	}
}

// stopAll SIGTERMs every running instance; each must exit cleanly.
func (s *scenario) stopAll() {
	s.t.Helper()
	s.mu.Lock()
	var svcs []*service
	for _, svc := range s.live {
		svcs = append(svcs, svc)
	}
	s.mu.Unlock()
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].id < svcs[j].id })
	for _, svc := range svcs {
		s.terminate(svc, 60*time.Second)
	}
}

// members describes the group: member count and how many own partitions.
func (s *scenario) members() (total, assigned int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	groups, err := s.adm.DescribeGroups(ctx, s.group)
	if err == nil {
		err = groups.Error()
	}
	if err != nil {
		return 0, 0, err
	}
	g := groups[s.group]
	for _, m := range g.Members {
		total++
		if a, ok := m.Assigned.AsConsumer(); ok && len(a.Topics) > 0 {
			for _, t := range a.Topics {
				if len(t.Partitions) > 0 {
					assigned++
					break
				}
			}
		}
	}
	return total, assigned, nil
}

// durations formats recovery times like [4.1s 3.8s].
func durations(fs []*fault) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = fmt.Sprintf("%.1fs", f.recovery.Seconds())
	}
	return "[" + strings.Join(parts, " ") + "]"
}
