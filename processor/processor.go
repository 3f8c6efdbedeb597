package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
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

// Processor consumes the input topic in a consumer group and produces a
// prediction (or a DLQ copy) per record. Build it with New, then Run it
// once; Ready and Stats are safe to call from other goroutines.
type Processor struct {
	cfg  Config
	kcfg KafkaConfig
	pipe *Pipeline
	m    *Metrics
	log  *slog.Logger

	cl   *kgo.Client
	sess *kgo.GroupTransactSession // exactly-once only
	adm  *kadm.Client

	// produceCtx outlives Run's ctx so in-flight batches can finish during a
	// graceful stop; it is cancelled only when the shutdown timeout expires.
	produceCtx    context.Context
	cancelProduce context.CancelFunc

	mu      sync.Mutex                          // guards workers and owned
	workers map[topicPartition]*partitionWorker // at-least-once only
	owned   map[topicPartition]bool

	produced prometheus.Counter // predictions_produced_total for the output topic
	latency  LatencyRecorder
	stats    struct{ consumed, produced, dlq atomic.Uint64 }
	joined   atomic.Bool  // in the group with a generation, as of the last lag refresh
	lastOK   atomic.Int64 // unix nanos of the last successful lag refresh (broker reachable)
	stopped  atomic.Bool
	fatalErr chan error
	lag      atomic.Int64 // total lag of owned partitions, for the demo summary
}

// New builds the Kafka client for the configured delivery mode and checks
// the topics. It does not join the group yet: Run does.
// Extra client options (hooks such as kprom) are appended to the client's.
func New(ctx context.Context, cfg Config, kcfg KafkaConfig, pipe *Pipeline, m *Metrics, log *slog.Logger, extra ...kgo.Opt) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pipe.init(m, log)
	pipe.OutputTopic, pipe.DLQTopic = cfg.OutputTopic, cfg.DLQTopic
	produced := m.PredictionsProduced.WithLabelValues(cfg.OutputTopic)
	p := &Processor{cfg: cfg, kcfg: kcfg, pipe: pipe, m: m, log: log,
		workers: make(map[topicPartition]*partitionWorker), owned: make(map[topicPartition]bool), fatalErr: make(chan error, 1), produced: produced}
	p.produceCtx, p.cancelProduce = context.WithCancel(context.Background())

	opts, err := p.clientOpts()
	if err != nil {
		return nil, err
	}
	opts = append(opts, extra...)
	if cfg.Delivery == ExactlyOnce {
		p.sess, err = kgo.NewGroupTransactSession(opts...)
		if err == nil {
			p.cl = p.sess.Client()
		}
	} else {
		p.cl, err = kgo.NewClient(opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	p.adm = kadm.NewClient(p.cl)
	if err := p.checkTopics(ctx); err != nil {
		p.cl.Close()
		return nil, err
	}
	return p, nil
}

func (p *Processor) clientOpts() ([]kgo.Opt, error) {
	c := p.cfg
	codec, err := compressionCodec(c.Compression)
	if err != nil {
		return nil, err
	}
	opts, err := ClientOpts(p.kcfg)
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.ConsumerGroup(c.Group),
		kgo.ConsumeTopics(c.InputTopic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(c.SessionTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.OnPartitionsAssigned(p.assigned),
		kgo.OnPartitionsRevoked(p.revoked),
		kgo.OnPartitionsLost(p.lost),
		kgo.DefaultProduceTopic(c.OutputTopic),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(c.Linger),
		kgo.MaxBufferedRecords(c.MaxInflightRecords),
		kgo.MaxBufferedBytes(c.MaxInflightBytes),
		kgo.ProducerBatchMaxBytes(int32(c.MaxRecordBytes)+4096),
		kgo.BrokerMaxWriteBytes(int32(c.MaxRecordBytes)*2+1<<20),
		kgo.FetchMaxPartitionBytes(int32(max(c.MaxRecordBytes, 1<<20))),
	)
	if c.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(c.InstanceID))
	}
	if c.Delivery == ExactlyOnce {
		opts = append(opts,
			kgo.TransactionalID(p.transactionalID()),
			kgo.TransactionTimeout(c.TransactionTimeout),
			kgo.RequireStableFetchOffsets(),
		)
	}
	return opts, nil
}

// transactionalID must be unique per live instance; a stable one (from the
// static member id) lets a restarted instance fence its dead predecessor at
// once instead of waiting for the transaction timeout.
func (p *Processor) transactionalID() string {
	if p.cfg.InstanceID != "" {
		return p.cfg.Group + "-" + p.cfg.InstanceID
	}
	host, _ := os.Hostname()
	return p.cfg.Group + "-" + host + "-" + strconv.Itoa(os.Getpid())
}

// checkTopics fails fast on a missing topic, unless creation is configured.
func (p *Processor) checkTopics(ctx context.Context) error {
	c := p.cfg
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var topics kadm.TopicDetails
	// A topic created a moment ago may not be in every broker's metadata
	// yet: look a few times before calling it missing.
	for attempt := 0; ; attempt++ {
		var err error
		topics, err = p.adm.ListTopics(ctx, c.InputTopic, c.OutputTopic, c.DLQTopic)
		if err != nil {
			return fmt.Errorf("kafka %s unreachable: %w", p.kcfg.Brokers, err)
		}
		missing := false
		for _, t := range []string{c.InputTopic, c.OutputTopic, c.DLQTopic} {
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
	for _, t := range []string{c.InputTopic, c.OutputTopic, c.DLQTopic} {
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
		resp, err := p.adm.CreateTopic(ctx, c.TopicPartitions, -1, map[string]*string{"max.message.bytes": &maxBytes}, t)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %q: %w", t, err)
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
	go func() {
		if p.sess != nil {
			loopErr <- p.transactLoop(runCtx)
		} else {
			loopErr <- p.pollLoop(runCtx)
		}
	}()

	var err error
	select {
	case err = <-loopErr:
		cancel()
	case err = <-p.fatalErr:
		cancel()
		<-loopErr
	}
	stopTimer := time.AfterFunc(p.cfg.ShutdownTimeout, p.cancelProduce)
	defer stopTimer.Stop()
	if p.sess != nil {
		p.sess.Close()
	} else {
		p.stopAll(true)
		p.cl.Close()
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

// lagLoop refreshes consumer lag and readiness every LagRefresh.
func (p *Processor) lagLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.LagRefresh)
	defer t.Stop()
	for {
		p.refreshLag(ctx)
		p.m.InflightRecords.Set(float64(p.cl.BufferedProduceRecords()))
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
	lags, err := p.adm.Lag(ctx, p.cfg.Group)
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
	_, gen := p.cl.GroupMetadata()
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
