package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/embedded"
	"github.com/streamscore/streamscore/internal/gen"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

type benchOptions struct {
	events     int
	rate       int
	latencyFor time.Duration
	modes      []string
	partitions int32
	cpuProfile string
}

func newBenchCmd() *cobra.Command {
	var (
		o     benchOptions
		flags *configFlags
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "End-to-end benchmark: passthrough vs full pipeline, then latency at a fixed rate",
		Long: `bench loads --events synthetic card transactions into a fresh input topic, then
in one run measures:
  1. passthrough: a bare franz-go consume -> produce copy with the same client
     settings and no decode or scoring (the baseline);
  2. the full pipeline (decode, features, fraud model, encode, produce, commit)
     in each --modes delivery mode, on the same events;
  3. end-to-end latency (event timestamp to prediction acknowledged) at --rate
     events/s offered for --latency-for;
and prints throughputs, the process CPU time per event of each phase and its
ratio to the passthrough's (steadier than wall-clock rates on a shared
machine), p50/p99/p99.9 latency with the distribution, and peak RSS. With
the embedded broker the CPU figures include the broker, which runs in this
process: measure against a real broker for the service's own cost.
It uses the embedded broker (in memory) unless kafka.brokers names a cluster,
and the fraud bundle built into the binary unless model.bundle names another
bundle of the same events.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := flags.load()
			if err != nil {
				return err
			}
			if err := o.check(); err != nil {
				return err
			}
			return runBench(cmd.Context(), cmd.OutOrStdout(), cfg, o)
		},
	}
	flags = addConfigFlags(cmd.Flags(), trialConfig(), serviceSections...)
	f := cmd.Flags()
	f.IntVar(&o.events, "events", 1_000_000, "events loaded and processed by each throughput phase")
	f.IntVar(&o.rate, "rate", 20000, "offered events/s in the latency phase")
	f.DurationVar(&o.latencyFor, "latency-for", 15*time.Second, "length of the latency phase (0: skip)")
	f.StringSliceVar(&o.modes, "modes", []string{processor.AtLeastOnce}, "delivery modes to measure: at-least-once,exactly-once")
	f.Int32Var(&o.partitions, "partitions", 6, "partitions of the bench topics")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the pipeline phases to this file")
	return cmd
}

// check rejects options bench cannot measure with, before anything starts:
// no events would wait forever for the first one, and a bad mode would be
// found only after the passthrough phase.
func (o benchOptions) check() error {
	switch {
	case o.events <= 0:
		return fmt.Errorf("--events %d: want at least 1", o.events)
	case o.partitions <= 0:
		return fmt.Errorf("--partitions %d: want at least 1", o.partitions)
	case o.latencyFor < 0:
		return fmt.Errorf("--latency-for %s: want 0 (skip) or more", o.latencyFor)
	case o.latencyFor > 0 && o.rate <= 0:
		return fmt.Errorf("--rate %d: the latency phase needs a positive offered rate (or --latency-for 0)", o.rate)
	case len(o.modes) == 0:
		return fmt.Errorf("--modes is empty: want %s, %s or both", processor.AtLeastOnce, processor.ExactlyOnce)
	}
	for _, m := range o.modes {
		if m != processor.AtLeastOnce && m != processor.ExactlyOnce {
			return fmt.Errorf("--modes %q: want %s, %s or both", m, processor.AtLeastOnce, processor.ExactlyOnce)
		}
	}
	return nil
}

func runBench(ctx context.Context, out io.Writer, cfg *Config, o benchOptions) error {
	log, err := newLogger(cfg, os.Stderr)
	if err != nil {
		return err
	}
	bundle, err := loadTrialBundle(cfg.Model.Bundle, "bench")
	if err != nil {
		return err
	}
	brokerKind := "Apache Kafka (or compatible) at " + cfg.Kafka.Brokers
	if cfg.Kafka.isEmbedded() {
		b, err := embedded.Start(embedded.Config{Partitions: o.partitions}) // memory only: no disk in the figures
		if err != nil {
			return err
		}
		defer b.Close()
		cfg.Kafka.Brokers = b.Addr()
		brokerKind = "embedded broker (kfake, in this process)"
	}
	opts, err := processor.ClientOpts(cfg.Kafka.KafkaConfig)
	if err != nil {
		return err
	}
	admCl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	run := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	topic := func(s string) string { return run + "-" + s }
	var topics []string
	mk := func(name string) (string, error) {
		t := topic(name)
		maxBytes := fmt.Sprint(cfg.Processor.MaxRecordBytes + 4096)
		r, err := adm.CreateTopic(ctx, o.partitions, -1, map[string]*string{"max.message.bytes": &maxBytes}, t)
		if err == nil {
			err = r.Err
		}
		topics = append(topics, t)
		return t, err
	}
	defer func() {
		dctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		adm.DeleteTopics(dctx, topics...)
	}()
	in, err := mk("in")
	if err != nil {
		return fmt.Errorf("create bench topic: %w", err)
	}

	fmt.Fprintf(out, "streamscore bench: %d events, %d partitions, %s, model %s@%s\n",
		o.events, o.partitions, brokerKind, bundle.Name, bundle.Version)
	loadStart := time.Now()
	if err := loadEvents(ctx, opts, in, o.events); err != nil {
		return fmt.Errorf("load events: %w", err)
	}
	fmt.Fprintf(out, "loaded %d events in %s\n", o.events, time.Since(loadStart).Round(time.Millisecond))

	pcfg := cfg.Processor
	pcfg.ApplyMemoryLimit() // as run does: the figures are the service's
	// 1. passthrough baseline.
	ptOut, err := mk("passthrough")
	if err != nil {
		return err
	}
	cpu0 := processCPU()
	ptDur, err := passthrough(ctx, opts, pcfg, in, ptOut, o.events)
	if err != nil {
		return fmt.Errorf("passthrough: %w", err)
	}
	ptCPU := processCPU() - cpu0
	ptRate := float64(o.events) / ptDur.Seconds()
	fmt.Fprintf(out, "passthrough (consume -> produce, no decode/score): %10.0f events/s  (%s)  %s\n",
		ptRate, ptDur.Round(time.Millisecond), cpuLine(ptCPU, ptDur, o.events))

	var prof *os.File
	if o.cpuProfile != "" {
		if prof, err = os.Create(o.cpuProfile); err != nil {
			return err
		}
		defer prof.Close()
		if err := pprof.StartCPUProfile(prof); err != nil {
			return err
		}
	}
	// 2. full pipeline per mode; the first one stays up for the latency phase.
	var live *benchProcessor
	for i, mode := range o.modes {
		outT, err := mk("out-" + mode)
		if err != nil {
			return err
		}
		dlqT, err := mk("dlq-" + mode)
		if err != nil {
			return err
		}
		c := pcfg
		c.InputTopic, c.OutputTopic, c.DLQTopic, c.Group, c.Delivery = in, outT, dlqT, topic("g-"+mode), mode
		cpu0 := processCPU()
		bp, err := startBenchProcessor(ctx, c, cfg, bundle, log)
		if err != nil {
			return err
		}
		d, err := bp.waitFor(ctx, uint64(o.events))
		if err != nil {
			bp.stop()
			return fmt.Errorf("pipeline %s: %w", mode, err)
		}
		cpu := processCPU() - cpu0
		r := float64(o.events) / d.Seconds()
		fmt.Fprintf(out, "pipeline %-13s (decode, features, score, encode, produce, commit): %10.0f events/s  (%s)  ratio %.2fx passthrough  %s  cpu ratio %.2fx passthrough\n",
			mode, r, d.Round(time.Millisecond), r/ptRate, cpuLine(cpu, d, o.events), cpu.Seconds()/ptCPU.Seconds())
		if i == 0 {
			live = bp
		} else {
			bp.stop()
		}
	}
	if prof != nil {
		pprof.StopCPUProfile()
		fmt.Fprintf(out, "cpu profile of the pipeline phases: %s (go tool pprof -top %s)\n", o.cpuProfile, o.cpuProfile)
	}
	// 3. latency at a fixed offered rate.
	if live != nil && o.latencyFor > 0 {
		before := live.p.Stats()
		lctx, cancel := context.WithTimeout(ctx, o.latencyFor)
		sent, err := offer(lctx, opts, in, o.rate)
		cancel()
		if err != nil {
			live.stop()
			return fmt.Errorf("latency phase: %w", err)
		}
		if _, err := live.waitFor(ctx, before.Produced+before.DLQ+uint64(sent)); err != nil {
			live.stop()
			return err
		}
		lat := live.p.Stats().Latency.Sub(before.Latency)
		fmt.Fprintf(out, "latency at %d events/s offered for %s (%s): p50 %s  p99 %s  p99.9 %s  max %s  (%d events)\n",
			o.rate, o.latencyFor, live.mode, lat.Quantile(0.5), lat.Quantile(0.99), lat.Quantile(0.999), lat.Quantile(1), lat.Count())
		writeLatencyHistogram(out, lat)
	}
	if live != nil {
		live.stop()
	}
	fmt.Fprintf(out, "peak RSS: %s\n", peakRSS())
	return nil
}

// processCPU is the CPU time (user + system) this process has used. With
// the embedded broker it includes the broker's, which runs in the process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuLine says the CPU time per event and the cores used over wall time d.
func cpuLine(cpu, d time.Duration, events int) string {
	return fmt.Sprintf("cpu %.2f us/event (%.2f cores)", float64(cpu.Microseconds())/float64(events), cpu.Seconds()/d.Seconds())
}

// writeLatencyHistogram prints the latency distribution: the share of
// events at or under each bound, so the tail's shape shows, not only p99.
func writeLatencyHistogram(out io.Writer, lat processor.LatencySnapshot) {
	n := lat.Count()
	if n == 0 {
		return
	}
	fmt.Fprintf(out, "latency histogram:")
	for _, q := range []float64{0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1} {
		fmt.Fprintf(out, "  %g%% <= %s", q*100, lat.Quantile(q))
	}
	fmt.Fprintln(out)
}

// loadEvents writes n synthetic events as fast as the broker takes them.
func loadEvents(ctx context.Context, opts []kgo.Opt, topic string, n int) error {
	cl, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	g := gen.NewFraud(7, 10000)
	var failed atomic.Pointer[error]
	now := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		k, v := g.Next(nil, now)
		cl.Produce(ctx, &kgo.Record{Key: k, Value: v, Timestamp: now}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if e := failed.Load(); e != nil {
		return *e
	}
	return ctx.Err()
}

// passthrough copies n records from in to out with the processor's client
// settings, measuring from the first record fetched to the last acknowledged.
func passthrough(ctx context.Context, opts []kgo.Opt, c processor.Config, in, out string, n int) (time.Duration, error) {
	tput, err := processor.ThroughputOpts(c)
	if err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(append(append(opts, tput...),
		kgo.ConsumeTopics(in), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DefaultProduceTopic(out))...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var acked atomic.Int64
	done := make(chan struct{})
	var first time.Time
	got := 0
	for got < n {
		fs := cl.PollRecords(ctx, c.BatchMaxRecords*4)
		if err := fs.Err0(); err != nil {
			return 0, err
		}
		fs.EachRecord(func(r *kgo.Record) {
			if first.IsZero() {
				first = time.Now()
			}
			got++
			cl.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}, func(_ *kgo.Record, err error) {
				if err == nil && acked.Add(1) == int64(n) {
					close(done)
				}
			})
		})
	}
	select {
	case <-done:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return time.Since(first), nil
}

type benchProcessor struct {
	p      *processor.Processor
	mode   string
	cancel context.CancelFunc
	done   chan error
}

func startBenchProcessor(ctx context.Context, c processor.Config, cfg *Config, bundle *scoring.Bundle, logger *slog.Logger) (*benchProcessor, error) {
	inCfg := cfg.Input.InputConfig
	enc, err := schemas.NewEncoder(ctx, schemas.OutputConfig{Format: cfg.Output.Format, Topic: c.OutputTopic}, nil)
	if err != nil {
		return nil, err
	}
	newDecoder := func() (schemas.Decoder, error) { return schemas.NewDecoder(inCfg, bundle.Layout(), nil) }
	pipe := &processor.Pipeline{Path: predict.New(bundle, newDecoder, enc, false)}
	pctx, cancel := context.WithCancel(ctx)
	p, err := processor.New(pctx, c, cfg.Kafka.KafkaConfig, pipe, processor.NewMetrics(prometheus.NewRegistry()), logger)
	if err != nil {
		cancel()
		return nil, err
	}
	bp := &benchProcessor{p: p, mode: c.Delivery, cancel: cancel, done: make(chan error, 1)}
	go func() { bp.done <- p.Run(pctx) }()
	return bp, nil
}

// waitFor waits until n records were acknowledged (predictions + DLQ) and
// returns the time from the first record consumed.
func (bp *benchProcessor) waitFor(ctx context.Context, n uint64) (time.Duration, error) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	var first time.Time
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case err := <-bp.done:
			return 0, fmt.Errorf("processor stopped: %v", err)
		case now := <-t.C:
			st := bp.p.Stats()
			if first.IsZero() && st.Consumed > 0 {
				first = now
			}
			if st.Produced+st.DLQ >= n {
				return now.Sub(first), nil
			}
		}
	}
}

func (bp *benchProcessor) stop() {
	bp.cancel()
	<-bp.done
}

// offer produces events at rate/s until ctx ends and returns how many were acknowledged.
func offer(ctx context.Context, opts []kgo.Opt, topic string, rate int) (int, error) {
	cl, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	g := gen.NewFraud(11, 10000)
	var acked atomic.Int64
	start := time.Now()
	sent := 0
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case now := <-t.C:
			for due := int(now.Sub(start).Seconds() * float64(rate)); sent < due; sent++ {
				k, v := g.Next(nil, now)
				cl.Produce(context.Background(), &kgo.Record{Key: k, Value: v, Timestamp: time.Now()}, func(_ *kgo.Record, err error) {
					if err == nil {
						acked.Add(1)
					}
				})
			}
		}
	}
	fctx, c := context.WithTimeout(context.Background(), 30*time.Second)
	defer c()
	if err := cl.Flush(fctx); err != nil {
		return int(acked.Load()), err
	}
	return int(acked.Load()), nil
}

// peakRSS is the process's high-water resident set size (Linux VmHWM).
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
		}
	}
	return "unknown"
}
