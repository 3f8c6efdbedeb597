//go:build faults

package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
)

const (
	rate        = 5000      // events/s of the live stream
	maxMsgBytes = "4194304" // 4 MiB: input and DLQ topics (2 MB poison records)
	// caughtUpLag is "the output caught up with the input": the group's
	// committed offsets are within one second of input (at the stream's
	// rate) of the input's end offsets, summed over partitions.
	caughtUpLag = rate * 1

	// Subprocess bounds (internal/proctest's defaults are for short e2e
	// runs): an instance may live through a whole scenario, and SIGTERM ->
	// exit must take at most stopTimeout (a clean exit is part of the test).
	maxLife     = 20 * time.Minute
	stopTimeout = 60 * time.Second
)

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
	kafka    kafkaTarget
	brokers  []string
	input    string
	output   string
	dlq      string
	group    string
	adm      *kadm.Client
	rng      *rand.Rand
	mu       sync.Mutex
	live     map[string]*service // instances expected to run
	all      []*proctest.Proc    // every subprocess started, for the failure logs
	producer *proctest.Proc
	prodAt   time.Time
	mon      *monitor
	exits    []string // unexpected instance exits: name@time in the stream
	// extra holds more dotted config keys for the instances ("processor.compression").
	extra map[string]any
}

// service is one `streamscore run` instance; restarts keep its instance id.
type service struct {
	id         string
	cfgPath    string
	p          *proctest.Proc
	restarts   int
	unexpected int // exits nobody asked for
}

// kafkaTarget is the Kafka a scenario runs against and the shape of its topics.
type kafkaTarget struct {
	brokers    []string
	partitions int32    // of the input and output topics (the DLQ has one)
	replicas   int16    // of every topic
	logs       []string // broker log files, their ends printed when a test fails
}

// dedicatedBroker is the suite's single broker, started for the first test
// that asks for it.
func dedicatedBroker(t testing.TB) kafkaTarget {
	t.Helper()
	if err := startDedicated(); err != nil {
		t.Fatalf("fault suite setup: %v", err)
	}
	return kafkaTarget{brokers: []string{suite.brokers}, partitions: 6, replicas: 1,
		logs: []string{filepath.Join(suite.cache, "run", "kafka.log")}}
}

func newScenario(t *testing.T, name, mode string, events int, poison float64, seedOffset uint64) *scenario {
	t.Helper()
	return newScenarioOn(t, dedicatedBroker(t), name, mode, events, poison, seedOffset)
}

// newScenarioOn is newScenario against k. events 0: the producer runs until
// the test stops it.
func newScenarioOn(t *testing.T, k kafkaTarget, name, mode string, events int, poison float64, seedOffset uint64) *scenario {
	t.Helper()
	s := &scenario{t: t, name: name, mode: mode, events: events, poison: poison,
		seed: suite.seed*1000 + seedOffset, dir: t.TempDir(), kafka: k, brokers: k.brokers,
		live: make(map[string]*service)}
	if mode == "exactly-once" {
		s.seed += 500
	}
	s.rng = rand.New(rand.NewPCG(s.seed, 0xfa017))
	s.input = kafkatest.TopicReplicated(t, s.brokers, k.partitions, k.replicas, map[string]string{"max.message.bytes": maxMsgBytes})
	s.output = kafkatest.TopicReplicated(t, s.brokers, k.partitions, k.replicas, nil)
	s.dlq = kafkatest.TopicReplicated(t, s.brokers, 1, k.replicas, map[string]string{"max.message.bytes": maxMsgBytes})
	s.group = kafkatest.UniqueName(t, "g")
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryTimeout(2*time.Second))
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	s.adm = kadm.NewClient(cl)
	t.Cleanup(cl.Close)
	t.Cleanup(s.cleanup)
	t.Logf("scenario %s/%s: seed %d, %d events (0: until stopped) at %d/s, poison %.2f; topics in=%s out=%s dlq=%s group=%s (%d partitions, %d replicas); brokers %s",
		name, mode, s.seed, events, rate, poison, s.input, s.output, s.dlq, s.group, k.partitions, k.replicas, strings.Join(s.brokers, ","))
	return s
}

// cleanup runs after the subprocesses were killed (see start): it keeps
// their logs for a trace and prints them when the test failed.
func (s *scenario) cleanup() {
	if s.mon != nil {
		s.mon.stop()
	}
	s.mu.Lock()
	procs := append([]*proctest.Proc(nil), s.all...)
	s.mu.Unlock()
	if dir := os.Getenv(envTrace); dir != "" {
		dst := filepath.Join(dir, strings.NewReplacer("/", "_").Replace(s.t.Name()))
		if err := os.MkdirAll(dst, 0o755); err == nil {
			for _, p := range procs {
				os.WriteFile(filepath.Join(dst, p.Name+".log"), []byte(p.Stdout.String()), 0o644)
			}
		}
	}
	if !s.t.Failed() {
		return
	}
	for _, p := range procs {
		s.t.Logf("----- log of %s (%s), last 60 lines (lag-refresh warnings left out) -----\n%s", p.Name, p.Status(), nonNoise(p.Stdout.String(), 60))
	}
	for _, file := range s.kafka.logs {
		if b, err := os.ReadFile(file); err == nil {
			s.t.Logf("----- broker log %s, last 30 lines -----\n%s", file, proctest.LastLines(string(b), 30))
		}
	}
}

// start runs the binary with args as one of the scenario's subprocesses
// (internal/proctest: output kept in memory, dies with the test process).
// A scenario that ends early SIGKILLs what still runs: the cleanup
// registered here runs before proctest's graceful stop (cleanups run last
// first), and before s.cleanup prints the logs.
func (s *scenario) start(name string, args ...string) *proctest.Proc {
	s.t.Helper()
	p := proctest.Start(s.t, name, proctest.Options{Dir: suite.repo, MaxLife: maxLife, StopTimeout: stopTimeout, NoDump: true},
		suite.bin, args...)
	s.t.Cleanup(func() { p.Kill() })
	s.mu.Lock()
	s.all = append(s.all, p)
	s.mu.Unlock()
	return p
}

// writeConfig writes the configuration of one instance (or of the producer
// when id is empty).
func (s *scenario) writeConfig(id string) string {
	name := "producer"
	if id != "" {
		name = id
	}
	kv := proctest.MergeKeys(proctest.BaseKeys(suite.bundle), map[string]any{
		"kafka.brokers":         strings.Join(s.brokers, ","),
		"kafka.client_id":       "streamscore-faults-" + name,
		"input.topic":           s.input,
		"input.group":           s.group,
		"output.topic":          s.output,
		"dlq.topic":             s.dlq,
		"processor.delivery":    s.mode,
		"processor.instance_id": id,
		"processor.lag_refresh": "1s",
	}, s.extra)
	if extra := os.Getenv(envProcessor); extra != "" && id != "" {
		// Experiments only: more processor keys for every instance, e.g.
		// STREAMSCORE_TEST_FAULTS_PROCESSOR="commit_interval=250ms".
		for _, kv1 := range strings.Split(extra, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv1), "=")
			if !ok {
				s.t.Fatalf("%s: %q is not key=value", envProcessor, kv1)
			}
			kv["processor."+k] = v
		}
	}
	path := filepath.Join(s.dir, name+".yaml")
	proctest.WriteConfigFile(s.t, path, kv)
	return path
}

// startInstance starts `streamscore run` with instance id id and, with
// waitReady, waits until its /readyz says it joined the group.
func (s *scenario) startInstance(id string, waitReady bool) *service {
	s.t.Helper()
	svc := &service{id: id, cfgPath: s.writeConfig(id)}
	s.launch(svc)
	if waitReady {
		s.waitReady(svc, 90*time.Second)
	}
	return svc
}

func (s *scenario) launch(svc *service) {
	s.t.Helper()
	svc.p = s.start(fmt.Sprintf("run-%s-%d", svc.id, svc.restarts), "run", "--config", svc.cfgPath)
	s.mu.Lock()
	s.live[svc.id] = svc
	s.mu.Unlock()
}

// retire takes an instance out of the ones expected to run, before it is
// stopped on purpose.
func (s *scenario) retire(svc *service) {
	s.mu.Lock()
	delete(s.live, svc.id)
	s.mu.Unlock()
}

// kill SIGKILLs an instance and waits until the process is gone.
func (s *scenario) kill(svc *service) {
	s.t.Helper()
	s.retire(svc)
	svc.p.Kill()
}

// restart starts the instance again with the same id and configuration.
func (s *scenario) restart(svc *service) {
	s.t.Helper()
	svc.restarts++
	s.launch(svc)
}

// terminate SIGTERMs an instance and requires a clean exit (status 0)
// within stopTimeout.
func (s *scenario) terminate(svc *service) {
	s.t.Helper()
	s.retire(svc)
	if code := svc.p.Stop(); code != 0 {
		s.t.Fatalf("%s exited with %s after SIGTERM (want a clean exit within %s):\n%s", svc.p.Name, svc.p.Status(), stopTimeout, proctest.LastLines(svc.p.Stdout.String(), 30))
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
		if svc.p.Exited() {
			dead = append(dead, svc)
		}
	}
	s.mu.Unlock()
	for _, svc := range dead {
		s.exits = append(s.exits, fmt.Sprintf("%s@%s", svc.p.Name, time.Since(s.prodAt).Round(10*time.Millisecond)))
		lines := nonNoise(svc.p.Stdout.String(), 15)
		if svc.unexpected++; svc.unexpected > maxRestarts {
			return fmt.Errorf("instance %s exited by itself (%s) for the %d. time; giving up:\n%s", svc.p.Name, svc.p.Status(), svc.unexpected, lines)
		}
		s.t.Errorf("instance %s exited by itself (%s) at %s of the stream; restarting it as a supervisor would. Its log ends:\n%s",
			svc.p.Name, svc.p.Status(), time.Since(s.prodAt).Round(10*time.Millisecond), lines)
		s.restart(svc)
	}
	return nil
}

const maxRestarts = 3

// until polls cond like proctest.Eventually (every proctest.PollEvery, up
// to d) and watches the instances meanwhile (checkLive): an instance that
// gave up ends the test at once.
func (s *scenario) until(d time.Duration, what string, cond func() error) {
	s.t.Helper()
	proctest.Eventually(s.t, d, what, func() error {
		if err := s.checkLive(); err != nil {
			s.t.Fatalf("%s: %v", what, err)
		}
		return cond()
	})
}

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

// waitReady polls /readyz (at the address of the "streamscore running" log
// line) until the instance joined its group.
func (s *scenario) waitReady(svc *service, d time.Duration) {
	s.t.Helper()
	hc := &http.Client{Timeout: time.Second}
	proctest.Eventually(s.t, d, svc.p.Name+" ready", func() error {
		addr, _ := svc.p.LogLine("streamscore running")["http"].(string)
		if addr == "" {
			return errors.New(`no "streamscore running" log line with the HTTP address yet`)
		}
		resp, _, err := proctest.HTTPDo(hc, http.MethodGet, "http://"+addr+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s", resp.Status)
		}
		return nil
	}, svc.p)
}

// begin starts every scenario the same way: instance i1, once it is ready
// the lag monitor, then the live stream. It returns i1.
func (s *scenario) begin() *service {
	s.t.Helper()
	svc := s.startInstance("i1", true)
	s.startMonitor()
	s.startProducer()
	return svc
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
	s.producer = s.start("produce", args...)
	s.prodAt = s.producer.Started
}

// waitProducer waits for the producer to finish and requires success.
func (s *scenario) waitProducer() {
	s.t.Helper()
	d := time.Duration(s.events/rate)*time.Second + 3*time.Minute
	s.until(d, "producer finished", func() error {
		if !s.producer.Exited() {
			return fmt.Errorf("producer still running; its log ends:\n%s", proctest.LastLines(s.producer.Stdout.String(), 20))
		}
		return nil
	})
	if code := s.producer.ExitCode(); code != 0 {
		s.t.Fatalf("producer failed (%s):\n%s", s.producer.Status(), proctest.LastLines(s.producer.Stdout.String(), 20))
	}
	s.t.Logf("producer done in %s: %s", time.Since(s.prodAt).Round(10*time.Millisecond), strings.TrimSpace(proctest.LastLines(s.producer.Stdout.String(), 1)))
}

// at waits until the producer has run for d (the planned moment of a
// fault), watching the instances meanwhile.
func (s *scenario) at(d time.Duration) {
	s.t.Helper()
	// The deadline is the moment itself (plus a poll): cond holds by then.
	s.until(time.Until(s.prodAt.Add(d))+proctest.PollEvery, fmt.Sprintf("%s of the stream", d), func() error {
		if since := time.Since(s.prodAt); since < d {
			return fmt.Errorf("at %s", since.Round(10*time.Millisecond))
		}
		return nil
	})
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

// monitor polls the lag every proctest.PollEvery (100 ms) in the background.
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
		tick := time.NewTicker(proctest.PollEvery)
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
	var ends map[int32]int64
	proctest.Eventually(s.t, d, "input end offsets", func() (err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ends, err = s.endOffsets(ctx)
		return err
	})
	return ends
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
	s.until(d, "output caught up after "+f.what, func() error { return s.caughtUp(f, extra) })
}

// caughtUp is waitCaughtUp's condition; it sets f.recovery when it holds.
func (s *scenario) caughtUp(f *fault, extra func() (bool, string)) error {
	smp := s.mon.last()
	switch {
	case !smp.ok || smp.at.Before(f.at):
		return errors.New("no lag sample since the fault (broker unreachable?)")
	case !smp.covers(f.endsAt):
		return fmt.Errorf("committed %v has not passed the input end offsets at the fault %v", smp.committed, f.endsAt)
	case smp.lag > caughtUpLag:
		return fmt.Errorf("lag %d > %d", smp.lag, caughtUpLag)
	}
	if extra != nil {
		if ok, why := extra(); !ok {
			return errors.New(why)
		}
	}
	f.recovery = smp.at.Sub(f.at)
	return nil
}

// waitDrained waits until the group committed every input record (lag 0),
// after the producer finished.
func (s *scenario) waitDrained(d time.Duration) time.Duration {
	s.t.Helper()
	start := time.Now()
	ends := s.inputEnds(30 * time.Second)
	s.until(d, fmt.Sprintf("group %s committed up to the input's end %v", s.group, ends), func() error {
		if smp := s.mon.last(); !smp.ok || !smp.at.After(start) || !smp.covers(ends) {
			return fmt.Errorf("last committed %v", smp.committed)
		}
		return nil
	})
	return time.Since(start)
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
		s.terminate(svc)
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
