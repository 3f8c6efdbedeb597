package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	rungroup "github.com/oklog/run" // package main has its own run()
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/streamscore/streamscore/httpapi"
	"github.com/streamscore/streamscore/internal/metric"
	"github.com/streamscore/streamscore/internal/reload"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/schemas"
)

func newServeCmd() *cobra.Command {
	// serve scores HTTP bodies with the stream's input settings and logs to
	// the stream's topics; it has no processor section.
	return serviceCmd("serve", "Serve predictions over HTTP: /v1/predict, Open Inference Protocol v2, /openapi.json", `serve loads the bundle in model.bundle and answers prediction requests over
HTTP with the stream's own code path (decoder with the input.* settings,
features, model, policy, JSON prediction record): POST /v1/predict, the Open
Inference Protocol v2 REST API and GET /openapi.json (docs/http.md). It joins
no consumer group and needs no Kafka unless http.log_to_topic is on.

The API listens on http.predict_listen, or on http.listen beside /metrics,
/healthz and /readyz when that is empty; the admin routes (POST /admin/reload,
/debug/pprof) are on http.admin_listen, or http.listen, behind the token of
http.admin_token_file; http.tls.* turns every listener to HTTPS
(docs/operations.md, "HTTP listeners"). SIGINT/SIGTERM drains: new requests
get 503, those in flight finish (http.shutdown_timeout).`,
		// A serve pod that logs nothing to Kafka may share a config file
		// whose kafka.* files (CA, password) it does not have.
		serve, map[string]func(*Config) bool{"kafka": func(c *Config) bool { return c.HTTP.LogToTopic }},
		"kafka", "input", "output", "dlq", "model", "monitor", "http", "log")
}

// serve runs the HTTP door alone until ctx is done, with the model
// reloader: it swaps the door's model when the live bundle changes. The
// canary and the shadow are the stream's: serve scores with model.bundle.
func serve(ctx context.Context, cfg *Config, log *slog.Logger) error {
	if cfg.HTTP.Listen == "" && cfg.HTTP.Config.Listen == "" {
		return errors.New("serve: http.listen and http.predict_listen are both empty: nowhere to serve")
	}
	if strings.TrimSpace(cfg.Model.Bundle) == "" {
		return fmt.Errorf("model.bundle is not set: set it to a bundle directory (--model.bundle, %s or the config file)", envName("model.bundle"))
	}
	if cfg.HTTP.LogToTopic {
		if cfg.Kafka.isEmbedded() {
			return errors.New("http.log_to_topic: serve starts no embedded broker; set kafka.brokers")
		}
		if err := cfg.needBrokers(); err != nil {
			return fmt.Errorf("http.log_to_topic: %w", err)
		}
	}
	if cfg.Model.Canary != "" || cfg.Model.Shadow != "" {
		log.Warn("model.canary and model.shadow are the stream's (streamscore run): serve scores every request with model.bundle")
	}
	reg := newRegistry()
	doorPaths, err := newDoorPaths(ctx, cfg)
	if err != nil {
		return err
	}
	rl, err := newReloader(cfg, log, reload.NewMetrics(reg), doorPaths.check, true) // serve has no canary or shadow
	if err != nil {
		return err
	}
	first, err := rl.Load(ctx)
	if err != nil {
		return err
	}
	door, closeDoor, err := newHTTPDoor(ctx, cfg, doorPaths.path(first.Live), rl, log, reg, true)
	if err != nil {
		return err
	}
	defer closeDoor()
	if err := rl.Start(first, func(lu *reload.Lineup) error {
		if err := door.SetPath(doorPaths.path(lu.Live)); err != nil {
			return err
		}
		doorPaths.remember(lu)
		return nil
	}); err != nil {
		return err
	}

	ops, err := openHTTP(cfg.HTTP, cfg.HTTP.Config.Listen != "", log)
	if err != nil {
		return err
	}
	defer ops.close()
	ops.mountProbes(reg, door.Ready, "ready\n", "not ready: no model or shutting down")
	ops.mountModels(rl)

	// One run group: the first actor to return (the door, drained, once
	// ctx is done) interrupts the others.
	var g rungroup.Group
	dctx, stopDoor := context.WithCancel(ctx)
	defer stopDoor()
	doorLn, doorMux := ops.predict, door.Handler()
	if doorLn == nil { // the door shares http.listen with the probes and serves it
		doorLn, doorMux = ops.public, ops.publicMux
		ops.publicMux.Handle("/", door.Handler())
		ops.serveAdmin(&g)
	} else {
		ops.serve(&g, nil)
	}
	g.Add(func() error { return door.Serve(dctx, doorLn, doorMux) }, func(error) { stopDoor() })
	rctx, stopDrift := context.WithCancel(context.Background()) // stops with the door
	defer stopDrift()
	g.Add(func() error { return door.RunDrift(rctx) }, func(error) { stopDrift() })
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	g.Add(func() error { return rl.Run(wctx) }, func(error) { stopWatch() })
	log.Info("streamscore serving", "predict", addrOf(doorLn), "http", addrOf(ops.public), "admin", addrOf(ops.admin),
		"http_tls", ops.tls, "log_to_topic", cfg.HTTP.LogToTopic, "output", cfg.Output.Topic, "model", first.Live.Ref())
	if err := g.Run(); err != nil {
		return err
	}
	log.Info("streamscore stopped")
	return nil
}

// newHTTPDoor builds the HTTP door serving path (made by newDoorPaths),
// with GET /v1/models from the reloader. With http.log_to_topic it makes
// the Kafka client of the prediction log (with kprom metrics when
// withKprom: run has them on its own client). The returned func closes that
// client.
func newHTTPDoor(ctx context.Context, cfg *Config, path *predict.Path, rl *reload.Reloader, log *slog.Logger, reg prometheus.Registerer, withKprom bool) (*httpapi.Server, func(), error) {
	hc := cfg.HTTP.Config
	if err := hc.Validate(); err != nil {
		return nil, nil, err
	}
	opt := httpapi.Options{Version: version, Models: rl.ModelsHandler(), DriftWindow: cfg.Monitor.Window}
	closeFn := func() {}
	if hc.LogToTopic {
		if f := cfg.Output.Format; f != "" && f != schemas.FormatJSON {
			return nil, nil, fmt.Errorf("http.log_to_topic: output.format is %q; the HTTP door logs the JSON prediction record it answers, so it needs output.format json", f)
		}
		opts, err := processor.ClientOpts(cfg.Kafka.KafkaConfig)
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, httpapi.ClientOpts(hc)...)
		if withKprom {
			opts = append(opts, kgo.WithHooks(kprom.NewMetrics("streamscore", kprom.Registerer(reg))))
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("http.log_to_topic: kafka client: %w", err)
		}
		if err := checkTopics(ctx, cl, hc.RequestTimeout, cfg.Output.Topic, cfg.DLQ.Topic); err != nil {
			cl.Close()
			return nil, nil, fmt.Errorf("http.log_to_topic: %w", err)
		}
		opt.Log = &httpapi.Log{Client: cl, OutputTopic: cfg.Output.Topic, DLQTopic: cfg.DLQ.Topic}
		closeFn = cl.Close
	}
	door, err := httpapi.New(hc, path, log, reg, opt)
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	return door, closeFn, nil
}

// checkTopics fails when a topic the log writes to does not exist, so a
// typo is a start-up error instead of a 503 on every request.
func checkTopics(ctx context.Context, cl *kgo.Client, timeout time.Duration, topics ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	td, err := kadm.NewClient(cl).ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("looking up topics %v: %w", topics, err)
	}
	for _, t := range topics {
		if d, ok := td[t]; !ok || d.Err != nil {
			return fmt.Errorf("topic %s does not exist (create it, or run `streamscore run` with processor.create_topics once)", t)
		}
	}
	return nil
}

// newRegistry is the service's metrics registry with the Go, process and
// build metrics every command exposes.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metric.New(reg).Gauges("build_info", "Build of the running binary (always 1).", "version", "revision", "goversion").
		WithLabelValues(buildVersion(), revision(), runtime.Version()).Set(1)
	return reg
}

// startDoor builds the HTTP door of `run` when http.predict is on, serving
// live through doorPaths (openHTTP opens its listener).
func (s *service) startDoor(ctx context.Context, cfg *Config, doorPaths *pathMaker, live *reload.Model, log *slog.Logger) (err error) {
	if !cfg.HTTP.Predict {
		return nil
	}
	if cfg.HTTP.Config.Listen == "" && cfg.HTTP.Listen == "" {
		return errors.New("http.predict: http.listen and http.predict_listen are both empty: nowhere to serve")
	}
	s.door, s.closeDr, err = newHTTPDoor(ctx, cfg, doorPaths.path(live), s.reloader, log, s.reg, false)
	return err
}

// drainDoor drains the door when it shares http.listen (on its own
// listener, Serve drains it).
func (s *service) drainDoor(ctx context.Context) {
	if s.door != nil && s.http.predict == nil {
		if err := s.door.Drain(ctx); err != nil {
			s.log.Warn("http door drain", "err", err)
		}
	}
}

func (s *service) closeDoor() {
	if s.closeDr != nil {
		s.closeDr()
		s.closeDr = nil
	}
}

func (s *service) doorAddr() string {
	switch {
	case s.http.predict != nil:
		return addrOf(s.http.predict)
	case s.door != nil:
		return s.httpAddr()
	}
	return ""
}
