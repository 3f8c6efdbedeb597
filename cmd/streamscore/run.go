package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	rungroup "github.com/oklog/run" // package main has its own run()
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/streamscore/streamscore/httpapi"
	"github.com/streamscore/streamscore/internal/embedded"
	"github.com/streamscore/streamscore/internal/reload"
	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

func newRunCmd() *cobra.Command {
	return serviceCmd("run", "Consume events, score them with the model bundle, produce predictions", `run joins the consumer group on input.topic, scores every event with the bundle
in model.bundle and writes predictions to output.topic (records it cannot score
go to dlq.topic). kafka.brokers and model.bundle must be set. SIGINT/SIGTERM
stops it gracefully; a second signal exits at once.`,
		runService, nil, serviceSections...)
}

// serviceCmd is a long-running command (run, serve, sink postgres): no
// arguments, flags for the configuration sections it reads, and fn run in
// the command's context with the loaded configuration and logger. when
// names sections the command reads only in some configurations (serve's
// kafka section, used only with http.log_to_topic): they are validated only
// then.
func serviceCmd(use, short, long string, fn func(context.Context, *Config, *slog.Logger) error, when map[string]func(*Config) bool, sections ...string) *cobra.Command {
	var flags *configFlags
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return flags.runWith(cmd, fn) },
	}
	flags = addConfigFlags(cmd.Flags(), defaultConfig(), sections...)
	flags.when = when
	return cmd
}

// loadWithLogger loads the configuration (load) and builds the logger it
// asks for on w (newLogger): how every long-running command starts.
func (f *configFlags) loadWithLogger(w io.Writer) (*Config, *slog.Logger, error) {
	cfg, err := f.load()
	if err != nil {
		return nil, nil, err
	}
	log, err := newLogger(cfg, w)
	return cfg, log, err
}

// runWith loads the configuration and the logger (loadWithLogger) and runs
// fn with them in cmd's context: the RunE of the long-running commands.
func (f *configFlags) runWith(cmd *cobra.Command, fn func(context.Context, *Config, *slog.Logger) error) error {
	cfg, log, err := f.loadWithLogger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	return fn(cmd.Context(), cfg, log)
}

// runService runs the service (startService) until it stops.
func runService(ctx context.Context, cfg *Config, log *slog.Logger) error {
	svc, err := startService(ctx, cfg, log)
	if err != nil {
		return err
	}
	return svc.wait()
}

// newLogger builds the logger log.level and log.format ask for.
func newLogger(cfg *Config, w io.Writer) (*slog.Logger, error) {
	if err := cfg.Log.Validate(); err != nil {
		return nil, err
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level)) // checked by Validate
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationText}
	format := cfg.Log.Format
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

// durationText writes a time.Duration attribute as its text ("200ms"):
// slog's JSON handler writes a duration as integer nanoseconds, which a
// reader of the log has to divide by hand.
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// service is a running streamscore: broker (when embedded), HTTP server and
// processor, run as one group (see start). The first to stop stops the
// others.
type service struct {
	proc     *processor.Processor
	bundle   *scoring.Bundle
	broker   *embedded.Broker
	brokers  string
	reg      *prometheus.Registry
	http     *opsHTTP         // the http section's listeners and routes (listeners.go)
	reloader *reload.Reloader // the model lifecycle: hot reload, canary, shadow (models.go)
	door     *httpapi.Server  // http.predict: the HTTP door (serve.go)
	closeDr  func()
	done     chan struct{} // closed when every actor returned
	err      error         // the first actor's error, set before done closes
	log      *slog.Logger
}

// startService loads the bundles of the model section, starts the
// embedded broker if asked, builds the processor and starts it with the
// HTTP server and the model reloader. It returns once everything is
// running; wait() blocks until it stopped.
func startService(ctx context.Context, cfg *Config, log *slog.Logger) (_ *service, err error) {
	reg := newRegistry()
	metrics := processor.NewMetrics(reg)

	// The tree was validated when it was loaded; what run needs beyond it
	// is checked before anything starts (the embedded broker writes to
	// disk): a wrong setting is one clear line and no side effects.
	if err := cfg.checkRunnable(); err != nil {
		return nil, err
	}
	for _, w := range append(cfg.Kafka.Warnings(), cfg.Registry.Warnings()...) {
		log.Warn("INSECURE setting", "warning", w)
	}
	pcfg := cfg.Processor
	reg2, err := schemas.NewRegistry(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("schema registry: %w", err)
	}
	if cfg.Input.Format == schemas.FormatConfluent {
		// The decoder asks the registry at the first record only.
		if err := reg2.Check(ctx); err != nil {
			return nil, fmt.Errorf("input.format confluent: %w", err)
		}
	}
	// Build the encoder now, and a decoder for every bundle before it
	// serves (the reloader's check), so a bad schema or an unreachable
	// registry is a start-up error (or a failed reload) rather than a
	// worker failure.
	enc, err := schemas.NewEncoder(ctx, cfg.Output, reg2)
	if err != nil {
		return nil, fmt.Errorf("output encoder: %w", err)
	}
	stream := &pathMaker{in: cfg.Input.InputConfig, reg: reg2, enc: enc, echo: cfg.Output.EchoFeatures}
	var doorPaths *pathMaker
	if cfg.HTTP.Predict {
		if doorPaths, err = newDoorPaths(ctx, cfg); err != nil {
			return nil, err
		}
	}
	check := func(b *scoring.Bundle) error {
		if err := stream.check(b); err != nil {
			return err
		}
		if doorPaths != nil {
			return doorPaths.check(b)
		}
		return nil
	}
	rl, err := newReloader(cfg, log, reload.NewMetrics(reg), check, false)
	if err != nil {
		return nil, err
	}
	first, err := rl.Load(ctx)
	if err != nil {
		return nil, err
	}
	bundle := first.Live.Bundle

	s := &service{bundle: bundle, reg: reg, done: make(chan struct{}), log: log, reloader: rl}
	defer func() {
		if err != nil {
			s.closeDoor()
			s.closeBroker()
			if s.http != nil {
				s.http.close()
			}
		}
	}()
	if cfg.Kafka.isEmbedded() {
		e := cfg.Kafka.Embedded
		s.broker, err = embedded.Start(e)
		if err != nil {
			return nil, err
		}
		cfg.Kafka.Brokers = s.broker.Addr()
		log.Warn("using the EMBEDDED broker: an in-process Kafka stand-in for trying things out, not for production",
			"addr", cfg.Kafka.Brokers, "data_dir", e.DataDir)
	}
	s.brokers = cfg.Kafka.Brokers

	pipe := &processor.Pipeline{Path: stream.path(first.Live), ShadowTopic: cfg.Model.ShadowTopic}
	kp := kprom.NewMetrics("streamscore", kprom.Registerer(reg), kprom.Gatherer(reg))
	// Credentials, certificates and ACLs first: one clear line instead of a
	// stream that stalls at its first DLQ write.
	if err := processor.CheckAccess(ctx, cfg.Kafka.KafkaConfig, pcfg); err != nil {
		return nil, err
	}
	mem := pcfg.ApplyMemoryLimit()
	log.Info("memory budget", "budget", mem.Budget, "gc_limit", mem.GCLimit, "gomemlimit", processor.GoMemLimit(),
		"fetch_max_bytes", mem.FetchMaxBytes, "inflight_bytes", mem.InflightBytes)
	s.proc, err = processor.New(ctx, pcfg, cfg.Kafka.KafkaConfig, pipe, metrics, log, kgo.WithHooks(kp))
	if err != nil {
		return nil, err
	}

	if err := s.startDoor(ctx, cfg, doorPaths, first.Live, log); err != nil {
		return nil, err
	}
	if err := rl.Start(first, streamApply(pipe, stream, s.door, doorPaths)); err != nil {
		return nil, err
	}
	if s.http, err = openHTTP(cfg.HTTP, s.door != nil, log); err != nil {
		return nil, err
	}
	s.routes(s.broker != nil)
	s.start(ctx)
	log.Info("streamscore running", "brokers", s.brokers, "kafka_security", cfg.Kafka.Protocol(), "input", cfg.Input.Topic, "output", cfg.Output.Topic,
		"dlq", cfg.DLQ.Topic, "delivery", cfg.Processor.Delivery, "http", s.httpAddr(), "admin", addrOf(s.http.admin),
		"predict", s.doorAddr(), "http_tls", s.http.tls, "model", first.Live.Ref())
	return s, nil
}

func (s *service) httpAddr() string { return addrOf(s.http.public) }

// routes mounts the metrics and probes, the model routes (GET /v1/models,
// POST /admin/reload) and the HTTP door when it shares http.listen. With
// the embedded broker, /readyz says in its body that it is not a
// production broker.
func (s *service) routes(embeddedBroker bool) {
	ready := "ready\n"
	if embeddedBroker {
		ready = "ready (EMBEDDED broker: an in-process stand-in for trying things out, not a production broker)\n"
	}
	s.http.mountProbes(s.reg, s.proc.Ready, ready, "not ready: group not joined or broker unreachable")
	if s.reloader != nil {
		s.http.mountModels(s.reloader)
	}
	if s.door != nil && s.http.predict == nil {
		s.http.publicMux.Handle("/", s.door.Handler())
	}
}

// start runs the components as one run group: each is an execute/interrupt
// pair, the first to return interrupts the others, and wait returns its
// error once all have returned. A new component is one more g.Add here.
//
//  1. processor: runs until the command's context ends (SIGINT/SIGTERM, the
//     demo's --duration) or it fails; it then stops gracefully (in-flight
//     outputs, final commit) before it returns.
//  2. HTTP servers (http.listen, http.admin_listen, http.predict_listen):
//     serve until interrupted, then shut down gracefully (open requests get
//     5s; the door drains), so metrics stay scrapable while the processor
//     drains. With http.predict, the door's drift refresh runs beside them
//     (the stream's is the processor's lag loop).
//  3. model reloader: watches the bundles and the config file and swaps
//     changed models in, until interrupted.
//  4. embedded broker: closed last, after the processor returned, because
//     the processor's graceful stop still commits through it.
func (s *service) start(ctx context.Context) {
	var g rungroup.Group

	pctx, cancel := context.WithCancel(ctx)
	procDone := make(chan struct{})
	g.Add(func() error {
		defer close(procDone)
		return s.proc.Run(pctx)
	}, func(error) { cancel() })

	s.http.serve(&g, s.drainDoor)
	if s.http.predict != nil {
		dctx, stopDoor := context.WithCancel(context.Background())
		g.Add(func() error { return s.door.Serve(dctx, s.http.predict, s.door.Handler()) }, func(error) { stopDoor() })
	}
	if s.door != nil {
		rctx, stopDrift := context.WithCancel(context.Background())
		g.Add(func() error { return s.door.RunDrift(rctx) }, func(error) { stopDrift() })
	}

	if s.reloader != nil {
		wctx, stopWatch := context.WithCancel(context.Background())
		g.Add(func() error { return s.reloader.Run(wctx) }, func(error) { stopWatch() })
	}

	if s.broker != nil {
		g.Add(func() error {
			<-procDone // interrupted through the processor, which always returns
			s.closeBroker()
			return nil
		}, func(error) {})
	}

	go func() {
		s.err = g.Run()
		s.closeDoor()
		close(s.done)
	}()
}

func (s *service) closeBroker() {
	if s.broker != nil {
		s.broker.Close()
		s.broker = nil
	}
}

// wait blocks until the service stopped and returns the first error.
func (s *service) wait() error {
	<-s.done
	if errors.Is(s.err, context.Canceled) {
		return nil
	}
	return s.err
}
