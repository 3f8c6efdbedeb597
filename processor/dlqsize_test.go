package processor_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/gen"
	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/metric/metrictest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/processor"
)

// TestDLQCopyTooLargeForTheDLQ: the input and DLQ topics have the same
// size limit (the broker default), and a poison record nearly fills it:
// its DLQ copy, the original plus the reason headers, is over the DLQ's
// limit. It is dead-lettered without its value (streamscore-dlq-omitted:
// value), and the record after it is scored. Before, the producer refused
// the copy and Run stopped on it, at every restart.
func TestDLQCopyTooLargeForTheDLQ(t *testing.T) {
	for _, delivery := range []string{processor.AtLeastOnce, processor.ExactlyOnce} {
		t.Run(delivery, func(t *testing.T) {
			brokers := kafkatest.Brokers(t)
			limit := map[string]string{"max.message.bytes": "1048588"} // Kafka's default
			e := newEnvOn(t, brokers, 1)
			e.in = kafkatest.TopicWithConfigs(t, brokers, 1, limit)
			e.dlq = kafkatest.TopicWithConfigs(t, brokers, 1, limit)

			big := make([]byte, 1048588-300) // random: no codec shrinks it below the limit
			rand.Read(big)
			valid := produceValid(t, e, 1, 7, 0)[0]
			kafkatest.ProduceRecords(t, brokers, []*kgo.Record{
				{Topic: e.in, Key: []byte("big"), Value: big, Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t1")}}},
				{Topic: e.in, Key: valid.Key, Value: valid.Value},
			}, kafkatest.WithProducerOpts(kgo.ProducerBatchMaxBytes(1048588)))
			_, stop := e.start(t, e.config(delivery, kafkatest.UniqueName(t, "g")))

			var iso []kafkatest.ConsumeOption
			if delivery == processor.ExactlyOnce {
				iso = append(iso, kafkatest.ReadCommitted())
			}
			dlq := kafkatest.ConsumeN(t, brokers, e.dlq, 1, iso...)[0]
			kafkatest.ConsumeN(t, brokers, e.out, 1, iso...)
			if err := stop(); err != nil {
				t.Fatalf("Run returned %v, want nil", err)
			}
			h := map[string]string{}
			for _, hd := range dlq.Headers {
				h[hd.Key] = string(hd.Value)
			}
			if dlq.Value != nil || string(dlq.Key) != "big" {
				t.Errorf("DLQ record key %q, value of %d bytes; want key big and no value", dlq.Key, len(dlq.Value))
			}
			for k, want := range map[string]string{processor.HeaderDLQOmitted: "value", processor.HeaderDLQReason: "malformed",
				processor.HeaderDLQTopic: e.in, "trace": "t1"} {
				if h[k] != want {
					t.Errorf("DLQ header %s = %q, want %q (headers %v)", k, h[k], want, strings.Join(slices.Sorted(maps.Keys(h)), ","))
				}
			}
		})
	}
}

// blockedOnDLQ starts a processor in delivery mode (cfg adjusted by
// adjust), deletes its DLQ topic under it, produces valid records and then
// a poison record at offset valid, and waits until the poison record's
// refused copy blocks the processor.
func blockedOnDLQ(t *testing.T, delivery string, valid int, adjust func(*processor.Config)) (e *env, group string, stop func() error) {
	t.Helper()
	brokers := kafkatest.Brokers(t)
	e = newEnvOn(t, brokers, 1)
	group = kafkatest.UniqueName(t, "g")
	cfg := e.config(delivery, group)
	adjust(&cfg)
	_, stop = e.start(t, cfg)
	if _, err := kafkatest.Admin(t, brokers).DeleteTopic(context.Background(), e.dlq); err != nil {
		t.Fatalf("deleting the DLQ topic: %v", err)
	}
	if valid > 0 {
		produceValid(t, e, valid, 12, 0)
	}
	kafkatest.ProduceRecords(t, brokers, []*kgo.Record{{Topic: e.in, Value: []byte("{")}})
	proctest.Eventually(t, time.Minute, "the refused DLQ write blocking the processor", func() error {
		errs := testutil.ToFloat64(e.metrics.ProduceErrors.WithLabelValues(e.dlq))
		if blocked := testutil.ToFloat64(e.metrics.ProduceBlocked); errs < 1 || blocked != 1 {
			return fmt.Errorf("produce_errors_total{topic=dlq} = %v, produce_blocked = %v; want >= 1 and 1", errs, blocked)
		}
		return nil
	})
	return e, group, stop
}

// TestRefusedWriteBlocksThenResumes: the DLQ topic is deleted under a
// running processor, and a poison record comes. Its copy is refused
// (UNKNOWN_TOPIC_OR_PARTITION): fetching stops without stopping Run,
// produce_blocked is 1, produce_errors_total names the DLQ topic, not the
// output, and nothing is committed past the poison record. Once the DLQ is
// created again, the same running processor dead-letters the record,
// commits past it and scores the record after it, in both delivery modes.
// Before, Run stopped on it, at every restart.
func TestRefusedWriteBlocksThenResumes(t *testing.T) {
	for _, delivery := range []string{processor.AtLeastOnce, processor.ExactlyOnce} {
		t.Run(delivery, func(t *testing.T) {
			e, group, stop := blockedOnDLQ(t, delivery, 0, func(*processor.Config) {})
			brokers := e.brokers
			valid := produceValid(t, e, 1, 11, 0)
			if got := kafkatest.GroupOffsets(t, brokers, group, e.in); got[0] != 0 {
				t.Errorf("committed offset %d while the poison record's copy is refused, want none (0)", got[0])
			}

			if _, err := kafkatest.Admin(t, brokers).CreateTopic(context.Background(), 1, -1, nil, e.dlq); err != nil {
				t.Fatalf("creating the DLQ topic again: %v", err)
			}
			var iso []kafkatest.ConsumeOption
			if delivery == processor.ExactlyOnce {
				iso = append(iso, kafkatest.ReadCommitted())
			}
			if dlq := kafkatest.ConsumeN(t, brokers, e.dlq, 1, iso...)[0]; string(dlq.Value) != "{" {
				t.Errorf("DLQ record value %q, want the poison record's {", dlq.Value)
			}
			if out := kafkatest.ConsumeN(t, brokers, e.out, 1, iso...)[0]; string(out.Key) != string(valid[0].Key) {
				t.Errorf("output record key %q, want the valid record's %q", out.Key, valid[0].Key)
			}
			proctest.Eventually(t, 30*time.Second, "fetching resumed and the offsets committed", func() error {
				if blocked := testutil.ToFloat64(e.metrics.ProduceBlocked); blocked != 0 {
					return fmt.Errorf("produce_blocked = %v, want 0", blocked)
				}
				if got := kafkatest.GroupOffsets(t, brokers, group, e.in); got[0] != 2 {
					return fmt.Errorf("committed offset %d, want 2 (both records)", got[0])
				}
				return nil
			})
			if err := stop(); err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
			if got := testutil.ToFloat64(e.metrics.ProduceErrors.WithLabelValues(e.out)); got != 0 {
				t.Errorf("produce_errors_total{topic=output} = %v, want 0 (the output took every write)", got)
			}
		})
	}
}

// TestRedoneTransactionCountsOnce: while a refused DLQ write blocks the
// processor, a valid event that lacks one optional input arrives after the
// poison record. Exactly-once scores it again at every redone transaction;
// its prediction, its missing input and its drift row must count once, when
// the transaction commits. At-least-once scores it once (the same figures).
// Before, exactly-once counted them at every attempt.
func TestRedoneTransactionCountsOnce(t *testing.T) {
	for _, delivery := range []string{processor.AtLeastOnce, processor.ExactlyOnce} {
		t.Run(delivery, func(t *testing.T) {
			e, group, stop := blockedOnDLQ(t, delivery, 0, func(c *processor.Config) {
				c.LagRefresh, c.Drift.Window = 100*time.Millisecond, time.Hour
			})
			brokers := e.brokers
			_, v := gen.NewFraud(13, 300).Next(nil, time.Now())
			var ev map[string]any
			if err := json.Unmarshal(v, &ev); err != nil {
				t.Fatal(err)
			}
			delete(ev, "avg_amount_30d")
			if v, err := json.Marshal(ev); err != nil {
				t.Fatal(err)
			} else {
				kafkatest.ProduceRecords(t, brokers, []*kgo.Record{{Topic: e.in, Key: []byte("k"), Value: v}})
			}
			consumed := func() float64 { return testutil.ToFloat64(e.metrics.RecordsConsumed.WithLabelValues(e.in)) }
			if delivery == processor.ExactlyOnce {
				// Two more refused attempts with both records: the valid
				// one was scored at least twice before the DLQ is back.
				before := consumed()
				proctest.Eventually(t, time.Minute, "two redone transactions with the valid event", func() error {
					if got := consumed() - before; got < 4 {
						return fmt.Errorf("records consumed since the valid event %v, want >= 4", got)
					}
					return nil
				})
			}
			if _, err := kafkatest.Admin(t, brokers).CreateTopic(context.Background(), 1, -1, nil, e.dlq); err != nil {
				t.Fatalf("creating the DLQ topic again: %v", err)
			}
			proctest.Eventually(t, 30*time.Second, "both records committed and the drift window refreshed", func() error {
				if got := kafkatest.GroupOffsets(t, brokers, group, e.in); got[0] != 2 {
					return fmt.Errorf("committed offset %d, want 2 (both records)", got[0])
				}
				if n, _ := metrictest.Value(t, e.reg, "streamscore_drift_window_events", "door", "stream"); n != 1 {
					return fmt.Errorf("drift_window_events{door=stream} = %v, want 1 (the valid event once)", n)
				}
				return nil
			})
			if err := stop(); err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
			if n, _, _ := metrictest.Histogram(t, e.reg, "streamscore_prediction_score", "door", "stream"); n != 1 {
				t.Errorf("prediction_score{door=stream} counted %d predictions, want 1", n)
			}
			if n := metrictest.MustValue(t, e.reg, "streamscore_input_missing_total", "door", "stream", "input", "avg_amount_30d"); n != 1 {
				t.Errorf("input_missing_total{input=avg_amount_30d} = %v, want 1", n)
			}
			t.Logf("records consumed %v (every attempt), predictions counted once", consumed())
		})
	}
}

// TestStopWhileWritesRefused: a processor whose DLQ writes are refused
// stops on request, returns nil (a refusal is no error of Run) and commits
// nothing past the refused record, in both delivery modes.
func TestStopWhileWritesRefused(t *testing.T) {
	for _, delivery := range []string{processor.AtLeastOnce, processor.ExactlyOnce} {
		t.Run(delivery, func(t *testing.T) {
			e, group, stop := blockedOnDLQ(t, delivery, 3, func(c *processor.Config) { c.ShutdownTimeout = 2 * time.Second })
			if err := stop(); err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
			if got := kafkatest.GroupOffsets(t, e.brokers, group, e.in); got[0] > 3 {
				t.Errorf("committed offset %d, want at most 3 (not past the refused poison record at offset 3)", got[0])
			}
		})
	}
}
