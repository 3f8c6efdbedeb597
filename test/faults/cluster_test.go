//go:build faults

package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/processor"
)

// The three-broker scenario: the deploy/kafka cluster (kafka-up.sh --cluster:
// three KRaft nodes, each broker and controller, replication factor 3,
// min.insync.replicas 2), three instances of the service in one group on a
// 12-partition input, a live stream, and broker faults mid-stream. Each
// fault's victim is the node leading the most input partitions, a tie (the
// cluster starts balanced: 4 each) going to the group coordinator, then to
// the node coordinating the most of the instances' transactions:
//
//  1. SIGKILL of that node; it stays down until the output caught up
//     without it (and at least brokerDown), then starts again on its data.
//  2. exactly-once only, when the node of fault 1 held none of the
//     instances' transaction state: SIGKILL of the transaction coordinator
//     of the most of them, restarted the same way.
//  3. SIGSTOP of the victim (by then one of the two nodes that took over
//     fault 1's leaderships) for hang, longer than the group session
//     timeout, then SIGCONT: a hung broker whose sockets stay open, not a
//     dead one.
//
// The cluster starts once for TestCluster (both modes), with a cache and
// ports of its own, and is wiped after a pass (kept after a failure).
const (
	envClusterCache = "STREAMSCORE_TEST_FAULTS_CLUSTER_CACHE" // the cluster's cache (default <repo>/.cache/kafka-faults-cluster)
	envClusterPort  = "STREAMSCORE_TEST_FAULTS_CLUSTER_PORT"  // node 1's client port (default 19510; node n: +2(n-1), controller +1)

	clusterNodes      = 3
	clusterPartitions = 12
	clusterInstances  = 3
	// brokerDown is the least time a killed node stays down.
	brokerDown = 5 * time.Second
	// settle is the stream between a recovery and the next fault, and after the last one.
	settle = 3 * time.Second
	// faultDeadline bounds each wait for the output to catch up.
	faultDeadline = 2 * time.Minute
)

// hang is how long a SIGSTOPped node stays stopped: past the group session
// timeout of the instances (the processor's default; the scenario keeps it),
// so a hung coordinator would have expired their sessions, and past the
// client's request timeouts (franz-go: 10 s over a request's own timeout, so
// 20 s for a produce), so the scenario shows whether the service gets going
// again while the node still hangs (with 15 s it got going only after the
// SIGCONT).
var hang = processor.DefaultConfig().SessionTimeout + 20*time.Second

// kafkaCluster is the scenario's three-node cluster, run by the deploy/kafka scripts.
type kafkaCluster struct {
	cache   string
	port    int
	brokers []string
}

func (c *kafkaCluster) env() []string {
	return proctest.CleanEnv(
		"STREAMSCORE_DEV_KAFKA_CACHE="+suite.cache, // its libs/: the shared jars (see linkLibs)
		"STREAMSCORE_DEV_KAFKA_CLUSTER_CACHE="+c.cache,
		"STREAMSCORE_DEV_KAFKA_CLUSTER_PORT="+strconv.Itoa(c.port),
		"STREAMSCORE_DEV_KAFKA_READY_TIMEOUT=180s", // three JVMs starting on a loaded 2-core machine
	)
}

// script runs deploy/kafka/<name> --cluster args and returns its stdout.
func (c *kafkaCluster) script(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return kafkaScript(ctx, c.env(), name, append([]string{"--cluster"}, args...)...)
}

// node runs deploy/kafka/<name> for node n alone ("kafka-down.sh", n,
// "--kill") and returns how long the script took.
func (c *kafkaCluster) node(t *testing.T, name string, n int32, args ...string) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := c.script(name, append([]string{"--node", strconv.Itoa(int(n))}, args...)...); err != nil {
		t.Fatalf("node %d: %v", n, err)
	}
	return time.Since(start)
}

func (c *kafkaCluster) target() kafkaTarget {
	k := kafkaTarget{brokers: c.brokers, partitions: clusterPartitions, replicas: clusterNodes}
	for n := 1; n <= clusterNodes; n++ {
		k.logs = append(k.logs, filepath.Join(c.cache, "node"+strconv.Itoa(n), "run", "kafka.log"))
	}
	return k
}

// startCluster starts the cluster on freshly wiped data; at the end of t it
// is stopped and wiped, or, after a failure, stopped with its data and logs
// kept (STREAMSCORE_TEST_FAULTS_KEEP_BROKER=1: left running).
func startCluster(t *testing.T) *kafkaCluster {
	t.Helper()
	c := &kafkaCluster{cache: os.Getenv(envClusterCache), port: 19510}
	if c.cache == "" {
		c.cache = filepath.Join(suite.repo, ".cache", "kafka-faults-cluster")
	}
	if s := os.Getenv(envClusterPort); s != "" {
		var err error
		if c.port, err = strconv.Atoi(s); err != nil {
			t.Fatalf("%s=%q: %v", envClusterPort, s, err)
		}
	}
	if last := c.port + 2*clusterNodes - 1; suite.port+1 >= c.port && suite.port <= last {
		t.Fatalf("cluster ports %d-%d overlap the dedicated broker's %d-%d: set %s", c.port, last, suite.port, suite.port+1, envClusterPort)
	}
	if _, err := c.script("kafka-down.sh", "--wipe"); err != nil {
		t.Fatalf("wiping the cluster: %v", err)
	}
	start := time.Now()
	out, err := c.script("kafka-up.sh")
	if err != nil {
		t.Fatalf("starting the cluster (cache %s, ports %d+): %v", c.cache, c.port, err)
	}
	c.brokers = strings.Split(lastLine(out), ",")
	t.Logf("cluster: %d Apache Kafka nodes at %s (cache %s) ready in %s", clusterNodes, strings.Join(c.brokers, ","), c.cache, time.Since(start).Round(100*time.Millisecond))
	t.Cleanup(func() {
		if os.Getenv(envKeep) == "1" {
			t.Logf("%s=1: cluster left running at %s (stop: STREAMSCORE_DEV_KAFKA_CLUSTER_CACHE=%s STREAMSCORE_DEV_KAFKA_CLUSTER_PORT=%d bash deploy/kafka/kafka-down.sh --cluster)",
				envKeep, strings.Join(c.brokers, ","), c.cache, c.port)
			return
		}
		args := []string{"--wipe"}
		if t.Failed() {
			args = nil
			t.Logf("cluster data and logs kept in %s/node{1,2,3} (the next run wipes them)", c.cache)
		}
		if _, err := c.script("kafka-down.sh", args...); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
	})
	return c
}

// TestCluster runs the three-broker scenario in both delivery modes against
// one cluster.
func TestCluster(t *testing.T) {
	c := startCluster(t)
	for i, mode := range modes {
		t.Run(mode, func(t *testing.T) { clusterScenario(t, c, mode, uint64(90+i)) })
	}
}

func clusterScenario(t *testing.T, c *kafkaCluster, mode string, seedOffset uint64) {
	// Every node up (an earlier failed mode may have left one down or
	// paused), the leaders on their preferred replicas again.
	if _, err := c.script("kafka-up.sh"); err != nil {
		t.Fatalf("cluster: %v", err)
	}
	s := newScenarioOn(t, c.target(), "cluster", mode, 0, 0, seedOffset)
	s.balanceLeaders()
	var svcs []*service
	for i := 1; i <= clusterInstances; i++ {
		svcs = append(svcs, s.startInstance("i"+strconv.Itoa(i), false))
	}
	for _, svc := range svcs {
		s.waitReady(svc, 90*time.Second)
	}
	s.until(90*time.Second, fmt.Sprintf("%d members own partitions", clusterInstances), func() error {
		if ok, why := groupOf(s, clusterInstances)(); !ok {
			return errors.New(why)
		}
		return nil
	})
	s.startMonitor()
	s.startProducer()

	var faults []*fault
	s.at(2 * settle)
	v := s.victim()
	faults = append(faults, c.killAndRestart(s, v)...)
	if mode == "exactly-once" && v.txns == 0 {
		// Its node held no instance's transaction state: kill the
		// transaction coordinator as a fault of its own.
		faults = append(faults, c.killAndRestart(s, s.txnVictim())...)
	}
	faults = append(faults, c.hangAndResume(s, s.victim())...)

	s.at(time.Since(s.prodAt) + settle)
	s.producer.Signal(syscall.SIGTERM) // the stream ends here; the producer flushes and exits 0
	finish(t, s, faults, fmt.Sprintf("instances=%d partitions=%d replicas=%d hang=%s", clusterInstances, clusterPartitions, clusterNodes, hang))
}

// killAndRestart SIGKILLs node v, waits until the output caught up without
// it, keeps it down for brokerDown at least, starts it again on its data and
// waits until the output caught up again. The restart's recovery counts
// from the moment the node serves again (its rejoining is what might
// disturb the service).
func (c *kafkaCluster) killAndRestart(s *scenario, v victim) []*fault {
	s.t.Helper()
	kill := s.newFault(fmt.Sprintf("SIGKILL of broker %d", v.node))
	c.node(s.t, "kafka-down.sh", v.node, "--kill")
	s.waitCaughtUp(kill, faultDeadline, nil)
	kill.note = v.role
	s.t.Logf("recovery: %s (%s) at %s of the stream: output caught up %.2fs after the kill, with the broker still down",
		kill.what, v.role, kill.atStream, kill.recovery.Seconds())

	s.at(kill.at.Add(brokerDown).Sub(s.prodAt))
	started := time.Now()
	took := c.node(s.t, "kafka-up.sh", v.node) // starts it on its data, waits until it serves in a cluster of three
	restart := s.newFault(fmt.Sprintf("restart of broker %d", v.node))
	s.waitCaughtUp(restart, faultDeadline, nil)
	restart.note = fmt.Sprintf("down %.1fs; serving %.2fs after its start", started.Sub(kill.at).Seconds(), took.Seconds())
	s.t.Logf("recovery: %s at %s of the stream (%s): output caught up %.2fs after it served again",
		restart.what, restart.atStream, restart.note, restart.recovery.Seconds())
	s.at(time.Since(s.prodAt) + settle)
	return []*fault{kill, restart}
}

// hangAndResume SIGSTOPs node n for hang, then SIGCONTs it. The recovery
// of the SIGSTOP counts from the stop to the output having caught up, be
// that while the node still hangs or only after it resumed; the SIGCONT is
// a fault of its own (the node learns that it lost its leaderships).
func (c *kafkaCluster) hangAndResume(s *scenario, v victim) []*fault {
	s.t.Helper()
	n, role := v.node, v.role
	stop := s.newFault(fmt.Sprintf("SIGSTOP of broker %d", n))
	c.node(s.t, "kafka-down.sh", n, "--pause")
	end := stop.at.Add(hang)
	s.until(hang+time.Second, "output caught up or the hang over", func() error {
		if s.caughtUp(stop, nil) == nil || time.Now().After(end) {
			return nil
		}
		return fmt.Errorf("broker %d hung for %s", n, time.Since(stop.at).Round(time.Millisecond))
	})
	hungCaughtUp := stop.recovery > 0
	s.at(end.Sub(s.prodAt))
	cont := s.newFault(fmt.Sprintf("SIGCONT of broker %d", n))
	c.node(s.t, "kafka-up.sh", n) // SIGCONT, then waits until it serves again
	if !hungCaughtUp {
		s.waitCaughtUp(stop, faultDeadline, nil)
	}
	s.waitCaughtUp(cont, faultDeadline, nil)
	stop.note = fmt.Sprintf("%s, stopped %s; caught up while hung: %v", role, hang, hungCaughtUp)
	s.t.Logf("recovery: %s (%s) at %s of the stream: output caught up %.2fs after the SIGSTOP (%s)",
		stop.what, role, stop.atStream, stop.recovery.Seconds(),
		map[bool]string{true: "while the broker still hung", false: "only after the SIGCONT"}[hungCaughtUp])
	s.t.Logf("recovery: %s at %s of the stream: output caught up %.2fs after the SIGCONT", cont.what, cont.atStream, cont.recovery.Seconds())
	s.at(time.Since(s.prodAt) + settle)
	return []*fault{stop, cont}
}

// balanceLeaders moves every partition's leadership back to its preferred
// replica (the cluster does not do it by itself: kafka-up.sh turns
// auto.leader.rebalance.enable off), so each mode starts from a balanced
// cluster, whatever the faults before it did.
func (s *scenario) balanceLeaders() {
	s.t.Helper()
	proctest.Eventually(s.t, time.Minute, "preferred leader election", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := s.adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
		if err != nil {
			return err
		}
		for _, parts := range res {
			for _, r := range parts {
				// ELECTION_NOT_NEEDED: already on its preferred replica.
				if r.Err != nil && !errors.Is(r.Err, kerr.ElectionNotNeeded) {
					return fmt.Errorf("%s/%d: %w", r.Topic, r.Partition, r.Err)
				}
			}
		}
		return nil
	})
	leaders := s.inputLeaders(10 * time.Second)
	s.t.Logf("input partitions led per broker after the preferred leader election: %v", leaders)
}

// inputLeaders counts the input partitions each broker leads, retrying until d passes.
func (s *scenario) inputLeaders(d time.Duration) map[int32]int {
	s.t.Helper()
	var leaders map[int32]int
	proctest.Eventually(s.t, d, "input partition leaders", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		md, err := s.adm.Metadata(ctx, s.input)
		if err != nil {
			return err
		}
		td := md.Topics[s.input]
		if td.Err != nil {
			return td.Err
		}
		leaders = make(map[int32]int)
		for _, p := range td.Partitions {
			if p.Leader < 0 {
				return fmt.Errorf("partition %d has no leader", p.Partition)
			}
			leaders[p.Leader]++
		}
		return nil
	})
	return leaders
}

// victim is a node to break and why it was chosen.
type victim struct {
	node int32
	role string // "leader of 4/12 input partitions, group coordinator, ..."
	txns int    // instances whose transaction coordinator it is
}

// victim is the node leading the most input partitions; on a tie the group
// coordinator, then the node coordinating the most of the instances'
// transactions, then the lowest id.
func (s *scenario) victim() victim {
	s.t.Helper()
	leaders := s.inputLeaders(30 * time.Second)
	group, txn := s.coordinators()
	txns := txnCounts(txn)
	rank := func(n int32) []int {
		coordinates := 0
		if n == group {
			coordinates = 1
		}
		return []int{leaders[n], coordinates, txns[n], -int(n)}
	}
	best := int32(-1)
	for n := int32(1); n <= clusterNodes; n++ {
		if best < 0 || slices.Compare(rank(n), rank(best)) > 0 {
			best = n
		}
	}
	v := victim{node: best, txns: txns[best],
		role: fmt.Sprintf("leader of %d/%d input partitions", leaders[best], clusterPartitions)}
	if best == group {
		v.role += ", group coordinator"
	}
	if txn != nil {
		v.role += fmt.Sprintf(", transaction coordinator of %d/%d instances", v.txns, len(txn))
	}
	return v
}

// txnVictim is the node coordinating the most of the instances' transactions.
func (s *scenario) txnVictim() victim {
	s.t.Helper()
	_, txn := s.coordinators()
	txns := txnCounts(txn)
	best := int32(-1)
	for n := int32(1); n <= clusterNodes; n++ {
		if best < 0 || txns[n] > txns[best] {
			best = n
		}
	}
	return victim{node: best, txns: txns[best], role: fmt.Sprintf("transaction coordinator of %d/%d instances", txns[best], len(txn))}
}

// coordinators names the broker coordinating the group and, in
// exactly-once, the transaction coordinator of each of the group's
// transactional ids (the processor names them <group>-<instance id>).
func (s *scenario) coordinators() (group int32, txn map[string]int32) {
	s.t.Helper()
	proctest.Eventually(s.t, 30*time.Second, "group and transaction coordinators", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g := s.adm.FindGroupCoordinators(ctx, s.group)[s.group]
		if g.Err != nil {
			return fmt.Errorf("group coordinator: %w", g.Err)
		}
		group, txn = g.NodeID, nil
		if s.mode != "exactly-once" {
			return nil
		}
		listed, err := s.adm.ListTransactions(ctx, nil, nil)
		if err != nil {
			return fmt.Errorf("list transactions: %w", err)
		}
		txn = make(map[string]int32)
		for id, l := range listed {
			if strings.HasPrefix(id, s.group+"-") {
				txn[id] = l.Coordinator
			}
		}
		if len(txn) < clusterInstances {
			return fmt.Errorf("%d transactional ids of group %s listed, want %d: %v", len(txn), s.group, clusterInstances, txn)
		}
		return nil
	})
	s.t.Logf("coordinators: group %s on broker %d; transactional ids on %v", s.group, group, txn)
	return group, txn
}

func txnCounts(txn map[string]int32) map[int32]int {
	out := make(map[int32]int)
	for _, n := range txn {
		out[n]++
	}
	return out
}
