package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/streamscore/streamscore/httpapi"
	"github.com/streamscore/streamscore/internal/embedded"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

func newRunCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Consume events, score them with the model bundle, produce predictions",
		Long: `run joins the consumer group on input.topic, scores every event with the bundle
in model.bundle and writes predictions to output.topic (records it cannot score
go to dlq.topic). SIGINT/SIGTERM stops it gracefully; a second signal exits at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd.Flags())
			if err != nil {
				return err
			}
			log, err := newLogger(cfg, os.Stderr)
			if err != nil {
				return err
			}
			svc, err := startService(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			return svc.wait()
		},
	}
	addConfigFlags(cmd.Flags())
	return cmd
}

func newLogger(cfg *Config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Log.Level)); err != nil {
		return nil, fmt.Errorf("log.level %q: want debug, info, warn or error", cfg.Log.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.Log.Format
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log.format %q: want json, text or auto", cfg.Log.Format)
}

// service is a running streamscore: broker (when embedded), HTTP server and
// processor, started together and stopped together. The first to fail stops
// the others.
type service struct {
	proc    *processor.Processor
	bundle  *scoring.Bundle
	broker  *embedded.Broker
	brokers string
	reg     *prometheus.Registry
	httpSrv *http.Server
	httpLn  net.Listener
	door    *httpapi.Server // http.predict: the HTTP door (serve.go)
	doorLn  net.Listener    // its own listener (http.predict_listen); nil: on httpLn
	closeDr func()
	done    chan struct{}
	err     error
	log     *slog.Logger
}

// startService loads the bundle, starts the embedded broker if asked,
// builds the processor and starts it with the HTTP server. It returns once
// everything is running; wait() blocks until it stopped.
func startService(ctx context.Context, cfg *Config, log *slog.Logger) (_ *service, err error) {
	reg := newRegistry()
	metrics := processor.NewMetrics(reg)

	bundle, err := scoring.Load(cfg.Model.Bundle)
	if err != nil {
		return nil, fmt.Errorf("model bundle %s: %w", cfg.Model.Bundle, err)
	}
	metrics.ModelInfo.WithLabelValues(bundle.Name, bundle.Version).Set(1)
	metrics.ModelLoaded.SetToCurrentTime()
	log = log.With("model", bundle.Name+"@"+bundle.Version)

	// Validate everything before starting anything (the embedded broker
	// writes to disk): a wrong setting is one clear line and no side effects.
	pcfg := cfg.ProcessorConfig()
	if err := pcfg.Validate(); err != nil {
		return nil, err
	}
	inCfg := cfg.InputConfig()
	if err := inCfg.Validate(); err != nil {
		return nil, err
	}
	outCfg := schemas.OutputConfig{Format: cfg.Output.Format, Subject: cfg.Output.Subject, Topic: cfg.Output.Topic,
		EchoFeatures: cfg.Output.EchoFeatures}
	if err := outCfg.Validate(); err != nil {
		return nil, err
	}
	reg2, err := schemas.NewRegistry(schemas.RegistryConfig{URL: cfg.Registry.URL, Username: cfg.Registry.Username,
		Password: schemas.Secret(cfg.Registry.Password)})
	if err != nil {
		return nil, fmt.Errorf("schema registry: %w", err)
	}
	// Build one decoder and encoder now, so a bad schema or an unreachable
	// registry is a start-up error rather than a worker failure.
	if _, err := schemas.NewDecoder(inCfg, bundle.Layout(), reg2); err != nil {
		return nil, fmt.Errorf("input decoder: %w", err)
	}
	enc, err := schemas.NewEncoder(ctx, outCfg, reg2)
	if err != nil {
		return nil, fmt.Errorf("output encoder: %w", err)
	}

	s := &service{bundle: bundle, reg: reg, done: make(chan struct{}), log: log}
	defer func() {
		if err != nil {
			s.closeDoor()
			s.closeBroker()
		}
	}()
	if cfg.Kafka.IsEmbedded() {
		e := cfg.Kafka.Embedded
		s.broker, err = embedded.Start(embedded.Config{DataDir: e.DataDir, Port: e.Port, Partitions: e.Partitions})
		if err != nil {
			return nil, err
		}
		cfg.Kafka.Brokers = s.broker.Addr()
		log.Warn("using the EMBEDDED broker: an in-process Kafka stand-in for trying things out, not for production",
			"addr", cfg.Kafka.Brokers, "data_dir", e.DataDir)
	}
	s.brokers = cfg.Kafka.Brokers

	newDecoder := func() (schemas.Decoder, error) { return schemas.NewDecoder(inCfg, bundle.Layout(), reg2) }
	pipe := &processor.Pipeline{Path: predict.New(bundle, newDecoder, enc, cfg.Output.EchoFeatures)}
	kp := kprom.NewMetrics("streamscore", kprom.Registerer(reg), kprom.Gatherer(reg))
	s.proc, err = processor.New(ctx, pcfg, cfg.Kafka, pipe, metrics, log, kgo.WithHooks(kp))
	if err != nil {
		return nil, err
	}

	if err := s.startDoor(ctx, cfg, log); err != nil {
		return nil, err
	}
	if cfg.HTTP.Listen != "" {
		s.httpLn, err = net.Listen("tcp", cfg.HTTP.Listen)
		if err != nil {
			return nil, fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err)
		}
		s.httpSrv = &http.Server{Handler: s.routes(cfg.HTTP.Pprof), ReadHeaderTimeout: 5 * time.Second}
	}
	s.start(ctx, cfg.Processor.ShutdownTimeout)
	log.Info("streamscore running", "brokers", s.brokers, "input", cfg.Input.Topic, "output", cfg.Output.Topic,
		"dlq", cfg.DLQ.Topic, "delivery", cfg.Processor.Delivery, "http", s.httpAddr(), "predict", s.doorAddr())
	return s, nil
}

func (s *service) httpAddr() string {
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

func (s *service) routes(withPprof bool) http.Handler {
	mux := adminMux(s.reg, s.proc.Ready, withPprof, "not ready: group not joined or broker unreachable")
	if s.door != nil && s.doorLn == nil {
		mux.Handle("/", s.door.Handler())
	}
	return mux
}

// start runs the processor and the HTTP server as one group.
func (s *service) start(ctx context.Context, shutdownTimeout time.Duration) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	setErr := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && s.err == nil {
			s.err = err
		}
		cancel()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		setErr(s.proc.Run(ctx))
	}()
	if s.httpSrv != nil {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := s.httpSrv.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				setErr(fmt.Errorf("http server: %w", err))
			}
		}()
		go func() {
			defer wg.Done()
			<-ctx.Done()
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			s.drainDoor(sctx)
			s.httpSrv.Shutdown(sctx)
		}()
	}
	if s.doorLn != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			setErr(s.door.Serve(ctx, s.doorLn, s.door.Handler()))
		}()
	}
	go func() {
		wg.Wait()
		cancel()
		s.closeDoor()
		s.closeBroker()
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
