package kafkatest_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/streamscore/streamscore/internal/kafkatest"
)

// TestMain checks that no test leaves goroutines behind: kfake clusters and
// franz-go clients started by the helpers must all be closed by cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestBrokersKind(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	if len(brokers) == 0 {
		t.Fatal("no brokers")
	}
	env := os.Getenv(kafkatest.EnvBrokers)
	if got, want := kafkatest.IsReal(), strings.TrimSpace(env) != ""; got != want {
		t.Fatalf("IsReal() = %v with %s=%q", got, kafkatest.EnvBrokers, env)
	}
	if kafkatest.IsReal() && strings.Join(brokers, ",") != strings.ReplaceAll(env, " ", "") {
		t.Fatalf("Brokers = %v, want the ones from %s=%q", brokers, kafkatest.EnvBrokers, env)
	}
	adm := kafkatest.Admin(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bs, err := adm.ListBrokers(ctx)
	if err != nil {
		t.Fatalf("list brokers: %v", err)
	}
	if len(bs) == 0 {
		t.Fatal("cluster lists no brokers")
	}
	for _, b := range bs {
		if b.Host != "127.0.0.1" {
			t.Errorf("broker %d advertises %s:%d, want loopback 127.0.0.1", b.NodeID, b.Host, b.Port)
		}
	}
}

func TestTopicIsCreatedAndDeletedInCleanup(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	var topic string
	t.Run("inner", func(t *testing.T) {
		topic = kafkatest.Topic(t, brokers, 3)
		adm := kafkatest.Admin(t, brokers)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		td, err := adm.ListTopics(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		d, ok := td[topic]
		if !ok || d.Err != nil {
			t.Fatalf("topic %s not listed after Topic: %+v", topic, d)
		}
		if got := len(d.Partitions); got != 3 {
			t.Fatalf("topic %s has %d partitions, want 3", topic, got)
		}
		if rf := d.Partitions.NumReplicas(); rf != 1 {
			t.Fatalf("topic %s has replication factor %d, want 1", topic, rf)
		}
	})
	// Deletion is asynchronous on a real broker: poll until the topic is gone.
	deadline := time.Now().Add(30 * time.Second)
	for kafkatest.TopicExists(t, brokers, topic) {
		if time.Now().After(deadline) {
			t.Fatalf("topic %s still exists 30s after its test's cleanup", topic)
		}
		pause()
	}
}

func TestTopicNamesAreUniqueAndValid(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	a := kafkatest.Topic(t, brokers, 1)
	b := kafkatest.Topic(t, brokers, 1)
	if a == b {
		t.Fatalf("two topics got the same name %q", a)
	}
	for _, name := range []string{a, b, kafkatest.UniqueName(t, "group")} {
		if len(name) > 249 {
			t.Errorf("name %q is longer than Kafka's 249 characters", name)
		}
		if strings.ContainsAny(name, "._/ ") {
			t.Errorf("name %q has characters that are invalid or discouraged in topic names", name)
		}
	}
}

func TestProduceThenConsumeAll(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 3)

	produced := kafkatest.Produce(t, brokers, topic, 60)
	partitions := map[int32]bool{}
	for i, r := range produced {
		if r.Topic != topic || r.Offset < 0 {
			t.Fatalf("record %d not acknowledged: topic %q offset %d", i, r.Topic, r.Offset)
		}
		partitions[r.Partition] = true
	}
	if len(partitions) < 2 {
		t.Fatalf("60 keyed records landed on %d partition(s), want them spread", len(partitions))
	}

	got := kafkatest.ConsumeAll(t, brokers, topic)
	if !slices.Equal(kafkatest.Values(got), kafkatest.Values(produced)) {
		t.Fatalf("ConsumeAll returned %d records, want exactly the %d produced", len(got), len(produced))
	}
	for _, r := range got {
		if want := strings.Replace(string(r.Key), "key-", "value-", 1); string(r.Value) != want {
			t.Fatalf("record key %q has value %q, want %q", r.Key, r.Value, want)
		}
	}

	ends := kafkatest.EndOffsets(t, brokers, topic, false)
	var total int64
	for _, e := range ends {
		total += e
	}
	if total != 60 {
		t.Fatalf("end offsets %v add up to %d, want 60", ends, total)
	}
}

func TestConsumeNStopsAtCount(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 1)
	kafkatest.Produce(t, brokers, topic, 25)
	got := kafkatest.ConsumeN(t, brokers, topic, 10)
	if len(got) < 10 || len(got) > 25 {
		t.Fatalf("ConsumeN(10) returned %d records, want 10..25", len(got))
	}
	// One partition: records come back in offset order from the start.
	for i, r := range got {
		if r.Offset != int64(i) {
			t.Fatalf("record %d has offset %d", i, r.Offset)
		}
	}
}

// TestEachRecordStopsAtEndOffsets: records written while EachRecord reads
// (after it listed the end offsets) are not handed out.
func TestEachRecordStopsAtEndOffsets(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 1)
	kafkatest.Produce(t, brokers, topic, 10)
	var offsets []int64
	kafkatest.EachRecord(t, brokers, topic, func(r *kgo.Record) {
		if len(offsets) == 0 {
			kafkatest.Produce(t, brokers, topic, 5) // offsets 10..14, past the listed end
		}
		offsets = append(offsets, r.Offset)
	})
	if want := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(offsets, want) {
		t.Fatalf("EachRecord handed out offsets %v, want %v", offsets, want)
	}
}

func TestConsumeAllOfEmptyTopic(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 2)
	if got := kafkatest.ConsumeAll(t, brokers, topic); len(got) != 0 {
		t.Fatalf("empty topic gave %d records", len(got))
	}
}

// TestReadCommitted writes committed, aborted and plain records and checks
// both isolation levels. It also shows the transaction-marker pitfall: the
// end offset is past the last data record.
func TestReadCommitted(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 2)

	tagged := func(tag string) kafkatest.ProduceOption {
		return kafkatest.WithRecords(func(i int) *kgo.Record {
			return &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "%s-%03d", tag, i)}
		})
	}
	committed := kafkatest.Produce(t, brokers, topic, 10, tagged("committed"), kafkatest.Transactional(true))
	aborted := kafkatest.Produce(t, brokers, topic, 7, tagged("aborted"), kafkatest.Transactional(false))
	plain := kafkatest.Produce(t, brokers, topic, 5, tagged("plain"))

	// EndTxn returns before the coordinator has written the abort markers:
	// until they land the last stable offset stays at the aborted
	// transaction's first record, and read_committed reads stop there.
	for deadline := time.Now().Add(30 * time.Second); !maps.Equal(kafkatest.EndOffsets(t, brokers, topic, true), kafkatest.EndOffsets(t, brokers, topic, false)); {
		if time.Now().After(deadline) {
			t.Fatalf("the last stable offsets %v never reached the high watermarks %v", kafkatest.EndOffsets(t, brokers, topic, true), kafkatest.EndOffsets(t, brokers, topic, false))
		}
		pause()
	}
	want := kafkatest.Values(slices.Concat(committed, plain))
	got := kafkatest.ConsumeAll(t, brokers, topic, kafkatest.ReadCommitted())
	if !slices.Equal(kafkatest.Values(got), want) {
		t.Fatalf("read_committed got %v\nwant %v", kafkatest.Values(got), want)
	}

	all := kafkatest.Values(slices.Concat(committed, aborted, plain))
	got = kafkatest.ConsumeAll(t, brokers, topic)
	if !slices.Equal(kafkatest.Values(got), all) {
		t.Fatalf("read_uncommitted got %d records, want all %d (aborted ones included)", len(got), len(all))
	}

	// Markers take offsets: the end offsets exceed the number of data records.
	var total int64
	for _, e := range kafkatest.EndOffsets(t, brokers, topic, true) {
		total += e
	}
	if total <= int64(len(all)) {
		t.Fatalf("last stable offsets add up to %d, want more than the %d data records (commit/abort markers)", total, len(all))
	}
}

func TestGroupOffsets(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 2)
	group := kafkatest.UniqueName(t, "group")
	kafkatest.Produce(t, brokers, topic, 4)

	if got := kafkatest.GroupOffsets(t, brokers, group, topic); len(got) != 0 {
		t.Fatalf("new group has offsets %v", got)
	}
	adm := kafkatest.Admin(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var offs kadm.Offsets
	offs.AddOffset(topic, 0, 2, -1)
	offs.AddOffset(topic, 1, 1, -1)
	for {
		err := adm.CommitAllOffsets(ctx, group, offs)
		if err == nil {
			break
		}
		if !kerr.IsRetriable(err) || ctx.Err() != nil {
			t.Fatalf("commit offsets: %v", err)
		}
		pause() // e.g. COORDINATOR_NOT_AVAILABLE while __consumer_offsets is created
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := adm.DeleteGroup(ctx, group); err != nil {
			t.Logf("delete group %s: %v", group, err)
		}
	})
	got := kafkatest.GroupOffsets(t, brokers, group, topic)
	if got[0] != 2 || got[1] != 1 || len(got) != 2 {
		t.Fatalf("GroupOffsets = %v, want map[0:2 1:1]", got)
	}
}

func TestFakeClusterIgnoresEnv(t *testing.T) {
	c := kafkatest.FakeCluster(t)
	brokers := c.ListenAddrs()
	topic := kafkatest.Topic(t, brokers, 1)
	kafkatest.Produce(t, brokers, topic, 3)
	if got := kafkatest.ConsumeAll(t, brokers, topic); len(got) != 3 {
		t.Fatalf("kfake cluster gave %d records, want 3", len(got))
	}
}

// pause waits briefly between polls of a condition that has its own deadline.
func pause() {
	<-time.After(50 * time.Millisecond)
}
