package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, append(kafkatest.IgnoreClosing(),
		// Idle keep-alive connections of http.DefaultTransport.
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
	)...)
}

var (
	bundlesMu sync.Mutex
	bundles   = map[string]*scoring.Bundle{}
)

// loadBundle loads examples/<name> once per test binary.
func loadBundle(t testing.TB, name string) *scoring.Bundle {
	t.Helper()
	bundlesMu.Lock()
	defer bundlesMu.Unlock()
	if b := bundles[name]; b != nil {
		return b
	}
	b, err := scoring.Load(filepath.Join("..", "examples", name))
	if err != nil {
		t.Fatalf("load examples/%s: %v", name, err)
	}
	bundles[name] = b
	return b
}

// streamInput is the input configuration the tests give the stream, the
// file door and the HTTP door alike.
var streamInput = schemas.InputConfig{Format: schemas.FormatJSON, EventIDField: "transaction_id"}

// jsonPath is the path every door builds for b: the stream's JSON decoder
// with in, the JSON prediction encoder.
func jsonPath(t testing.TB, b *scoring.Bundle, in schemas.InputConfig, echo bool) *predict.Path {
	t.Helper()
	enc, err := schemas.NewEncoder(context.Background(), schemas.OutputConfig{Format: schemas.FormatJSON, EchoFeatures: echo}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return predict.New(b, func() (schemas.Decoder, error) { return schemas.NewDecoder(in, b.Layout(), nil) }, enc, echo)
}

func testLogger() *slog.Logger {
	if os.Getenv("STREAMSCORE_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testDoor is a Server on the fraud bundle behind an httptest server.
type testDoor struct {
	*Server
	reg *prometheus.Registry
	url string
}

func newTestDoor(t testing.TB, cfg Config, opt Options) *testDoor {
	t.Helper()
	return newTestDoorIn(t, cfg, streamInput, opt)
}

// newTestDoorIn is newTestDoor with the input settings in.
func newTestDoorIn(t testing.TB, cfg Config, in schemas.InputConfig, opt Options) *testDoor {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(cfg, jsonPath(t, loadBundle(t, "fraud"), in, false), testLogger(), reg, opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return &testDoor{Server: s, reg: reg, url: ts.URL}
}

// do sends one request and returns the status, headers and body.
func do(t testing.TB, method, url, ctype string, body []byte, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	if ctype != "" {
		hdr = append([]string{"Content-Type", ctype}, hdr...)
	}
	resp, b := proctest.HTTP(t, nil, method, url, bytes.NewReader(body), hdr...)
	return resp.StatusCode, resp.Header, b
}

// readReference is the reference rows of examples/<name>.
func readReference(t testing.TB, name string) []scoring.ReferenceRow {
	t.Helper()
	refs, err := scoring.ReadReference(filepath.Join("..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return refs
}

// errorObject is the error object of the door.
type errorObject struct {
	Error struct {
		Reason  string  `json:"reason"`
		Stage   string  `json:"stage"`
		Field   *string `json:"field"`
		Message string  `json:"message"`
	} `json:"error"`
}

// decodeStrict decodes b into v, failing on unknown fields.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// eventually waits (30 s at most) until cond holds: proctest.Eventually
// for a condition without an error to report.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	proctest.Eventually(t, 30*time.Second, what, func() error {
		if cond() {
			return nil
		}
		return errors.New("not yet")
	})
}

// panicDecoder is a decoder with a bug: it panics on every event.
type panicDecoder struct{}

func (panicDecoder) Decode([]byte, *features.Row) (schemas.Meta, error) { panic("decoder bug") }

func panickyPath(t testing.TB) *predict.Path {
	t.Helper()
	b := loadBundle(t, "fraud")
	enc, err := schemas.NewEncoder(context.Background(), schemas.OutputConfig{Format: schemas.FormatJSON}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return predict.New(b, func() (schemas.Decoder, error) { return panicDecoder{}, nil }, enc, false)
}

func newRequest(method, path, body string) *http.Request {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }
