// Package kafkatest gives tests a Kafka cluster, fresh topics and helpers to
// write and read records.
//
// When STREAMSCORE_TEST_BROKERS is set (comma separated, e.g. as `make test`
// does after `deploy/kafka/kafka-up.sh`), every test talks to that real Apache
// Kafka broker. Otherwise each call to Brokers starts an in-process kfake
// cluster that the test's cleanup closes. Tests never skip for want of a
// broker.
//
// The real broker is shared by every test package running at the same time,
// so everything a test creates gets a unique name (Topic, UniqueName) and is
// deleted in its cleanup.
//
// All helpers that take a testing.TB fail the test with t.Fatalf on error, so
// call them from the test's own goroutine.
package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EnvBrokers names the environment variable that points tests at a real
// Apache Kafka cluster (comma separated host:port list).
const EnvBrokers = "STREAMSCORE_TEST_BROKERS"

// opTimeout bounds each admin operation (create/delete topic, list offsets).
const opTimeout = 30 * time.Second

// IsReal reports whether tests run against a real Apache Kafka cluster
// (STREAMSCORE_TEST_BROKERS is set) rather than in-process kfake clusters.
func IsReal() bool { return len(envBrokers()) > 0 }

func envBrokers() []string {
	var out []string
	for _, b := range strings.Split(os.Getenv(EnvBrokers), ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

var (
	realCheckOnce sync.Once
	realCheckErr  error
	realCheckInfo string

	logged sync.Map // testing.TB -> struct{}: which tests already logged the cluster kind
)

// Brokers returns seed brokers for the test: the real cluster from
// STREAMSCORE_TEST_BROKERS when set, otherwise a new one-broker kfake cluster
// that is closed in t.Cleanup. The first call in a process checks that the
// real cluster answers and fails the test with a hint if it does not.
func Brokers(t testing.TB) []string {
	t.Helper()
	if bs := envBrokers(); len(bs) > 0 {
		realCheckOnce.Do(func() { realCheckInfo, realCheckErr = checkReal(bs) })
		if realCheckErr != nil {
			t.Fatalf("kafkatest: %s=%s is set but the broker does not answer: %v (start it with `bash deploy/kafka/kafka-up.sh`)",
				EnvBrokers, strings.Join(bs, ","), realCheckErr)
		}
		logOnce(t, "kafkatest: using Apache Kafka at %s (%s)", strings.Join(bs, ","), realCheckInfo)
		return bs
	}
	c := FakeCluster(t)
	bs := c.ListenAddrs()
	logOnce(t, "kafkatest: using in-process kfake cluster at %s (%s not set)", strings.Join(bs, ","), EnvBrokers)
	return bs
}

// FakeCluster starts an in-process kfake cluster with one broker and the same
// topic policy as the real test broker (no automatic topic creation), plus
// opts, and closes it in t.Cleanup. Use it directly for tests that need kfake's
// fault hooks (Control, KeepControl, ...) whatever STREAMSCORE_TEST_BROKERS says.
func FakeCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	all := append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)
	c, err := kfake.NewCluster(all...)
	if err != nil {
		t.Fatalf("kafkatest: start kfake cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func logOnce(t testing.TB, format string, args ...any) {
	t.Helper()
	if _, loaded := logged.LoadOrStore(t, struct{}{}); loaded {
		return
	}
	t.Cleanup(func() { logged.Delete(t) })
	t.Logf(format, args...)
}

// checkReal asks the real cluster for its brokers and API versions.
func checkReal(brokers []string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	cl, err := kgo.NewClient(append(helperOpts(brokers), kgo.DialTimeout(5*time.Second))...)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	versions, err := adm.ApiVersions(ctx)
	if err != nil {
		return "", err
	}
	var parts []string
	for _, v := range versions.Sorted() {
		if v.Err != nil {
			return "", fmt.Errorf("node %d: %w", v.NodeID, v.Err)
		}
		parts = append(parts, fmt.Sprintf("node %d: %s", v.NodeID, v.VersionGuess()))
	}
	return strings.Join(parts, ", "), nil
}

// helperOpts are the options of the clients the helpers use internally. A
// short metadata min age: when a fresh partition answers NOT_LEADER (its
// leader is named in metadata before it serves), franz-go retries after the
// next metadata refresh, by default at most every 5s.
func helperOpts(brokers []string) []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.MetadataMinAge(100 * time.Millisecond)}
}

// Client returns a franz-go client seeded with brokers and opts, closed in t.Cleanup.
func Client(t testing.TB, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	all := append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatalf("kafkatest: new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns an admin client for brokers, closed in t.Cleanup.
func Admin(t testing.TB, brokers []string) *kadm.Client {
	t.Helper()
	return kadm.NewClient(Client(t, brokers))
}

var nameSeq atomic.Uint64

// UniqueName returns a name that no other test, test process or earlier run
// uses: prefix, the sanitized test name, the process id and a sequence
// number. Use it for topics, consumer groups and transactional ids on the
// shared real broker.
func UniqueName(t testing.TB, prefix string) string {
	name := sanitize(t.Name())
	if len(name) > 100 {
		name = name[:100]
	}
	return fmt.Sprintf("%s-%s-%d-%s-%d", prefix, name, os.Getpid(),
		strconv.FormatInt(time.Now().UnixNano(), 36), nameSeq.Add(1))
}

// sanitize keeps only characters valid in Kafka topic names, and neither '.'
// nor '_' (Kafka warns that they collide in metric names).
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
		default:
			b[i] = '-'
		}
	}
	return string(b)
}

// Topic creates a topic with a unique name, the given number of partitions
// and replication factor 1, waits until every partition has a leader, and
// deletes it in t.Cleanup.
func Topic(t testing.TB, brokers []string, partitions int32) string {
	t.Helper()
	return TopicWithConfigs(t, brokers, partitions, nil)
}

// TopicWithConfigs is Topic with topic configs (e.g. "cleanup.policy": "compact").
func TopicWithConfigs(t testing.TB, brokers []string, partitions int32, configs map[string]string) string {
	t.Helper()
	return TopicReplicated(t, brokers, partitions, 1, configs)
}

// TopicReplicated is TopicWithConfigs with replicas replicas of each
// partition (a multi-broker cluster; -1 is the broker's default.replication.factor).
func TopicReplicated(t testing.TB, brokers []string, partitions int32, replicas int16, configs map[string]string) string {
	t.Helper()
	name := UniqueName(t, "t")
	var cfg map[string]*string
	if len(configs) > 0 {
		cfg = make(map[string]*string, len(configs))
		for k, v := range configs {
			cfg[k] = &v
		}
	}
	adm := newAdmin(t, brokers)
	defer adm.Close()

	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, replicas, cfg, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("kafkatest: create topic %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := deleteTopic(brokers, name); err != nil {
			t.Errorf("kafkatest: delete topic %s: %v", name, err)
		}
	})
	if err := waitTopicReady(ctx, adm, name, partitions); err != nil {
		t.Fatalf("kafkatest: topic %s: %v", name, err)
	}
	return name
}

func newAdmin(t testing.TB, brokers []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(helperOpts(brokers)...)
	if err != nil {
		t.Fatalf("kafkatest: new client: %v", err)
	}
	return kadm.NewClient(cl)
}

// waitTopicReady polls until the topic shows all partitions with a leader in
// metadata and every leader answers for its partition. Real Kafka answers
// CreateTopics before the brokers serve the topic.
func waitTopicReady(ctx context.Context, adm *kadm.Client, name string, partitions int32) error {
	var last error
	for attempt := 1; ; attempt++ {
		md, err := adm.Metadata(ctx, name)
		switch {
		case err != nil:
			last = err
		default:
			td := md.Topics[name]
			last = td.Err
			if td.Err == nil {
				ready := int32(len(td.Partitions)) == partitions
				for _, p := range td.Partitions {
					if p.Err != nil || p.Leader < 0 {
						ready = false
						last = fmt.Errorf("partition %d: leader %d: %v", p.Partition, p.Leader, p.Err)
					}
				}
				if ready {
					// Metadata can name the leader before that broker's replica
					// manager has taken the partition: a produce then gets
					// NOT_LEADER_FOR_PARTITION and franz-go waits out its 5s
					// metadata min age. ListOffsets goes to the leader itself.
					last = leadersServe(ctx, adm, name)
					if last == nil {
						return nil
					}
				}
			}
		}
		if err := wait(ctx, attempt); err != nil {
			return fmt.Errorf("not ready: %w (last: %v)", err, last)
		}
	}
}

// leadersServe asks every partition leader of topic for its end offset.
func leadersServe(ctx context.Context, adm *kadm.Client, topic string) error {
	listed, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return err
	}
	return listed.Error()
}

func deleteTopic(brokers []string, name string) error {
	cl, err := kgo.NewClient(helperOpts(brokers)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	resp, err := kadm.NewClient(cl).DeleteTopic(ctx, name)
	if err == nil {
		err = resp.Err
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil
	}
	return err
}

// TopicExists reports whether the topic is listed in the cluster metadata.
func TopicExists(t testing.TB, brokers []string, topic string) bool {
	t.Helper()
	adm := newAdmin(t, brokers)
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatalf("kafkatest: list topics: %v", err)
	}
	return topics.Has(topic)
}

// wait sleeps a short, growing backoff between polls of a condition (inside
// the helpers, never to let state settle), or returns ctx's error.
func wait(ctx context.Context, attempt int) error {
	d := time.Duration(attempt) * 20 * time.Millisecond
	if d > 500*time.Millisecond {
		d = 500 * time.Millisecond
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
