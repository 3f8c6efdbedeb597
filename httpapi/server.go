package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/predict"
)

// Route patterns: the handler's routes and the values of the route label.
const (
	RoutePredict        = "/v1/predict"
	RouteOpenAPI        = "/openapi.json"
	RouteLive           = "/v2/health/live"
	RouteReady          = "/v2/health/ready"
	RouteServerMeta     = "/v2"
	RouteModelMeta      = "/v2/models/{name}"
	RouteModelVerMeta   = "/v2/models/{name}/versions/{version}"
	RouteModelReady     = "/v2/models/{name}/ready"
	RouteModelVerReady  = "/v2/models/{name}/versions/{version}/ready"
	RouteInfer          = "/v2/models/{name}/infer"
	RouteModelVerInfer  = "/v2/models/{name}/versions/{version}/infer"
	RouteModels         = "/v1/models" // Options.Models: the lineup serving now
	routeOther          = "other"      // any path no route matches
	chunkEvents         = 512          // events per predict.Batch.Run
	retryAfterOverload  = "1"          // seconds, the Retry-After of a 429
	retryAfterDraining  = "5"          // seconds, the Retry-After of a 503 while draining or not ready
	readHeaderTimeout   = 5 * time.Second
	writeTimeoutPadding = 5 * time.Second // past the request timeout, to write the 503 that says so
)

// HeaderDoor names the door a logged prediction came through. (The stream's
// header names are in package processor; this one is only written here.)
const HeaderDoor = "streamscore-door"

// Log is where HTTP predictions are also produced (http.log_to_topic): the
// output topic for predictions, the DLQ topic for rejected events, with the
// stream's headers plus streamscore-door: http.
type Log struct {
	Client      *kgo.Client
	OutputTopic string
	DLQTopic    string
}

// Options are what a Server needs besides its Config and the path.
type Options struct {
	Log     *Log   // nil: predictions are not logged (Config.LogToTopic must be false)
	Version string // the server version GET /v2 reports
	// Models serves GET /v1/models: the models serving now, their load
	// times and checksums (the service's reloader). nil: no such route.
	Models http.Handler
	// DriftWindow is monitor.drift_window: the span of the door's drift PSI
	// gauges (0: no drift monitoring). RunDrift recomputes them.
	DriftWindow time.Duration
}

// Server is the HTTP door. It is safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	quality *predict.Quality         // shared with the stream's in run (same registry)
	preds   *predict.DoorPredictions // the door's series of the prediction metrics (shared families in run)
	opt     Options
	handler http.Handler
	model   atomic.Pointer[model]

	mu       sync.Mutex
	active   int           // prediction requests in flight
	draining bool          // Drain was called: prediction requests get 503
	drained  chan struct{} // closed when active drops to 0 while draining
}

// New returns the door for path (nil: not ready, prediction requests get
// 503 until SetPath). Metrics are registered on reg (nil: not registered).
func New(cfg Config, path *predict.Path, log *slog.Logger, reg prometheus.Registerer, opt Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.LogToTopic && (opt.Log == nil || opt.Log.Client == nil || opt.Log.OutputTopic == "") {
		return nil, errors.New("http.log_to_topic: no Kafka client or output topic given")
	}
	if !cfg.LogToTopic {
		opt.Log = nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, m: newMetrics(reg), quality: predict.NewQuality(reg),
		preds: predict.NewPredictions(reg).ForDoor(predict.DoorHTTP), opt: opt}
	if err := s.SetPath(path); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// Path is the path requests are scored by now (nil: none).
func (s *Server) Path() *predict.Path {
	if md := s.model.Load(); md != nil {
		return md.path
	}
	return nil
}

// SetPath makes path the one every later request is scored by (nil: not
// ready). Requests in flight finish on the path they started with; the
// OIP model metadata, the OpenAPI document and the logged records' model
// header follow it. The model reloader calls it on every swap; the path
// that serves already (a swap of the canary or the shadow only) keeps its
// model, and so its drift window. The door's lineup is its one model: the
// prediction series of a version that left it are deleted at the swap
// after (as the stream's are).
//
// SetPath is not safe for concurrent use with itself (the reloader calls
// it from one goroutine).
func (s *Server) SetPath(path *predict.Path) error {
	if path == nil {
		s.model.Store(nil)
		return nil
	}
	if cur := s.model.Load(); cur != nil && cur.path == path {
		return nil
	}
	md, err := newModel(path, s.cfg, s.quality, s.preds, s.opt.DriftWindow)
	if err != nil {
		return err
	}
	s.model.Store(md)
	s.preds.Lineup(path)
	return nil
}

// Handler serves every route of the door. Paths no route matches get a JSON
// 404, so mount it as the catch-all ("/") of a shared mux.
func (s *Server) Handler() http.Handler { return s.handler }

// Ready reports whether a model is loaded and the door is not draining.
func (s *Server) Ready() bool {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	return !draining && s.model.Load() != nil
}

// Drain stops taking prediction requests (new ones get 503) and waits until
// those in flight finished or ctx is done.
func (s *Server) Drain(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	if s.active == 0 {
		s.mu.Unlock()
		return nil
	}
	if s.drained == nil {
		s.drained = make(chan struct{})
	}
	ch := s.drained
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("http drain: %d requests still in flight: %w", s.inflight(), ctx.Err())
	}
}

func (s *Server) inflight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// HTTPServer returns an http.Server for h with the door's connection
// timeouts. The read and write deadlines of a prediction request are set
// per request (see limited), so admin routes mounted beside the door (a
// 30-second pprof profile) are not cut by them.
func (s *Server) HTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Serve serves h (the door's Handler, or a mux that mounts it) on ln until
// ctx is done, then drains: new prediction requests get 503, those in
// flight finish (within ShutdownTimeout), and the server shuts down.
func (s *Server) Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := s.HTTPServer(h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	return s.Shutdown(srv, errc)
}

// DriftRefresh is how often RunDrift recomputes the drift gauges.
const DriftRefresh = 5 * time.Second

// RunDrift recomputes the live model's drift PSI gauges every DriftRefresh
// until ctx is done (the stream's lag loop does the same for the stream's),
// so a scrape costs nothing and the gauges follow the window even when no
// request comes. It always returns nil.
func (s *Server) RunDrift(ctx context.Context) error {
	t := time.NewTicker(DriftRefresh)
	defer t.Stop()
	for {
		s.RefreshDrift(time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RefreshDrift recomputes the live model's drift gauges as of now.
func (s *Server) RefreshDrift(now time.Time) {
	if md := s.model.Load(); md != nil {
		md.drift.Refresh(now)
	}
}

// Shutdown drains the door and shuts srv down within ShutdownTimeout; errc
// is where srv.Serve's result arrives.
func (s *Server) Shutdown(srv *http.Server, errc <-chan error) error {
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	derr := s.Drain(sctx)
	serr := srv.Shutdown(sctx)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return errors.Join(derr, serr, err)
	}
	return errors.Join(derr, serr)
}

// enter admits a prediction request: it fails when draining or at the
// concurrency limit.
func (s *Server) enter() (ok bool, draining bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false, true
	}
	if s.active >= s.cfg.MaxConcurrent {
		return false, false
	}
	s.active++
	return true, false
}

func (s *Server) leave() {
	s.mu.Lock()
	s.active--
	if s.active == 0 && s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
	s.mu.Unlock()
}

// routes builds the mux. Every route is registered without a method so a
// wrong method gets this package's JSON 405 (with Allow) instead of the
// mux's text one.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	predictRoute := func(pattern string, h func(http.ResponseWriter, *http.Request, *model), oip bool) {
		mux.Handle(pattern, s.instrument(pattern, oip, s.method(http.MethodPost, oip, s.limited(oip, h))))
	}
	getRoute := func(pattern string, h http.HandlerFunc, oip bool) {
		mux.Handle(pattern, s.instrument(pattern, oip, s.method(http.MethodGet, oip, h)))
	}
	predictRoute(RoutePredict, s.servePredict, false)
	predictRoute(RouteInfer, s.serveInfer, true)
	predictRoute(RouteModelVerInfer, s.serveInfer, true)
	getRoute(RouteOpenAPI, s.serveOpenAPI, false)
	getRoute(RouteLive, s.serveLive, true)
	getRoute(RouteReady, s.serveReady, true)
	getRoute(RouteServerMeta, s.serveServerMeta, true)
	getRoute(RouteModelMeta, s.serveModelMeta, true)
	getRoute(RouteModelVerMeta, s.serveModelMeta, true)
	getRoute(RouteModelReady, s.serveModelReady, true)
	getRoute(RouteModelVerReady, s.serveModelReady, true)
	if s.opt.Models != nil {
		getRoute(RouteModels, s.opt.Models.ServeHTTP, false)
	}
	mux.Handle("/", s.instrument(routeOther, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, ReasonNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	})))
	return mux
}

// instrument counts and times every request of route and turns a panic in
// a handler into a 500 (predict.Batch recovers per record; this is the last
// line for bugs in the door itself), in the OIP error shape on oip routes.
func (s *Server) instrument(route string, oip bool, h http.Handler) http.Handler {
	dur := s.m.duration.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("http handler panicked", "route", route, "panic", fmt.Sprint(v))
				if rec.code == 0 {
					s.fail(rec, oip, http.StatusInternalServerError, ReasonInternal, fmt.Sprintf("internal error: %v", v))
				}
			}
			code := rec.code
			if code == 0 {
				code = http.StatusOK
			}
			s.m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
			dur.Observe(time.Since(start).Seconds())
		}()
		h.ServeHTTP(rec, r)
	})
}

// method answers 405 with Allow for any method but want (and HEAD for GET).
func (s *Server) method(want string, oip bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == want || (want == http.MethodGet && r.Method == http.MethodHead) {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Allow", want)
		s.fail(w, oip, http.StatusMethodNotAllowed, ReasonMethodNotAllowed,
			fmt.Sprintf("method %s not allowed on %s; use %s", r.Method, r.URL.Path, want))
	})
}

// fail answers a request-level error: the OIP error shape on oip routes,
// the error object on the others.
func (s *Server) fail(w http.ResponseWriter, oip bool, code int, reason Reason, msg string) {
	if oip {
		writeOIPError(w, code, msg)
		return
	}
	writeError(w, code, reason, msg)
}

// limited admits a prediction request (429 past max_concurrent, 503 while
// draining or without a model) and bounds it by the request timeout.
func (s *Server) limited(oip bool, h func(http.ResponseWriter, *http.Request, *model)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, draining := s.enter()
		if !ok {
			if draining {
				w.Header().Set("Retry-After", retryAfterDraining)
				w.Header().Set("Connection", "close")
				s.fail(w, oip, http.StatusServiceUnavailable, ReasonUnavailable, "shutting down: not taking new requests")
				return
			}
			w.Header().Set("Retry-After", retryAfterOverload)
			s.fail(w, oip, http.StatusTooManyRequests, ReasonOverloaded,
				fmt.Sprintf("%d requests in flight (http.max_concurrent): retry later", s.cfg.MaxConcurrent))
			return
		}
		s.m.inflight.Inc()
		defer func() {
			s.m.inflight.Dec()
			s.leave()
		}()
		md := s.model.Load()
		if md == nil {
			w.Header().Set("Retry-After", retryAfterDraining)
			s.fail(w, oip, http.StatusServiceUnavailable, ReasonUnavailable, "no model loaded yet")
			return
		}
		// The body must arrive within the request timeout, and the answer
		// (a 503 that says it timed out included) be written a little after.
		// Writers that cannot set deadlines (tests' recorders) go without.
		now := time.Now()
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(now.Add(s.cfg.RequestTimeout))
		_ = rc.SetWriteDeadline(now.Add(s.cfg.RequestTimeout + writeTimeoutPadding))
		// The connection may serve an admin route next: no deadline left over.
		defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		h(w, r.WithContext(ctx), md)
	})
}

// recorder remembers the status code written.
type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// bodyProblem says why the door cannot read r's body, "" when it can: a
// content type other than application/json (any parameters; with
// alsoOctets also application/octet-stream) or none at all (many clients
// send none; the body is parsed as JSON either way), or a Content-Encoding
// (gzip, ...): the door does not decompress, and a compressed body read as
// JSON would be a misleading 400.
func bodyProblem(r *http.Request, alsoOctets bool) string {
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return fmt.Sprintf("content encoding %q: the door does not decompress; send the body uncompressed", ce)
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return ""
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil && (mt == contentJSON || (alsoOctets && mt == contentOctets)) {
		return ""
	}
	if alsoOctets {
		return fmt.Sprintf("content type %q: send application/json (or application/octet-stream with %s)", ct, headerInferLength)
	}
	return fmt.Sprintf("content type %q: send application/json", ct)
}

// tooManyEvents is the 413's message for a request past http.max_events.
func tooManyEvents(limit int) string {
	return fmt.Sprintf("more than http.max_events (%d) events in one request: send them in several requests", limit)
}

// errBodyTooLarge and errBodyTimeout classify readBody's failures.
var (
	errBodyTooLarge = errors.New("request body too large")
	errBodyTimeout  = errors.New("request body not received in time")
)

// readBody reads the whole body within the size limit into buf.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, buf []byte) ([]byte, error) {
	limit := s.cfg.MaxBodyBytes
	if r.ContentLength > int64(limit) {
		return buf, fmt.Errorf("%w: %d bytes (Content-Length) past http.max_body_bytes %d", errBodyTooLarge, r.ContentLength, limit)
	}
	body := http.MaxBytesReader(w, r.Body, int64(limit))
	if r.ContentLength > 0 && cap(buf) < int(r.ContentLength) {
		buf = make([]byte, 0, r.ContentLength)
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			var ne net.Error
			switch {
			case errors.As(err, &mbe):
				return buf, fmt.Errorf("%w: past http.max_body_bytes %d", errBodyTooLarge, limit)
			case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
				// Not err's text: it names the server's socket addresses.
				return buf, fmt.Errorf("%w: %d bytes arrived within http.request_timeout %s", errBodyTimeout, len(buf), s.cfg.RequestTimeout)
			}
			return buf, fmt.Errorf("reading the request body: %w", err)
		}
	}
}

// bodyStatus maps a readBody error onto a status and reason.
func bodyStatus(err error) (int, Reason) {
	switch {
	case errors.Is(err, errBodyTooLarge):
		return http.StatusRequestEntityTooLarge, ReasonTooLarge
	case errors.Is(err, errBodyTimeout):
		return http.StatusRequestTimeout, ReasonTimeout
	}
	return http.StatusBadRequest, ReasonBadRequest
}
