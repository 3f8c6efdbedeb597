package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	rungroup "github.com/oklog/run" // package main has its own run()
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/streamscore/streamscore/pgsink"
	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/schemas"
)

// sinkConfig is the sink section: sink.postgres.* is pgsink.Config.
type sinkConfig struct {
	Postgres pgsink.Config `config:"postgres"`
}

func newSinkCmd() *cobra.Command {
	sink := &cobra.Command{
		Use:   "sink",
		Short: "Write the prediction topic somewhere else (postgres)",
		// Without a RunE cobra prints the help and exits 0 for a missing
		// or misspelt destination (sink mysql).
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown sink %q: want postgres (streamscore sink postgres)", args[0])
			}
			return errors.New("sink needs a destination: streamscore sink postgres (see streamscore sink --help)")
		},
	}
	// The sink reads the stream's output topic with the stream's Kafka
	// settings and serves its metrics on http.listen.
	sink.AddCommand(serviceCmd("postgres", "Write every prediction of output.topic to a PostgreSQL table, exactly once", `sink postgres joins the consumer group sink.postgres.group on output.topic
(JSON predictions, read_committed) and writes each prediction as one row of
sink.postgres.table, batched with COPY. The consumed offsets are stored in the
same transaction (<table>_offsets), and the sink resumes from them, so the table
holds every prediction exactly once across crashes, restarts and rebalances.
Records that are not predictions go to <table>_rejects. /metrics, /healthz and
/readyz are served on http.listen. See docs/operations.md ("PostgreSQL sink").`,
		runSink, nil, "kafka", "output", "http", "log", "sink"))
	return sink
}

// runSink runs the sink and its HTTP listeners (metrics and probes; pprof
// with http.pprof) as one run group: the first to return stops the others.
func runSink(ctx context.Context, cfg *Config, log *slog.Logger) error {
	if cfg.Output.Format != schemas.FormatJSON {
		return fmt.Errorf("output.format %q: the PostgreSQL sink reads JSON predictions (output.format json)", cfg.Output.Format)
	}
	if cfg.Kafka.isEmbedded() {
		return errors.New("kafka.brokers is embedded: the sink needs the brokers the predictions are written to (the embedded broker lives inside `streamscore run`)")
	}
	if err := cfg.needBrokers(); err != nil {
		return err
	}
	pcfg := cfg.Sink.Postgres
	pcfg.Topic = cfg.Output.Topic
	if err := pcfg.Runnable(); err != nil {
		return err
	}
	for _, w := range append(cfg.Kafka.Warnings(), pcfg.Warnings()...) {
		log.Warn("INSECURE setting", "warning", w)
	}
	kopts, err := processor.ClientOpts(cfg.Kafka.KafkaConfig)
	if err != nil {
		return err
	}
	reg := newRegistry()
	kp := kprom.NewMetrics("streamscore", kprom.Registerer(reg), kprom.Gatherer(reg))
	kopts = append(kopts, kgo.WithHooks(kp))

	s, err := pgsink.New(pcfg, kopts, pgsink.NewMetrics(reg), log)
	if err != nil {
		return err
	}
	var g rungroup.Group
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	g.Add(func() error { return s.Run(sctx) }, func(error) { stop() })
	ops, err := openHTTP(cfg.HTTP, false, log)
	if err != nil {
		return err
	}
	defer ops.close()
	ops.mountProbes(reg, s.Ready, "ready\n", "not ready: postgres or kafka unreachable")
	ops.serve(&g, nil)
	log.Info("streamscore sink postgres running", "brokers", cfg.Kafka.Brokers, "kafka_security", cfg.Kafka.Protocol(), "topic", pcfg.Topic, "group", pcfg.Group,
		"table", pcfg.Table, "batch_size", pcfg.BatchSize, "flush_interval", pcfg.FlushEvery, "http", addrOf(ops.public), "admin", addrOf(ops.admin), "http_tls", ops.tls)
	if err := g.Run(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
