package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/gen"
	"github.com/streamscore/streamscore/processor"
)

func newProduceCmd() *cobra.Command {
	var (
		rate, count   int
		poison        float64
		tooLargeBytes int
		seed          uint64
		flags         *configFlags
	)
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Load generator: synthetic card transactions into input.topic",
		Long: `produce writes synthetic card transactions (the fraud bundle's event schema) to
input.topic at --rate events/s (0: as fast as the broker takes them), --count in
total (0: until Ctrl-C). --poison mixes in bad records (malformed JSON, missing
fields, infinite numbers, wrong types, oversized values) that the service must
send to the DLQ. It needs a real broker: kafka.brokers must name one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := flags.load()
			if err != nil {
				return err
			}
			if err := cfg.needBrokers(); err != nil {
				return err
			}
			if cfg.Kafka.isEmbedded() {
				return fmt.Errorf("produce needs kafka.brokers (the embedded broker lives inside run/demo)")
			}
			if poison < 0 || poison > 1 {
				return fmt.Errorf("--poison %g: want a fraction between 0 and 1", poison)
			}
			sent, err := produceLoad(cmd.Context(), cfg, rate, count, poison, tooLargeBytes, seed)
			fmt.Fprintf(cmd.OutOrStdout(), "produced %d records to %s\n", sent, cfg.Input.Topic)
			return err
		},
	}
	flags = addConfigFlags(cmd.Flags(), defaultConfig(), serviceSections...)
	cmd.Flags().IntVar(&rate, "rate", 5000, "events per second (0: unthrottled)")
	cmd.Flags().IntVar(&count, "count", 0, "events in total (0: until Ctrl-C)")
	cmd.Flags().Float64Var(&poison, "poison", 0, "fraction of bad records mixed in (0..1)")
	cmd.Flags().IntVar(&tooLargeBytes, "too-large-bytes", 2<<20, "size of the oversized poison records")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "generator seed (same seed, same events)")
	return cmd
}

// produceLoad writes count events (0: until ctx ends) at rate events/s and
// waits until the broker acknowledged all of them.
func produceLoad(ctx context.Context, cfg *Config, rate, count int, poison float64, tooLargeBytes int, seed uint64) (int64, error) {
	opts, err := processor.ClientOpts(cfg.Kafka.KafkaConfig)
	if err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic(cfg.Input.Topic),
		kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(int32(tooLargeBytes)+64<<10),
		kgo.BrokerMaxWriteBytes(int32(tooLargeBytes)*2+1<<20))...)
	if err != nil {
		return 0, fmt.Errorf("producer client: %w", err)
	}
	defer cl.Close()
	g := gen.NewFraud(seed, 5000)
	pick := rand.New(rand.NewPCG(seed, 7))
	var acked atomic.Int64
	var firstErr atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			firstErr.CompareAndSwap(nil, &err)
			return
		}
		acked.Add(1)
	}
	start := time.Now()
	for i := 0; count == 0 || i < count; i++ {
		if rate > 0 {
			if wait := time.Until(start.Add(time.Duration(float64(i) / float64(rate) * float64(time.Second)))); wait > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		now := time.Now()
		var key, val []byte
		if poison > 0 && pick.Float64() < poison {
			key, val = g.Poison(gen.PoisonKinds[pick.IntN(len(gen.PoisonKinds))], now, tooLargeBytes)
		} else {
			key, val = g.Next(nil, now)
		}
		cl.Produce(context.Background(), &kgo.Record{Key: key, Value: val, Timestamp: now}, promise)
	}
	flushCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.Flush(flushCtx); err != nil {
		return acked.Load(), fmt.Errorf("flush: %w", err)
	}
	if e := firstErr.Load(); e != nil {
		return acked.Load(), fmt.Errorf("produce: %w", *e)
	}
	return acked.Load(), nil
}
