package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultTimeout is how long ConsumeN and ConsumeAll wait for their records
// unless Timeout says otherwise. It is a deadline for a condition, not a
// measurement: on a healthy broker they return as soon as the records are in.
const DefaultTimeout = 60 * time.Second

// ProduceOption changes how Produce writes records.
type ProduceOption func(*produceConfig)

type produceConfig struct {
	gen        func(i int) *kgo.Record
	txn        bool
	commit     bool
	clientOpts []kgo.Opt
}

// Transactional writes all records in one transaction that is committed
// (commit true) or aborted (commit false) at the end.
func Transactional(commit bool) ProduceOption {
	return func(c *produceConfig) { c.txn, c.commit = true, commit }
}

// WithRecords makes record i with gen instead of the default
// key "key-000042" / value "value-000042". Topic is filled in when empty.
func WithRecords(gen func(i int) *kgo.Record) ProduceOption {
	return func(c *produceConfig) { c.gen = gen }
}

// WithProducerOpts adds franz-go client options (e.g. kgo.RecordPartitioner).
func WithProducerOpts(opts ...kgo.Opt) ProduceOption {
	return func(c *produceConfig) { c.clientOpts = append(c.clientOpts, opts...) }
}

// DefaultRecord is the record Produce writes as number i when WithRecords is not given.
func DefaultRecord(i int) *kgo.Record {
	return &kgo.Record{
		Key:   fmt.Appendf(nil, "key-%06d", i),
		Value: fmt.Appendf(nil, "value-%06d", i),
	}
}

// Produce writes n records to topic, waits until the broker acknowledged all
// of them (and, with Transactional, until the transaction ended) and returns
// them with partition and offset filled in.
func Produce(t testing.TB, brokers []string, topic string, n int, opts ...ProduceOption) []*kgo.Record {
	t.Helper()
	cfg := produceConfig{gen: DefaultRecord}
	for _, o := range opts {
		o(&cfg)
	}
	recs := make([]*kgo.Record, n)
	for i := range recs {
		r := cfg.gen(i)
		if r.Topic == "" {
			r.Topic = topic
		}
		recs[i] = r
	}
	if err := produce(brokers, recs, cfg, UniqueName(t, "txn")); err != nil {
		t.Fatalf("kafkatest: produce %d records to %s: %v", n, topic, err)
	}
	return recs
}

// ProduceRecords writes the given records (Topic must be set) like Produce.
func ProduceRecords(t testing.TB, brokers []string, recs []*kgo.Record, opts ...ProduceOption) {
	t.Helper()
	cfg := produceConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	if err := produce(brokers, recs, cfg, UniqueName(t, "txn")); err != nil {
		t.Fatalf("kafkatest: produce %d records: %v", len(recs), err)
	}
}

func produce(brokers []string, recs []*kgo.Record, cfg produceConfig, txnID string) error {
	opts := helperOpts(brokers)
	if cfg.txn {
		opts = append(opts, kgo.TransactionalID(txnID))
	}
	opts = append(opts, cfg.clientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	if cfg.txn {
		if err := cl.BeginTransaction(); err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		if cfg.txn {
			_ = cl.EndTransaction(ctx, kgo.TryAbort)
		}
		return err
	}
	if cfg.txn {
		end := kgo.TryAbort
		if cfg.commit {
			end = kgo.TryCommit
		}
		if err := cl.EndTransaction(ctx, end); err != nil {
			return fmt.Errorf("end transaction (commit=%v): %w", cfg.commit, err)
		}
	}
	return nil
}

// ConsumeOption changes how ConsumeN and ConsumeAll read.
type ConsumeOption func(*consumeConfig)

type consumeConfig struct {
	readCommitted bool
	timeout       time.Duration
	clientOpts    []kgo.Opt
}

// ReadCommitted reads with isolation level read_committed: records of aborted
// transactions are skipped, and ConsumeAll reads up to the last stable offset.
func ReadCommitted() ConsumeOption {
	return func(c *consumeConfig) { c.readCommitted = true }
}

// Timeout sets the deadline for the wanted records (default DefaultTimeout).
func Timeout(d time.Duration) ConsumeOption {
	return func(c *consumeConfig) { c.timeout = d }
}

// WithConsumerOpts adds franz-go client options to the reading client.
func WithConsumerOpts(opts ...kgo.Opt) ConsumeOption {
	return func(c *consumeConfig) { c.clientOpts = append(c.clientOpts, opts...) }
}

// ConsumeN reads topic from the start (all partitions, no consumer group)
// until it has at least n records, and returns every record it read (one
// poll may bring more than n). The test fails if n records do not arrive
// before the deadline.
func ConsumeN(t testing.TB, brokers []string, topic string, n int, opts ...ConsumeOption) []*kgo.Record {
	t.Helper()
	cfg := consumeConfig{timeout: DefaultTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	var recs []*kgo.Record
	err := consume(brokers, topic, cfg, func(r *kgo.Record) { recs = append(recs, r) }, func(map[int32]int64) bool {
		return len(recs) >= n
	})
	if err != nil {
		t.Fatalf("kafkatest: consume %d records from %s: got %d: %v", n, topic, len(recs), err)
	}
	return recs
}

// ConsumeAll reads every record of topic: it takes the end offsets (high
// watermarks; last stable offsets with ReadCommitted) when called and reads
// all partitions from the start up to them. Records at or past those end
// offsets (produced after the call) and transaction markers are not
// returned. The test fails if the end is not reached before the deadline.
func ConsumeAll(t testing.TB, brokers []string, topic string, opts ...ConsumeOption) []*kgo.Record {
	t.Helper()
	var recs []*kgo.Record
	EachRecord(t, brokers, topic, func(r *kgo.Record) { recs = append(recs, r) }, opts...)
	return recs
}

// EachRecord reads the records ConsumeAll returns and hands them to fn, in
// order within each partition, instead of keeping them: for topics too large
// to hold in memory.
func EachRecord(t testing.TB, brokers []string, topic string, fn func(*kgo.Record), opts ...ConsumeOption) {
	t.Helper()
	cfg := consumeConfig{timeout: DefaultTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	ends, err := listOffsets(brokers, topic, endKind(cfg.readCommitted))
	if err != nil {
		t.Fatalf("kafkatest: end offsets of %s: %v", topic, err)
	}
	starts, err := listOffsets(brokers, topic, logStart)
	if err != nil {
		t.Fatalf("kafkatest: start offsets of %s: %v", topic, err)
	}
	n := 0
	below := func(r *kgo.Record) {
		if r.Offset < ends[r.Partition] {
			n++
			fn(r)
		}
	}
	done := func(pos map[int32]int64) bool {
		for p, end := range ends {
			at, ok := pos[p]
			if !ok {
				at = starts[p]
			}
			if at < end {
				return false
			}
		}
		return true
	}
	if err := consume(brokers, topic, cfg, below, done); err != nil {
		t.Fatalf("kafkatest: consume all of %s up to end offsets %v: got %d records: %v", topic, ends, n, err)
	}
}

// consume reads all partitions of topic from the start and hands each
// record to fn until done says so. pos holds, per partition, the offset
// after the last record or transaction marker seen (markers are kept from
// the client so that pos can pass them, then not handed to fn).
func consume(brokers []string, topic string, cfg consumeConfig, fn func(*kgo.Record), done func(pos map[int32]int64) bool) error {
	pos := make(map[int32]int64)
	if done(pos) {
		return nil
	}
	opts := append(helperOpts(brokers),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.KeepControlRecords(),
	)
	if cfg.readCommitted {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	opts = append(opts, cfg.clientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	var errs []string
	for {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				errs = append(errs, fmt.Sprintf("partition %d: %v", p, err))
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			pos[r.Partition] = r.Offset + 1
			if !r.Attrs.IsControl() {
				fn(r)
			}
		})
		if done(pos) {
			return nil
		}
		if ctx.Err() != nil {
			msg := fmt.Sprintf("deadline %s passed at positions %v", cfg.timeout, pos)
			if len(errs) > 0 {
				msg += "; fetch errors: " + strings.Join(lastN(errs, 5), "; ")
			}
			return errors.New(msg)
		}
	}
}

func lastN(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// EndOffsets returns the end offset of every partition of topic: the high
// watermark, or with readCommitted the last stable offset.
func EndOffsets(t testing.TB, brokers []string, topic string, readCommitted bool) map[int32]int64 {
	t.Helper()
	offs, err := listOffsets(brokers, topic, endKind(readCommitted))
	if err != nil {
		t.Fatalf("kafkatest: end offsets of %s: %v", topic, err)
	}
	return offs
}

type offsetKind int

const (
	logStart      offsetKind = iota // first offset still in the log
	highWatermark                   // end for read_uncommitted readers
	lastStable                      // end for read_committed readers
)

func endKind(readCommitted bool) offsetKind {
	if readCommitted {
		return lastStable
	}
	return highWatermark
}

// listOffsets lists one kind of offset for every partition of topic.
func listOffsets(brokers []string, topic string, kind offsetKind) (map[int32]int64, error) {
	cl, err := kgo.NewClient(helperOpts(brokers)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var listed kadm.ListedOffsets
	switch kind {
	case logStart:
		listed, err = adm.ListStartOffsets(ctx, topic)
	case lastStable:
		listed, err = adm.ListCommittedOffsets(ctx, topic)
	default:
		listed, err = adm.ListEndOffsets(ctx, topic)
	}
	if err != nil {
		return nil, err
	}
	if err := listed.Error(); err != nil {
		return nil, err
	}
	ps, ok := listed[topic]
	if !ok || len(ps) == 0 {
		return nil, fmt.Errorf("topic %s not found", topic)
	}
	out := make(map[int32]int64, len(ps))
	for p, o := range ps {
		out[p] = o.Offset
	}
	return out, nil
}

// GroupOffsets returns the offsets that consumer group has committed for
// topic, by partition (partitions without a commit are absent).
func GroupOffsets(t testing.TB, brokers []string, group, topic string) map[int32]int64 {
	t.Helper()
	adm := newAdmin(t, brokers)
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var resp kadm.OffsetResponses
	var err error
	for attempt := 1; ; attempt++ {
		resp, err = adm.FetchOffsets(ctx, group)
		if err == nil {
			err = resp.Error()
		}
		// The first group request on a fresh broker creates __consumer_offsets;
		// until it has a leader the coordinator is "not available" (retriable).
		if err == nil || !kerr.IsRetriable(err) || wait(ctx, attempt) != nil {
			break
		}
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		// kfake says so for a group that never committed; Kafka answers with no offsets.
		return map[int32]int64{}
	}
	if err != nil {
		t.Fatalf("kafkatest: fetch offsets of group %s: %v", group, err)
	}
	out := make(map[int32]int64)
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.At >= 0 {
			out[o.Partition] = o.At
		}
	})
	return out
}

// Values returns the record values as strings, sorted, for order-independent comparisons.
func Values(recs []*kgo.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	sort.Strings(out)
	return out
}

// Header is the value of r's first header named key, "" when it has none.
func Header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
