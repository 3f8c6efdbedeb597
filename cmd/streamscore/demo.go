package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/gen"
	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/scoring"
)

func newDemoCmd() *cobra.Command {
	var (
		rate     int
		duration time.Duration
		samples  int
		flags    *configFlags
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Score synthetic card transactions on an embedded broker, with a live summary",
		Long: `demo starts the embedded broker (unless kafka.brokers names a cluster), a
generator of synthetic card transactions at --rate events/s, and the processor
scoring them with the fraud bundle built into the binary (unless model.bundle
names another bundle of the same events). Once a second it prints throughput,
end-to-end latency, consumer lag, DLQ count and a few predictions.
Ctrl-C stops it; --duration stops it by itself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := flags.loadWithLogger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			switch {
			case rate <= 0:
				return fmt.Errorf("--rate %d: must be positive", rate)
			case duration < 0:
				return fmt.Errorf("--duration %s: want 0 (until Ctrl-C) or more", duration)
			case samples < 0:
				return fmt.Errorf("--samples %d: want 0 or more", samples)
			}
			if _, err := loadTrialBundle(cfg.Model.Bundle, "demo"); err != nil {
				return err
			}
			ctx := cmd.Context()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			svc, err := startService(ctx, cfg, log)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "streamscore demo: model %s@%s, broker %s, %d events/s into %q, predictions in %q",
				svc.bundle.Name, svc.bundle.Version, svc.brokers, rate, cfg.Input.Topic, cfg.Output.Topic)
			if u := svc.http.url(svc.http.public); u != "" {
				fmt.Fprintf(out, ", metrics %s/metrics", u)
			}
			fmt.Fprintln(out)

			var wg sync.WaitGroup
			genErr := make(chan error, 2)
			sampler := &sampleBuffer{max: samples}
			wg.Add(2)
			go func() { defer wg.Done(); genErr <- generate(ctx, cfg, svc.brokers, rate) }()
			go func() { defer wg.Done(); genErr <- sampler.consume(ctx, cfg, svc.brokers) }()
			summarize(ctx, out, svc.proc, sampler)
			wg.Wait()
			close(genErr)
			werr := svc.wait()
			for e := range genErr {
				if e != nil && werr == nil && ctx.Err() == nil {
					werr = e
				}
			}
			st := svc.proc.Stats()
			fmt.Fprintf(out, "demo stopped: %d events consumed, %d predictions, %d to the DLQ\n", st.Consumed, st.Produced, st.DLQ)
			return werr
		},
	}
	flags = addConfigFlags(cmd.Flags(), trialConfig(), serviceSections...)
	cmd.Flags().IntVar(&rate, "rate", 2000, "synthetic events per second")
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long (0: until Ctrl-C)")
	cmd.Flags().IntVar(&samples, "samples", 3, "predictions shown per summary")
	return cmd
}

// loadTrialBundle loads the bundle of demo or bench (cmd), which feed it
// the fraud generator's card transactions: a bundle whose inputs those
// events do not carry would score imputed values only, so it is refused.
func loadTrialBundle(name, cmd string) (*scoring.Bundle, error) {
	b, err := loadBundle(name)
	if err != nil {
		return nil, err
	}
	if !gen.FraudFits(b.Layout()) {
		return nil, fmt.Errorf("model.bundle %s: %s sends card transactions of the fraud example, which do not carry the inputs of %s@%s; for another bundle, run it with streamscore run (or serve) and send it events with streamscore produce BUNDLE",
			name, cmd, b.Name, b.Version)
	}
	return b, nil
}

// generate produces synthetic fraud transactions at rate events/s until ctx ends.
func generate(ctx context.Context, cfg *Config, brokers string, rate int) error {
	k := cfg.Kafka.KafkaConfig
	k.Brokers = brokers
	opts, err := processor.ClientOpts(k)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic(cfg.Input.Topic), kgo.ProducerLinger(time.Millisecond))...)
	if err != nil {
		return fmt.Errorf("generator client: %w", err)
	}
	defer cl.Close()
	g := gen.NewFraud(uint64(time.Now().UnixNano()), 5000)
	const tick = 10 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	sent := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			due := int(now.Sub(start).Seconds() * float64(rate))
			for ; sent < due; sent++ {
				key, val := g.Next(nil, now)
				cl.Produce(ctx, &kgo.Record{Key: key, Value: val, Timestamp: time.Now()}, nil)
			}
		}
	}
}

// sampleBuffer keeps the newest predictions for the summary.
type sampleBuffer struct {
	mu   sync.Mutex
	max  int
	last []string
}

func (s *sampleBuffer) consume(ctx context.Context, cfg *Config, brokers string) error {
	if s.max <= 0 {
		return nil
	}
	k := cfg.Kafka.KafkaConfig
	k.Brokers = brokers
	opts, err := processor.ClientOpts(k)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(cfg.Output.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		return fmt.Errorf("sample consumer: %w", err)
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			s.mu.Lock()
			s.last = append(s.last, sampleLine(r))
			if len(s.last) > s.max {
				s.last = s.last[len(s.last)-s.max:]
			}
			s.mu.Unlock()
		})
	}
	return nil
}

// sampleLine shows a JSON prediction compactly; other formats by size.
func sampleLine(r *kgo.Record) string {
	var p struct {
		EventID any     `json:"event_id"`
		Score   float64 `json:"score"`
		Label   string  `json:"label"`
	}
	if err := json.Unmarshal(r.Value, &p); err != nil {
		return fmt.Sprintf("%s -> %d bytes", r.Key, len(r.Value))
	}
	return fmt.Sprintf("%-10s %-14v -> %-10s score %.4f", r.Key, p.EventID, p.Label, p.Score)
}

func (s *sampleBuffer) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.last
	s.last = nil
	return out
}

// summarize prints one line of figures per second, plus sample predictions.
func summarize(ctx context.Context, out io.Writer, p *processor.Processor, samples *sampleBuffer) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	prev, prevT := p.Stats(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			st := p.Stats()
			secs := now.Sub(prevT).Seconds()
			lat := st.Latency.Sub(prev.Latency)
			fmt.Fprintf(out, "[%s] in %6.0f ev/s | out %6.0f pred/s | e2e p50 %7s p99 %7s | lag %d | dlq %d\n",
				now.Format("15:04:05"),
				float64(st.Consumed-prev.Consumed)/secs, float64(st.Produced-prev.Produced)/secs,
				fmtDur(lat.Quantile(0.5)), fmtDur(lat.Quantile(0.99)), st.Lag, st.DLQ)
			for _, s := range samples.take() {
				fmt.Fprintf(out, "    %s\n", s)
			}
			prev, prevT = st, now
		}
	}
}

func fmtDur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(10 * time.Microsecond).String()
}
