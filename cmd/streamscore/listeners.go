package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	rungroup "github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamscore/streamscore/internal/bearer"
	"github.com/streamscore/streamscore/internal/reload"
)

// opsHTTP is the http section at run time, the same for run, serve and
// sink postgres: the listeners it names, opened before anything serves (a
// port in use is a start-up error) and serving HTTPS when http.tls is set;
// the public mux of http.listen (/metrics, /healthz, /readyz, GET
// /v1/models: where Prometheus and the kubelet look); and the admin mux,
// whose every route is behind the admin token (/debug/pprof, POST
// /admin/reload), on http.admin_listen or, without one, the public mux.
type opsHTTP struct {
	public  net.Listener // http.listen; nil: off
	admin   net.Listener // http.admin_listen; nil: the admin routes are on public
	predict net.Listener // http.predict_listen, when the command's door has its own

	publicMux *http.ServeMux
	adminMux  *http.ServeMux // publicMux when admin is nil
	guard     *bearer.Guard
	tls       bool
	log       *slog.Logger
}

// openHTTP checks the token file and the certificates of h, opens its
// listeners (http.predict_listen only when withPredict: the command serves
// its door there) and mounts pprof when http.pprof is on. Close it when
// the command returns.
func openHTTP(h httpConfig, withPredict bool, log *slog.Logger) (_ *opsHTTP, err error) {
	guard, err := bearer.New(h.AdminTokenFile, "http.admin_token_file", log)
	if err != nil {
		return nil, err
	}
	tc, adminTC, err := h.tlsConfigs()
	if err != nil {
		return nil, err
	}
	o := &opsHTTP{publicMux: http.NewServeMux(), guard: guard, tls: tc != nil, log: log}
	defer func() {
		if err != nil {
			o.close()
		}
	}()
	if o.public, err = listen("http.listen", h.Listen, tc); err != nil {
		return nil, err
	}
	if o.admin, err = listen("http.admin_listen", h.AdminListen, adminTC); err != nil {
		return nil, err
	}
	if withPredict {
		if o.predict, err = listen("http.predict_listen", h.Config.Listen, tc); err != nil {
			return nil, err
		}
	}
	o.adminMux = o.publicMux
	if o.admin != nil {
		o.adminMux = http.NewServeMux()
	}
	if guard.On() && o.public == nil && o.admin == nil {
		log.Warn("http.admin_token_file is set but http.listen and http.admin_listen are empty: the admin routes have no listener")
	}
	if h.Pprof { // Validate made sure a token guards it
		o.handleAdmin("/debug/pprof/", http.HandlerFunc(pprof.Index))
		o.handleAdmin("/debug/pprof/cmdline", http.HandlerFunc(cmdline))
		o.handleAdmin("/debug/pprof/profile", http.HandlerFunc(pprof.Profile))
		o.handleAdmin("/debug/pprof/symbol", http.HandlerFunc(pprof.Symbol))
		o.handleAdmin("/debug/pprof/trace", http.HandlerFunc(pprof.Trace))
	}
	return o, nil
}

// cmdline is pprof.Cmdline with the secrets given as flags redacted: an
// admin token lets one profile the service, not read its Kafka password.
func cmdline(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, strings.Join(redactArgs(os.Args), "\x00"))
}

// listen opens addr for the setting key ("" is off: nil), with TLS when tc
// is set.
func listen(key, addr string, tc *tls.Config) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", key, addr, err)
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	return ln, nil
}

// mountProbes adds /metrics, /healthz and /readyz to the public mux (ready
// says whether; readyText and notReady are the 200 and 503 bodies).
func (o *opsHTTP) mountProbes(reg *prometheus.Registry, ready func() bool, readyText, notReady string) {
	o.publicMux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	o.publicMux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	o.publicMux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, notReady, http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, readyText)
	})
}

// mountModels adds GET /v1/models to the public mux and POST /admin/reload
// to the admin mux.
func (o *opsHTTP) mountModels(rl *reload.Reloader) {
	o.publicMux.Handle(reload.RouteModels, rl.ModelsHandler())
	o.handleAdmin(reload.RouteReload, rl.AdminHandler())
}

// handleAdmin mounts h on the admin mux behind the admin token.
func (o *opsHTTP) handleAdmin(pattern string, h http.Handler) {
	o.adminMux.Handle(pattern, o.guard.Wrap(h))
}

// serve adds the public and the admin listener (those that are on) to g;
// before is addServer's.
func (o *opsHTTP) serve(g *rungroup.Group, before func(context.Context)) {
	if o.public != nil {
		addServer(g, o.public, o.publicMux, o.log, before)
	}
	o.serveAdmin(g)
}

// serveAdmin adds the admin listener, if any, to g.
func (o *opsHTTP) serveAdmin(g *rungroup.Group) {
	if o.admin != nil {
		addServer(g, o.admin, o.adminMux, o.log, nil)
	}
}

// url is the base URL of ln ("" when nil).
func (o *opsHTTP) url(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	if o.tls {
		return "https://" + ln.Addr().String()
	}
	return "http://" + ln.Addr().String()
}

func (o *opsHTTP) close() {
	for _, ln := range []net.Listener{o.public, o.admin, o.predict} {
		if ln != nil {
			ln.Close()
		}
	}
}

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// newOpsServer is the http.Server of the public and the admin listener:
// no write deadline, so a 30-second pprof profile is not cut; failed TLS
// handshakes and other server errors go to the service log.
func newOpsServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}

// addServer adds to g an actor serving h on ln until g is interrupted,
// then shutting down gracefully (open requests get 5s). before, if set,
// runs first with the same deadline (run drains its HTTP door there).
func addServer(g *rungroup.Group, ln net.Listener, h http.Handler, log *slog.Logger, before func(context.Context)) {
	srv := newOpsServer(h, log)
	g.Add(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server %s: %w", ln.Addr(), err)
		}
		return nil
	}, func(error) {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if before != nil {
			before(sctx)
		}
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("http server did not shut down cleanly", "addr", ln.Addr().String(), "err", err)
		}
	})
}
