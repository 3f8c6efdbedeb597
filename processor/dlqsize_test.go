package processor_test

import (
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/kafkatest"
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

// TestRefusedWriteCountsItsTopic: a DLQ that refuses every copy (its limit
// is below the reason headers alone) stops Run, and produce_errors_total
// names the DLQ topic, not the output, in both delivery modes.
func TestRefusedWriteCountsItsTopic(t *testing.T) {
	for _, delivery := range []string{processor.AtLeastOnce, processor.ExactlyOnce} {
		t.Run(delivery, func(t *testing.T) {
			brokers := kafkatest.Brokers(t)
			tiny := map[string]string{"max.message.bytes": "300"}
			e := newEnvOn(t, brokers, 1)
			e.in = kafkatest.TopicWithConfigs(t, brokers, 1, tiny)
			e.dlq = kafkatest.TopicWithConfigs(t, brokers, 1, tiny)
			kafkatest.ProduceRecords(t, brokers, []*kgo.Record{{Topic: e.in, Value: []byte("{")}})
			_, stop := e.start(t, e.config(delivery, kafkatest.UniqueName(t, "g")))
			proctest.Eventually(t, 30*time.Second, "the refused DLQ write counted", func() error {
				if got := testutil.ToFloat64(e.metrics.ProduceErrors.WithLabelValues(e.dlq)); got != 1 {
					return fmt.Errorf("produce_errors_total{topic=dlq} = %v, want 1", got)
				}
				return nil
			})
			if err := stop(); err == nil || !strings.Contains(err.Error(), "MESSAGE_TOO_LARGE") {
				t.Errorf("Run returned %v, want the broker's MESSAGE_TOO_LARGE", err)
			}
			if got := testutil.ToFloat64(e.metrics.ProduceErrors.WithLabelValues(e.out)); got != 0 {
				t.Errorf("produce_errors_total{topic=output} = %v, want 0 (the output took every write)", got)
			}
		})
	}
}
