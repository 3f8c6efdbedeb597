package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type topicPartition struct {
	topic     string
	partition int32
}

// engine is one delivery mode: it owns the consuming client, the group
// callbacks and how offsets are committed. The Processor owns what both modes
// share (topics, limits, lag, readiness, stats, metrics, the fatal error).
type engine interface {
	// run polls and processes until ctx ends (nil) or the mode cannot go
	// on (the error).
	run(ctx context.Context) error
	// close is called once, after run returned: it lets in-flight outputs
	// finish (until the processor's produce context ends), commits what it
	// may and closes the client.
	close()
	// client is the current consuming client, for lag and in-flight metrics.
	client() *kgo.Client
}

// Processor consumes the input topic in a consumer group and produces a
// prediction (or a DLQ copy) per record. Build it with New, then Run it
// once; Ready and Stats are safe to call from other goroutines.
type Processor struct {
	cfg  Config
	kcfg KafkaConfig
	pipe *Pipeline
	m    *Metrics
	log  *slog.Logger
	eng  engine // atLeastOnce or exactlyOnce

	// produceCtx outlives Run's ctx so in-flight batches can finish during a
	// graceful stop; it is cancelled only when the shutdown timeout expires.
	produceCtx    context.Context
	cancelProduce context.CancelFunc

	mu    sync.Mutex // guards owned
	owned map[topicPartition]bool

	produced prometheus.Counter // predictions_produced_total for the output topic
	latency  LatencyRecorder
	stats    struct{ consumed, produced, dlq atomic.Uint64 }
	joined   atomic.Bool  // in the group with a generation, as of the last lag refresh
	lastOK   atomic.Int64 // unix nanos of the last successful lag refresh (broker reachable)
	stopped  atomic.Bool
	fatalErr chan error
	lag      atomic.Int64 // total lag of owned partitions, for the demo summary
	// inputID is the input topic's id as checkTopics found (or created) it,
	// zero when the broker reports none: a different id later means the
	// topic was re-created (fetcherrors.go). Written before Run only.
	inputID kadm.TopicID
}

// New builds the Kafka client for the configured delivery mode and checks
// the topics. It does not join the group yet: Run does.
// Extra client options (hooks such as kprom) are appended to the client's.
func New(ctx context.Context, cfg Config, kcfg KafkaConfig, pipe *Pipeline, m *Metrics, log *slog.Logger, extra ...kgo.Opt) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pipe.OutputTopic, pipe.DLQTopic = cfg.OutputTopic, cfg.DLQTopic
	if t := pipe.ShadowTopic; t != "" && (t == cfg.InputTopic || t == cfg.OutputTopic || t == cfg.DLQTopic) {
		return nil, fmt.Errorf("model.shadow_topic %q: must differ from input.topic, output.topic and dlq.topic", t)
	}
	if err := pipe.init(m, log, cfg.Drift.Window); err != nil {
		return nil, err
	}
	produced := m.PredictionsProduced.WithLabelValues(cfg.OutputTopic)
	p := &Processor{cfg: cfg, kcfg: kcfg, pipe: pipe, m: m, log: log,
		owned: make(map[topicPartition]bool), fatalErr: make(chan error, 1), produced: produced}
	p.produceCtx, p.cancelProduce = context.WithCancel(context.Background())

	// A bootstrap client checks (or creates) the topics and reads their size
	// limits first: the real client's producer batch limit depends on them.
	bootOpts, err := ClientOpts(kcfg)
	if err != nil {
		return nil, err
	}
	boot, err := kgo.NewClient(bootOpts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer boot.Close()
	bootAdm := kadm.NewClient(boot)
	if err := p.checkTopics(ctx, bootAdm); err != nil {
		return nil, err
	}
	batchMax, err := p.batchLimits(ctx, bootAdm)
	if err != nil {
		return nil, err
	}
	pipe.dlqMax = batchMax(cfg.DLQTopic)
	opts, err := p.clientOpts(batchMax)
	if err != nil {
		return nil, err
	}
	if pipe.ShadowTopic != "" {
		// The shadow's own producer: no group, no transactional id, its
		// own buffer (shadow.go).
		sopts, err := ClientOpts(kcfg)
		if err != nil {
			return nil, err
		}
		codec, _ := compressionCodec(cfg.Compression) // checked by clientOpts
		sopts = append(sopts, kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(cfg.Linger),
			kgo.ProducerBatchMaxBytesFn(batchMax), kgo.BrokerMaxWriteBytes(int32(cfg.MaxRecordBytes)*2+1<<20))
		if pipe.shadow, err = newShadowSink(sopts, pipe.ShadowTopic, m, log); err != nil {
			return nil, err
		}
	}
	opts = append(opts, extra...)
	if cfg.Delivery == ExactlyOnce {
		p.eng, err = newExactlyOnce(ctx, p, opts)
	} else {
		p.eng, err = newAtLeastOnce(p, opts)
	}
	if err != nil {
		if pipe.shadow != nil {
			pipe.shadow.cl.Close()
		}
		return nil, err
	}
	return p, nil
}

// topics are the topics the processor reads and writes.
func (p *Processor) topics() []string {
	c := p.cfg
	ts := []string{c.InputTopic, c.OutputTopic, c.DLQTopic}
	if p.pipe.ShadowTopic != "" {
		ts = append(ts, p.pipe.ShadowTopic)
	}
	return ts
}

// own and disown keep the set of owned partitions (for the lag metric);
// both engines call them from their group callbacks.
func (p *Processor) own(assigned map[string][]int32) {
	p.mu.Lock()
	for topic, parts := range assigned {
		for _, part := range parts {
			p.owned[topicPartition{topic, part}] = true
		}
	}
	p.m.AssignedPartitions.Set(float64(len(p.owned)))
	p.mu.Unlock()
	p.log.Info("partitions assigned", "partitions", fmt.Sprint(assigned))
}

func (p *Processor) disown(parts map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for topic, ps := range parts {
		for _, part := range ps {
			delete(p.owned, topicPartition{topic, part})
			p.m.ConsumerLag.DeleteLabelValues(topic, strconv.Itoa(int(part)))
			p.m.LastProcessed.DeleteLabelValues(topic, strconv.Itoa(int(part)))
		}
	}
	p.m.AssignedPartitions.Set(float64(len(p.owned)))
}

// lastProcessed sets last_processed_timestamp_seconds of r's partition to
// r's timestamp: r is the last record of a batch whose outputs the broker
// took, so the highest offset of its partition processed so far. Per
// partition, because one partition's producers (or clocks) say nothing of
// another's, and a maximum would stay pinned by one future timestamp.
func (p *Processor) lastProcessed(r *kgo.Record) {
	p.m.LastProcessed.WithLabelValues(r.Topic, strconv.Itoa(int(r.Partition))).Set(float64(r.Timestamp.UnixMilli()) / 1e3)
}

// batchLimits gives the producer's batch size limit per topic: no larger
// than what the topic accepts (max.message.bytes), so a batch of several
// large DLQ copies is split instead of refused. It fails when the DLQ
// accepts less than the input topic, since an input record that fits one
// could then never be dead-lettered.
func (p *Processor) batchLimits(ctx context.Context, adm *kadm.Client) (func(string) int32, error) {
	c := p.cfg
	def := int32(c.MaxRecordBytes) + 4096
	limits := map[string]int32{}
	rcs, err := adm.DescribeTopicConfigs(ctx, p.topics()...)
	if err != nil {
		p.log.Warn("cannot read topic size limits; using processor.max_record_bytes", "err", err)
	}
	for _, rc := range rcs {
		for _, cfg := range rc.Configs {
			if cfg.Key == "max.message.bytes" && cfg.Value != nil {
				if v, err := strconv.ParseInt(*cfg.Value, 10, 32); err == nil && v > 0 {
					limits[rc.Name] = min(int32(v), def)
				}
			}
		}
	}
	in, dlq := limits[c.InputTopic], limits[c.DLQTopic]
	if in > 0 && dlq > 0 && dlq < in {
		return nil, fmt.Errorf("dlq.topic %q accepts records up to %d bytes (max.message.bytes, capped by processor.max_record_bytes) "+
			"but input.topic %q up to %d: a large input could never be dead-lettered; raise the DLQ topic's max.message.bytes",
			c.DLQTopic, dlq, c.InputTopic, in)
	}
	if in > 0 && dlq > 0 && dlq < in+DLQHeadroom {
		p.log.Warn("dlq.topic's size limit leaves no room for the DLQ headers above input.topic's: an input record that nearly fills its limit is dead-lettered without its value (header streamscore-dlq-omitted); raise the DLQ topic's max.message.bytes",
			"dlq_topic", c.DLQTopic, "dlq_limit", dlq, "input_topic", c.InputTopic, "input_limit", in, "want_at_least", in+DLQHeadroom)
	}
	return func(topic string) int32 {
		if v, ok := limits[topic]; ok {
			return v
		}
		return def
	}, nil
}

// DLQHeadroom is what the DLQ topic should accept beyond the input topic's
// limit (max.message.bytes): the reason headers a DLQ copy adds to the
// original. processor.create_topics gives it; docs/operations.md asks for it.
const DLQHeadroom = 4096

// clientOpts are the options both delivery modes use; each engine adds its
// own (commit mode, group callbacks, transactional id).
func (p *Processor) clientOpts(batchMax func(string) int32) ([]kgo.Opt, error) {
	c := p.cfg
	opts, err := ClientOpts(p.kcfg)
	if err != nil {
		return nil, err
	}
	tput, err := ThroughputOpts(c)
	if err != nil {
		return nil, err
	}
	opts = append(append(opts, tput...),
		kgo.ConsumerGroup(c.Group),
		kgo.ConsumeTopics(c.InputTopic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(c.SessionTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), // their offsets are committed (dataRecords)
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.DefaultProduceTopic(c.OutputTopic),
		kgo.ProducerBatchMaxBytesFn(batchMax),
		// A produce refused with CONCURRENT_TRANSACTIONS or a moved leader
		// waits for a metadata refresh: keep that wait short (default 5s).
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.BrokerMaxWriteBytes(int32(c.MaxRecordBytes)*2+1<<20),
	)
	if c.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(c.InstanceID))
	}
	return opts, nil
}

// ThroughputOpts are the client options of batching, compression and the
// buffers the memory budget sizes. bench's passthrough uses them too, so its
// baseline runs with the service's settings.
func ThroughputOpts(c Config) ([]kgo.Opt, error) {
	codec, err := compressionCodec(c.Compression)
	if err != nil {
		return nil, err
	}
	mem := c.Memory(GoMemLimit())
	return []kgo.Opt{
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(c.Linger),
		kgo.MaxBufferedRecords(c.MaxInflightRecords),
		kgo.MaxBufferedBytes(int(mem.InflightBytes)),
		kgo.FetchMaxBytes(mem.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(mem.FetchMaxPartitionBytes),
	}, nil
}

// checkTopics fails fast on a missing topic, unless creation is configured.
func (p *Processor) checkTopics(ctx context.Context, adm *kadm.Client) error {
	c := p.cfg
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var topics kadm.TopicDetails
	// A topic created a moment ago may not be in every broker's metadata
	// yet: look a few times before calling it missing.
	for attempt := 0; ; attempt++ {
		var err error
		topics, err = adm.ListTopics(ctx, p.topics()...)
		if err != nil {
			return fmt.Errorf("kafka %s unreachable: %w", p.kcfg.Brokers, err)
		}
		missing := false
		for _, t := range p.topics() {
			missing = missing || !topics.Has(t) || topics[t].Err != nil
		}
		if !missing || c.CreateTopics || attempt == 20 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka %s: listing topics: %w", p.kcfg.Brokers, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	if d, ok := topics[c.InputTopic]; ok && d.Err == nil {
		p.inputID = d.ID
	}
	for _, t := range p.topics() {
		if topics.Has(t) && topics[t].Err == nil {
			continue
		}
		if !c.CreateTopics {
			if topics.Has(t) {
				return fmt.Errorf("topic %q: %w", t, topics[t].Err)
			}
			return fmt.Errorf("topic %q does not exist: create it, or set processor.create_topics: true", t)
		}
		maxBytes := strconv.Itoa(c.MaxRecordBytes + 4096)
		if t == c.DLQTopic {
			maxBytes = strconv.Itoa(c.MaxRecordBytes + 4096 + DLQHeadroom) // room for the reason headers
		}
		resp, err := adm.CreateTopic(ctx, c.TopicPartitions, -1, map[string]*string{"max.message.bytes": &maxBytes}, t)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %q: %w", t, err)
		}
		if t == c.InputTopic && err == nil {
			p.inputID = resp.ID
		}
		p.log.Info("created topic", "topic", t, "partitions", c.TopicPartitions)
	}
	return nil
}

// Ready reports whether the processor joined its group and reached the broker.
// One slow or failed refresh does not flip it: the broker must have been
// unreachable for three refresh intervals.
func (p *Processor) Ready() bool {
	last := time.Unix(0, p.lastOK.Load())
	return !p.stopped.Load() && p.joined.Load() && time.Since(last) < 3*p.cfg.LagRefresh
}

// Stats are running totals since start, for the demo and bench summaries.
type Stats struct {
	Consumed, Produced, DLQ uint64
	Lag                     int64
	Latency                 LatencySnapshot
}

// Stats returns the running totals.
func (p *Processor) Stats() Stats {
	return Stats{Consumed: p.stats.consumed.Load(), Produced: p.stats.produced.Load(),
		DLQ: p.stats.dlq.Load(), Lag: p.lag.Load(), Latency: p.latency.Snapshot()}
}

// Lag is the last measured lag of the partitions this instance owns.
func (p *Processor) Lag() int64 { return p.lag.Load() }

// fail records the first fatal error; Run returns it.
func (p *Processor) fail(err error) {
	select {
	case p.fatalErr <- err:
	default:
	}
}

// Run consumes until ctx is cancelled or a fatal error happens, then stops
// gracefully within the shutdown timeout: in-flight batches finish, offsets
// (or the open transaction) are committed, and the group is left.
func (p *Processor) Run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); p.lagLoop(runCtx) }()

	loopErr := make(chan error, 1)
	go func() { loopErr <- p.eng.run(runCtx) }()

	var err error
	select {
	case err = <-loopErr:
		cancel()
	case err = <-p.fatalErr:
		// Nothing more will be acknowledged for sure: do not wait the
		// shutdown timeout for it, commit what was acknowledged and go.
		p.cancelProduce()
		cancel()
		<-loopErr
	}
	stopTimer := time.AfterFunc(p.cfg.ShutdownTimeout, p.cancelProduce)
	defer stopTimer.Stop()
	p.eng.close()
	if p.pipe.shadow != nil {
		p.pipe.shadow.close(p.produceCtx)
	}
	p.cancelProduce()
	wg.Wait()
	p.stopped.Store(true)
	select {
	case ferr := <-p.fatalErr:
		if err == nil {
			err = ferr
		}
	default:
	}
	return err
}

// observeAck counts one output the broker acknowledged (at-least-once) or
// that a committed transaction holds (exactly-once).
func (p *Processor) observeAck(o output, now time.Time) {
	if o.dlq {
		p.m.DLQRecords.WithLabelValues(string(o.reason), string(o.stage)).Inc()
		p.stats.dlq.Add(1)
	} else {
		p.produced.Inc()
		p.stats.produced.Add(1)
		o.preds.Count(o.score, o.label)
	}
	lat := now.Sub(o.src.Timestamp)
	p.m.EndToEndLatency.Observe(lat.Seconds())
	p.latency.Observe(lat)
}

// lagLoop refreshes consumer lag, readiness and the drift gauges every LagRefresh.
func (p *Processor) lagLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.LagRefresh)
	defer t.Stop()
	for {
		p.refreshLag(ctx)
		p.m.InflightRecords.Set(float64(p.eng.client().BufferedProduceRecords()))
		p.pipe.refreshDrift(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Processor) refreshLag(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.LagRefresh)
	defer cancel()
	cl := p.eng.client()
	lags, err := kadm.NewClient(cl).Lag(ctx, p.cfg.Group)
	if err != nil {
		p.log.Warn("consumer lag refresh failed", "err", err)
		return
	}
	gl, ok := lags[p.cfg.Group]
	if !ok || gl.Error() != nil {
		if errors.Is(gl.Error(), kerr.GroupIDNotFound) {
			p.log.Debug("group not created yet; lag unknown", "group", p.cfg.Group)
		} else {
			p.log.Warn("consumer lag refresh failed", "err", gl.Error())
		}
		return
	}
	p.lastOK.Store(time.Now().UnixNano())
	_, gen := cl.GroupMetadata()
	p.joined.Store(gen > 0)
	p.mu.Lock()
	defer p.mu.Unlock()
	var total int64
	for topic, parts := range gl.Lag {
		for part, l := range parts {
			if !p.owned[topicPartition{topic, part}] || l.Err != nil {
				continue
			}
			total += l.Lag
			p.m.ConsumerLag.WithLabelValues(topic, strconv.Itoa(int(part))).Set(float64(l.Lag))
		}
	}
	p.lag.Store(total)
}
