package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/config"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/streamscore/streamscore/pgsink"
	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/schemas"
)

// SinkConfig is the sink section: sink.postgres.* (pgsink.Config).
type SinkConfig struct {
	Postgres pgsink.Config `mapstructure:"postgres"`
}

// sinkSettings are the sink.postgres.* keys, read from pgsink.Config's tags
// and DefaultConfig, so the key names, defaults and help live in pgsink.
func sinkSettings() []setting {
	def := pgsink.DefaultConfig()
	v, t := reflect.ValueOf(def), reflect.TypeOf(def)
	var out []setting
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("mapstructure")
		if name == "" || name == "-" {
			continue
		}
		s := setting{key: "sink.postgres." + name, def: v.Field(i).Interface(), help: f.Tag.Get("help")}
		if sec, ok := s.def.(config.Secret); ok {
			s.def, s.secret = string(sec), true
		}
		out = append(out, s)
	}
	return out
}

func newSinkCmd() *cobra.Command {
	sink := &cobra.Command{
		Use:   "sink",
		Short: "Write the prediction topic somewhere else (postgres)",
	}
	pg := &cobra.Command{
		Use:   "postgres",
		Short: "Write every prediction of output.topic to a PostgreSQL table, exactly once",
		Long: `sink postgres joins the consumer group sink.postgres.group on output.topic
(JSON predictions, read_committed) and writes each prediction as one row of
sink.postgres.table, batched with COPY. The consumed offsets are stored in the
same transaction (<table>_offsets), and the sink resumes from them, so the table
holds every prediction exactly once across crashes, restarts and rebalances.
Records that are not predictions go to <table>_rejects. /metrics, /healthz and
/readyz are served on http.listen. See docs/operations.md ("PostgreSQL sink").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd.Flags())
			if err != nil {
				return err
			}
			log, err := newLogger(cfg, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return runSink(cmd.Context(), cfg, log)
		},
	}
	addConfigFlags(pg.Flags())
	sink.AddCommand(pg)
	return sink
}

func runSink(ctx context.Context, cfg *Config, log *slog.Logger) error {
	if cfg.Output.Format != schemas.FormatJSON {
		return fmt.Errorf("output.format %q: the PostgreSQL sink reads JSON predictions (output.format json)", cfg.Output.Format)
	}
	if cfg.Kafka.IsEmbedded() {
		return errors.New("kafka.brokers is embedded: the sink needs the brokers the predictions are written to (the embedded broker lives inside `streamscore run`)")
	}
	pcfg := cfg.Sink.Postgres
	pcfg.Topic = cfg.Output.Topic
	if err := pcfg.Validate(); err != nil {
		return err
	}
	kopts, err := processor.ClientOpts(cfg.Kafka)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "streamscore", Name: "build_info",
		Help: "Build of the running binary (always 1)."}, []string{"version", "revision", "goversion"})
	buildInfo.WithLabelValues(version, revision(), runtime.Version()).Set(1)
	reg.MustRegister(buildInfo)
	kp := kprom.NewMetrics("streamscore", kprom.Registerer(reg), kprom.Gatherer(reg))
	kopts = append(kopts, kgo.WithHooks(kp))

	s, err := pgsink.New(pcfg, kopts, pgsink.NewMetrics(reg), log)
	if err != nil {
		return err
	}
	var srv *http.Server
	var ln net.Listener
	if cfg.HTTP.Listen != "" {
		if ln, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
			return fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
		mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
			if !s.Ready() {
				http.Error(w, "not ready: postgres or kafka unreachable", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "ready\n")
		})
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	}
	log.Info("streamscore sink postgres running", "brokers", cfg.Kafka.Brokers, "topic", pcfg.Topic, "group", pcfg.Group,
		"table", pcfg.Table, "batch_size", pcfg.BatchSize, "flush_interval", pcfg.FlushEvery, "http", addrOf(ln))

	// The sink and the HTTP server stop together; the first error wins.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(1)
	go func() { defer wg.Done(); defer cancel(); errs <- s.Run(ctx) }()
	if srv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("http server: %w", err)
				cancel()
			}
		}()
		<-ctx.Done()
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(sctx)
		c()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}
