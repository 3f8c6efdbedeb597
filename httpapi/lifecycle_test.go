package httpapi

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/streamscore/streamscore/internal/proctest"
)

// heldRequest is a POST /v1/predict whose body the test holds back, so the
// request stays in flight (admitted, reading its body) until release.
type heldRequest struct {
	pw   *io.PipeWriter
	done chan heldResult
}

type heldResult struct {
	code int
	body []byte
	err  error
}

func holdRequest(t *testing.T, url string) *heldRequest {
	t.Helper()
	pr, pw := io.Pipe()
	h := &heldRequest{pw: pw, done: make(chan heldResult, 1)}
	go func() {
		resp, b, err := proctest.HTTPDo(nil, "POST", url+"/v1/predict", pr, "Content-Type", "application/json")
		r := heldResult{body: b, err: err}
		if resp != nil {
			r.code = resp.StatusCode
		}
		h.done <- r
	}()
	t.Cleanup(func() { pw.CloseWithError(errors.New("test over")) })
	return h
}

// release sends the body and returns the answer.
func (h *heldRequest) release(t *testing.T) heldResult {
	t.Helper()
	if _, err := io.WriteString(h.pw, goodEvent); err != nil {
		t.Fatalf("write held body: %v", err)
	}
	h.pw.Close()
	select {
	case r := <-h.done:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("held request did not finish")
	}
	return heldResult{}
}

// waitReturn waits (30 s at most) for the error of what, which runs in a
// goroutine sending it on done, and fails the test unless it is nil.
func waitReturn(t *testing.T, what string, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not return", what)
	}
}

func waitInflight(t *testing.T, s *Server, n float64) {
	t.Helper()
	eventually(t, "in-flight requests", func() bool { return testutil.ToFloat64(s.m.inflight) == n })
}

func TestConcurrencyLimit(t *testing.T) {
	cfg := Defaults()
	cfg.MaxConcurrent = 1
	d := newTestDoor(t, cfg, Options{})
	held := holdRequest(t, d.url)
	waitInflight(t, d.Server, 1)

	code, hdr, body := do(t, "POST", d.url+"/v1/predict", "application/json", []byte(goodEvent))
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" || checkShape(body, "error:overloaded:request:") != nil {
		t.Errorf("past the limit: %d (Retry-After %q) %s, want 429 overloaded with Retry-After", code, hdr.Get("Retry-After"), body)
	}
	code, _, body = do(t, "POST", d.url+"/v2/models/fraud/infer", "application/json", []byte(`{"inputs":[]}`))
	if code != http.StatusTooManyRequests || !strings.HasPrefix(string(body), `{"error":"1 requests in flight`) {
		t.Errorf("infer past the limit: %d %s, want 429 with the OIP error", code, body)
	}
	// Health and metadata are not limited.
	if code, _, _ := do(t, "GET", d.url+"/v2/health/ready", "", nil); code != 200 {
		t.Errorf("ready at the limit: %d, want 200", code)
	}
	if r := held.release(t); r.err != nil || r.code != 200 {
		t.Fatalf("held request: %d %v %s", r.code, r.err, r.body)
	}
	waitInflight(t, d.Server, 0)
	if code, _, body := do(t, "POST", d.url+"/v1/predict", "application/json", []byte(goodEvent)); code != 200 {
		t.Errorf("after the held request: %d %s, want 200", code, body)
	}
	if n := testutil.ToFloat64(d.m.requests.WithLabelValues(RoutePredict, "429")); n != 1 {
		t.Errorf("requests_total{route=%s,code=429} = %v, want 1", RoutePredict, n)
	}
}

func TestDrain(t *testing.T) {
	d := newTestDoor(t, Defaults(), Options{})
	held := holdRequest(t, d.url)
	waitInflight(t, d.Server, 1)

	drained := make(chan error, 1)
	go func() { drained <- d.Drain(context.Background()) }()
	eventually(t, "draining", func() bool { return !d.Ready() })

	code, hdr, body := do(t, "POST", d.url+"/v1/predict", "application/json", []byte(goodEvent))
	if code != http.StatusServiceUnavailable || checkShape(body, "error:unavailable:request:") != nil || hdr.Get("Retry-After") == "" {
		t.Errorf("while draining: %d %s, want 503 unavailable with Retry-After", code, body)
	}
	if code, _, _ := do(t, "GET", d.url+"/v2/health/ready", "", nil); code != http.StatusServiceUnavailable {
		t.Errorf("ready while draining: %d, want 503", code)
	}
	if code, _, _ := do(t, "GET", d.url+"/v2/health/live", "", nil); code != 200 {
		t.Errorf("live while draining: %d, want 200", code)
	}
	select {
	case err := <-drained:
		t.Fatalf("Drain returned (%v) with a request in flight", err)
	default:
	}
	if r := held.release(t); r.err != nil || r.code != 200 || checkShape(r.body, "prediction") != nil {
		t.Fatalf("in-flight request during drain: %d %v %s, want its prediction", r.code, r.err, r.body)
	}
	waitReturn(t, "Drain", drained)
}

func TestDrainDeadline(t *testing.T) {
	d := newTestDoor(t, Defaults(), Options{})
	held := holdRequest(t, d.url)
	waitInflight(t, d.Server, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Drain(ctx); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "1 requests still in flight") {
		t.Errorf("Drain with a done context: %v, want the in-flight count and context.Canceled", err)
	}
	held.release(t)
}

// TestServeGracefulStop: Serve on a real listener; cancelling its context
// (SIGTERM in the binary) lets the in-flight request finish, then Serve
// returns and the listener is closed.
func TestServeGracefulStop(t *testing.T) {
	s, err := New(Defaults(), jsonPath(t, loadBundle(t, "fraud"), streamInput, false), testLogger(), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, s.Handler()) }()

	held := holdRequest(t, url)
	waitInflight(t, s, 1)
	cancel()
	eventually(t, "draining", func() bool { return !s.Ready() })
	if r := held.release(t); r.err != nil || r.code != 200 {
		t.Fatalf("in-flight request at stop: %d %v %s, want 200", r.code, r.err, r.body)
	}
	waitReturn(t, "Serve", served)
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("listener still accepts after Serve returned")
	}
}

// TestRequestTimeout: a body that does not arrive within
// http.request_timeout (the server's read timeout) answers 408.
func TestRequestTimeout(t *testing.T) {
	cfg := Defaults()
	cfg.RequestTimeout = 200 * time.Millisecond
	s, err := New(cfg, jsonPath(t, loadBundle(t, "fraud"), streamInput, false), testLogger(), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, s.Handler()) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Headers promise 100 bytes; 10 arrive.
	if _, err := io.WriteString(conn, "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"amount\":"); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufioReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || checkShape(b, "error:timeout:request:") != nil {
		t.Errorf("stalled body: %d %s, want 408 timeout", resp.StatusCode, b)
	}
	// The message names the setting, not the server's socket addresses.
	if msg := string(b); !strings.Contains(msg, "http.request_timeout 200ms") || strings.Contains(msg, "127.0.0.1") {
		t.Errorf("stalled body: %s, want a message naming http.request_timeout 200ms and no address", b)
	}
}
