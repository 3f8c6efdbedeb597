package processor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/streamscore/streamscore/internal/gen"
	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, kafkatest.IgnoreClosing()...) }

// testLogger discards logs unless STREAMSCORE_TEST_LOG is set.
func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("STREAMSCORE_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

type env struct {
	brokers      []string
	in, out, dlq string
	bundle       *scoring.Bundle
	reg          *prometheus.Registry
	metrics      *processor.Metrics
	log          *slog.Logger // the processors' logger (nil: testLogger)
}

func newEnv(t *testing.T, partitions int32) *env {
	t.Helper()
	return newEnvOn(t, kafkatest.Brokers(t), partitions)
}

// newEnvOn is newEnv on the cluster of brokers.
func newEnvOn(t *testing.T, brokers []string, partitions int32) *env {
	t.Helper()
	big := map[string]string{"max.message.bytes": strconv.Itoa(4 << 20)}
	b, err := scoring.Load("../examples/fraud")
	if err != nil {
		t.Fatalf("load fraud bundle: %v", err)
	}
	reg := prometheus.NewRegistry()
	return &env{
		brokers: brokers,
		in:      kafkatest.TopicWithConfigs(t, brokers, partitions, big),
		out:     kafkatest.Topic(t, brokers, partitions),
		dlq:     kafkatest.TopicWithConfigs(t, brokers, 1, big),
		bundle:  b, reg: reg, metrics: processor.NewMetrics(reg),
	}
}

func (e *env) config(delivery, group string) processor.Config {
	return processor.Config{
		InputTopic: e.in, OutputTopic: e.out, DLQTopic: e.dlq, Group: group, Delivery: delivery,
		SessionTimeout: 10 * time.Second, CommitInterval: 200 * time.Millisecond, ShutdownTimeout: 20 * time.Second,
		TransactionTimeout: 10 * time.Second, BatchMaxRecords: 200, MaxInflightRecords: 5000,
		MemoryBudget: 64 << 20, MaxRecordBytes: 4 << 20, Compression: "lz4", Linger: time.Millisecond,
		TopicPartitions: 3, LagRefresh: 500 * time.Millisecond,
	}
}

func (e *env) pipeline() *processor.Pipeline {
	in := schemas.InputConfig{Format: "json", MaxRecordBytes: 1 << 20, EventIDField: "transaction_id"}
	return e.pipelineWith(func() (schemas.Decoder, error) { return schemas.NewDecoder(in, e.bundle.Layout(), nil) })
}

func (e *env) pipelineWith(newDecoder func() (schemas.Decoder, error)) *processor.Pipeline {
	enc, err := schemas.NewEncoder(context.Background(), schemas.OutputConfig{Format: "json", Topic: e.out}, nil)
	if err != nil {
		panic(err) // the JSON encoder needs no registry: a bug
	}
	return &processor.Pipeline{Path: predict.New(e.bundle, newDecoder, enc, false)}
}

// start runs a processor on the env's pipeline until the test ends;
// stop() stops it gracefully and returns Run's error.
func (e *env) start(t *testing.T, cfg processor.Config) (p *processor.Processor, stop func() error) {
	t.Helper()
	return e.startPipe(t, cfg, e.pipeline())
}

// inputs produces n fraud events with every poison kind mixed in and
// returns the poison reasons by transaction position.
func produceInputs(t *testing.T, e *env, n int, seed uint64) (valid int, poison map[string]int) {
	t.Helper()
	g := gen.NewFraud(seed, 300) // the seed names the transaction ids: distinct seeds, distinct ids
	poison = make(map[string]int)
	now := time.Now()
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		var k, v []byte
		if i%50 == 7 {
			kind := gen.PoisonKinds[(i/50)%len(gen.PoisonKinds)]
			k, v = g.Poison(kind, now, 2<<20)
			poison[kind]++
		} else {
			k, v = g.Next(nil, now)
			valid++
		}
		recs = append(recs, &kgo.Record{Topic: e.in, Key: k, Value: v, Timestamp: now})
	}
	kafkatest.ProduceRecords(t, e.brokers, recs, kafkatest.WithProducerOpts(
		kgo.ProducerBatchMaxBytes(5<<20), kgo.BrokerMaxWriteBytes(16<<20)))
	return valid, poison
}

type prediction struct {
	Key   string  `json:"key"`
	ID    string  `json:"event_id"`
	Score float64 `json:"score"`
	Label string  `json:"label"`
}

func checkOutputs(t *testing.T, e *env, valid int, poison map[string]int, readCommitted bool) (dups int) {
	t.Helper()
	var opts []kafkatest.ConsumeOption
	if readCommitted {
		opts = append(opts, kafkatest.ReadCommitted())
	}
	outs := kafkatest.ConsumeN(t, e.brokers, e.out, valid, opts...)
	seen := make(map[string]int)
	for _, r := range outs {
		var p prediction
		if err := json.Unmarshal(r.Value, &p); err != nil {
			t.Fatalf("prediction is not JSON: %v: %s", err, r.Value)
		}
		if p.Label != "High Risk" && p.Label != "Low Risk" {
			t.Errorf("prediction %s: label %q", p.ID, p.Label)
		}
		if p.Score < 0 || p.Score > 1 {
			t.Errorf("prediction %s: score %v outside [0,1]", p.ID, p.Score)
		}
		if string(r.Key) != p.Key && p.Key != "" {
			t.Errorf("prediction key %q, record key %q", p.Key, r.Key)
		}
		if h := kafkatest.Header(r, processor.HeaderModel); h != e.bundle.Name+"@"+e.bundle.Version {
			t.Errorf("model header %q", h)
		}
		seen[p.ID]++
	}
	for id, c := range seen {
		if c > 1 {
			dups += c - 1
		}
		_ = id
	}
	if len(seen) != valid {
		t.Errorf("distinct predictions = %d, want %d (one per valid input)", len(seen), valid)
	}
	wantDLQ := 0
	for _, c := range poison {
		wantDLQ += c
	}
	dlq := kafkatest.ConsumeN(t, e.brokers, e.dlq, wantDLQ, opts...)
	got := make(map[string]int)
	offsets := make(map[string]bool)
	for _, r := range dlq {
		got[kafkatest.Header(r, processor.HeaderDLQReason)]++
		offsets[kafkatest.Header(r, processor.HeaderDLQPartition)+"/"+kafkatest.Header(r, processor.HeaderDLQOffset)] = true
		if kafkatest.Header(r, processor.HeaderDLQTopic) != e.in {
			t.Errorf("dlq source topic %q", kafkatest.Header(r, processor.HeaderDLQTopic))
		}
	}
	for kind, want := range poison {
		if got[kind] < want {
			t.Errorf("dlq reason %s: %d records, want %d (all reasons: %v)", kind, got[kind], want, got)
		}
	}
	if len(offsets) != wantDLQ {
		t.Errorf("distinct DLQ source offsets = %d, want %d", len(offsets), wantDLQ)
	}
	return dups
}

// waitCommitted waits until the group committed every input offset.
func waitCommitted(t *testing.T, e *env, group string) {
	t.Helper()
	end := kafkatest.EndOffsets(t, e.brokers, e.in, false)
	proctest.Eventually(t, 30*time.Second, "the group commits the end offsets", func() error {
		got := kafkatest.GroupOffsets(t, e.brokers, group, e.in)
		for p, o := range end {
			if got[p] < o {
				return fmt.Errorf("committed offsets %v, want at least the end offsets %v", got, end)
			}
		}
		return nil
	})
}

func TestDeliveryModes(t *testing.T) {
	for _, mode := range []string{processor.AtLeastOnce, processor.ExactlyOnce} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, 3)
			valid, poison := produceInputs(t, e, 1500, 1)
			group := kafkatest.UniqueName(t, "g")
			_, stop := e.start(t, e.config(mode, group))
			dups := checkOutputs(t, e, valid, poison, mode == processor.ExactlyOnce)
			waitCommitted(t, e, group)
			if err := stop(); err != nil {
				t.Fatalf("Run returned %v, want nil after a graceful stop", err)
			}
			if mode == processor.ExactlyOnce && dups != 0 {
				t.Errorf("exactly-once: %d duplicates, want 0", dups)
			}
			if got := testutil.ToFloat64(e.metrics.PredictionsProduced.WithLabelValues(e.out)); got < float64(valid) {
				t.Errorf("predictions_produced_total = %v, want >= %d", got, valid)
			}
			if got := testutil.ToFloat64(e.metrics.CommitFailures); got != 0 {
				t.Errorf("commit_failures_total = %v, want 0 (one instance, a healthy broker, a graceful stop)", got)
			}
			// every documented stage emits its duration (docs/operations.md, dashboard)
			for _, stage := range []string{"decode", "features", "encode", "produce_ack"} {
				if n := histogramCount(t, e.metrics.StageDuration, stage); n == 0 {
					t.Errorf("stage_duration_seconds{stage=%q} has no observations", stage)
				}
			}
			t.Logf("%s: %d valid, poison %v, %d duplicates", mode, valid, poison, dups)
		})
	}
}

// TestTransactionalInputLeavesNoLag: input written by a transactional
// producer (two committed transactions and an aborted one) is scored once
// per committed record, and the group commits the offsets past the
// transaction markers too, so consumer_lag_records reaches 0 on the idle
// partition. Before, the last marker kept a lag of 1 for good; markers and
// aborted records are not counted as consumed.
func TestTransactionalInputLeavesNoLag(t *testing.T) {
	for _, mode := range []string{processor.AtLeastOnce, processor.ExactlyOnce} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, 1)
			g := gen.NewFraud(21, 300)
			batch := func(n int) []*kgo.Record {
				recs := make([]*kgo.Record, n)
				for i := range recs {
					k, v := g.Next(nil, time.Now())
					recs[i] = &kgo.Record{Topic: e.in, Key: k, Value: v}
				}
				return recs
			}
			kafkatest.ProduceRecords(t, e.brokers, batch(5), kafkatest.Transactional(true))
			kafkatest.ProduceRecords(t, e.brokers, batch(4), kafkatest.Transactional(false))
			kafkatest.ProduceRecords(t, e.brokers, batch(3), kafkatest.Transactional(true))
			group := kafkatest.UniqueName(t, "g")
			_, stop := e.start(t, e.config(mode, group))
			checkOutputs(t, e, 8, nil, mode == processor.ExactlyOnce)
			waitCommitted(t, e, group) // the end offsets are past the last marker
			proctest.Eventually(t, 30*time.Second, "consumer lag 0", func() error {
				if lag := testutil.ToFloat64(e.metrics.ConsumerLag.WithLabelValues(e.in, "0")); lag != 0 {
					return fmt.Errorf("consumer_lag_records = %v, want 0", lag)
				}
				return nil
			})
			if err := stop(); err != nil {
				t.Fatalf("Run returned %v, want nil", err)
			}
			if got := testutil.ToFloat64(e.metrics.RecordsConsumed.WithLabelValues(e.in)); got != 8 {
				t.Errorf("records_consumed_total = %v, want 8 (the committed records; no marker, no aborted record)", got)
			}
		})
	}
}

// TestLastProcessedPerPartition: last_processed_timestamp_seconds is the
// timestamp of the last record processed in each partition, so a partition
// whose producer stamps its records in 2001 does not hide one stamping
// them now, whichever batch finished last; the series of a partition go
// when it is revoked.
func TestLastProcessedPerPartition(t *testing.T) {
	stamps := map[int32]time.Time{
		0: time.Now().Truncate(time.Millisecond),
		1: time.UnixMilli(1000000000000), // 2001-09-09
	}
	for _, mode := range []string{processor.AtLeastOnce, processor.ExactlyOnce} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, 2)
			g := gen.NewFraud(7, 50)
			var recs []*kgo.Record
			for i := 0; i < 40; i++ {
				part := int32(i % 2)
				k, v := g.Next(nil, stamps[part])
				recs = append(recs, &kgo.Record{Topic: e.in, Partition: part, Key: k, Value: v, Timestamp: stamps[part]})
			}
			kafkatest.ProduceRecords(t, e.brokers, recs, kafkatest.WithProducerOpts(kgo.RecordPartitioner(kgo.ManualPartitioner())))
			group := kafkatest.UniqueName(t, "g")
			_, stop := e.start(t, e.config(mode, group))
			waitCommitted(t, e, group)
			proctest.Eventually(t, 10*time.Second, "each partition's last record timestamp", func() error {
				for part, ts := range stamps {
					g := e.metrics.LastProcessed.WithLabelValues(e.in, strconv.Itoa(int(part)))
					if got, want := testutil.ToFloat64(g), float64(ts.UnixMilli())/1e3; got != want {
						return fmt.Errorf("partition %d: last_processed_timestamp_seconds %v, want %v", part, got, want)
					}
				}
				return nil
			})
			if err := stop(); err != nil {
				t.Fatalf("Run returned %v, want nil after a graceful stop", err)
			}
			if n := testutil.CollectAndCount(e.metrics.LastProcessed); n != 0 {
				t.Errorf("%d last_processed series after the processor left the group, want 0", n)
			}
		})
	}
}

func TestMissingTopicIsAClearError(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config(processor.AtLeastOnce, "g")
	cfg.OutputTopic = kafkatest.UniqueName(t, "does-not-exist")
	_, err := processor.New(context.Background(), cfg, processor.KafkaConfig{Brokers: strings.Join(e.brokers, ",")},
		e.pipeline(), e.metrics, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), cfg.OutputTopic) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("got %v, want an error naming the missing topic", err)
	}
}

// TestHandOverBetweenInstances runs two instances in one group, stops one
// mid-stream, and checks nothing is lost: its partitions move to the other.
func TestHandOverBetweenInstances(t *testing.T) {
	e := newEnv(t, 4)
	group := kafkatest.UniqueName(t, "g")
	valid, poison := produceInputs(t, e, 800, 1)
	_, stopA := e.start(t, e.config(processor.AtLeastOnce, group))
	_, stopB := e.start(t, e.config(processor.AtLeastOnce, group))
	if err := stopA(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("instance A: %v", err)
	}
	v2, p2 := produceInputs(t, e, 800, 2)
	for k, c := range p2 {
		poison[k] += c
	}
	checkOutputs(t, e, valid+v2, poison, false)
	waitCommitted(t, e, group)
	if err := stopB(); err != nil {
		t.Fatalf("instance B: %v", err)
	}
}

// histogramCount is the number of observations of vec's series for label.
func histogramCount(t *testing.T, vec *prometheus.HistogramVec, label string) uint64 {
	t.Helper()
	var m dto.Metric
	if err := vec.WithLabelValues(label).(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}
