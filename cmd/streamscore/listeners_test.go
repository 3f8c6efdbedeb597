package main

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rungroup "github.com/oklog/run"

	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/internal/tlsfiles"
	"github.com/streamscore/streamscore/internal/tlsfiles/tlstest"
)

// startOps opens and serves h's listeners with the probes and pprof
// mounted, until the test ends.
func startOps(t *testing.T, h httpConfig) *opsHTTP {
	t.Helper()
	ops, err := openHTTP(h, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ops.mountProbes(newRegistry(), func() bool { return true }, "ready\n", "not ready")
	var g rungroup.Group
	ops.serve(&g, nil)
	stop := make(chan struct{})
	g.Add(func() error { <-stop; return nil }, func(error) {})
	done := make(chan error, 1)
	go func() { done <- g.Run() }()
	t.Cleanup(func() {
		close(stop)
		if err := <-done; err != nil {
			t.Errorf("ops servers: %v", err)
		}
	})
	return ops
}

// get sends GET url with the bearer token (if any) through client.
func get(t *testing.T, client *http.Client, url, token string) (int, string, error) {
	t.Helper()
	var hdr []string
	if token != "" {
		hdr = []string{"Authorization", "Bearer " + token}
	}
	resp, b, err := proctest.HTTPDo(client, http.MethodGet, url, nil, hdr...)
	if resp == nil {
		return 0, "", err
	}
	return resp.StatusCode, string(b), err
}

// TestOpsRoutes: where each route is served, with and without an admin
// listener, and what the admin routes answer without and with the token.
func TestOpsRoutes(t *testing.T) {
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := http.DefaultClient
	t.Run("admin listener", func(t *testing.T) {
		ops := startOps(t, httpConfig{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", AdminTokenFile: token, Pprof: true})
		pub, adm := ops.url(ops.public), ops.url(ops.admin)
		for _, tc := range []struct {
			url, token string
			code       int
		}{
			{pub + "/metrics", "", 200},
			{pub + "/healthz", "", 200},
			{pub + "/readyz", "", 200},
			{pub + "/debug/pprof/", "tok", 404}, // not on the public listener, token or not
			{adm + "/debug/pprof/", "", 401},
			{adm + "/debug/pprof/", "wrong", 401},
			{adm + "/debug/pprof/", "tok", 200},
			{adm + "/debug/pprof/cmdline", "tok", 200},
			{adm + "/metrics", "", 404}, // the admin listener serves only the admin routes
		} {
			if code, body, err := get(t, c, tc.url, tc.token); err != nil || code != tc.code {
				t.Errorf("GET %s (token %q): %d %.100q %v, want %d", tc.url, tc.token, code, body, err, tc.code)
			}
		}
	})
	t.Run("one listener", func(t *testing.T) {
		ops := startOps(t, httpConfig{Listen: "127.0.0.1:0", AdminTokenFile: token, Pprof: true})
		pub := ops.url(ops.public)
		for _, tc := range []struct {
			path, token string
			code        int
		}{
			{"/metrics", "", 200},
			{"/debug/pprof/", "", 401},
			{"/debug/pprof/", "tok", 200},
		} {
			if code, body, err := get(t, c, pub+tc.path, tc.token); err != nil || code != tc.code {
				t.Errorf("GET %s (token %q): %d %.100q %v, want %d", tc.path, tc.token, code, body, err, tc.code)
			}
		}
	})
}

// TestOpsTLS: every listener serves HTTPS with http.tls; a client that
// trusts the CA gets through, one that does not is refused; with
// http.admin_client_ca_file the admin listener wants a client certificate
// and the public one does not.
func TestOpsTLS(t *testing.T) {
	ca, other := tlstest.NewCA(t, "ops"), tlstest.NewCA(t, "other")
	srv, client := ca.Server(t, "streamscore"), ca.Client(t, "sre")
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ops := startOps(t, httpConfig{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", AdminTokenFile: token, Pprof: true,
		AdminClientCAFile: ca.File, TLS: tlsfiles.ServerConfig{CertFile: srv.CertFile, KeyFile: srv.KeyFile}})
	pub, adm := ops.url(ops.public), ops.url(ops.admin)
	if !strings.HasPrefix(pub, "https://") || !strings.HasPrefix(adm, "https://") {
		t.Fatalf("urls %s %s, want https", pub, adm)
	}
	https := func(roots *tlstest.CA, pair *tlstest.Pair) *http.Client {
		tc := &tls.Config{RootCAs: roots.Pool()}
		if pair != nil {
			tc.Certificates = []tls.Certificate{pair.TLS(t)}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	}
	for _, tc := range []struct {
		name   string
		client *http.Client
		url    string
		code   int    // 0: refused at the handshake
		err    string // then the error says
	}{
		{"public, trusting client", https(ca, nil), pub + "/metrics", 200, ""},
		{"public, client trusting another CA", https(other, nil), pub + "/metrics", 0, "certificate signed by unknown authority"},
		{"public, plain HTTP", http.DefaultClient, "http" + strings.TrimPrefix(pub, "https") + "/metrics", 400, ""},
		{"admin, no client certificate", https(ca, nil), adm + "/debug/pprof/", 0, "certificate required"},
		{"admin, client certificate", https(ca, &client), adm + "/debug/pprof/", 200, ""},
	} {
		code, body, err := get(t, tc.client, tc.url, "tok")
		switch {
		case tc.code == 0 && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: HTTP %d %v, want the handshake refused with %q", tc.name, code, err, tc.err)
		case tc.code != 0 && (err != nil || code != tc.code):
			t.Errorf("%s: HTTP %d %.100q %v, want %d", tc.name, code, body, err, tc.code)
		}
	}
	// The token is still required over mutual TLS.
	if code, _, err := get(t, https(ca, &client), adm+"/debug/pprof/", ""); err != nil || code != 401 {
		t.Errorf("admin with a client certificate but no token: %d %v, want 401", code, err)
	}
}

// TestOpenHTTPErrors: what cannot be served is a start-up error naming
// the key.
func TestOpenHTTPErrors(t *testing.T) {
	ca := tlstest.NewCA(t, "ops")
	srv := ca.Server(t, "streamscore")
	taken := startOps(t, httpConfig{Listen: "127.0.0.1:0"})
	for _, tc := range []struct {
		name string
		h    httpConfig
		want string
	}{
		{"token file missing", httpConfig{Listen: "127.0.0.1:0", AdminTokenFile: "/nonexistent/token"}, "http.admin_token_file: open /nonexistent/token"},
		{"certificate missing", httpConfig{Listen: "127.0.0.1:0", TLS: tlsfiles.ServerConfig{CertFile: "/nonexistent.crt", KeyFile: srv.KeyFile}}, `http.tls.cert_file "/nonexistent.crt"`},
		{"client CA file missing", httpConfig{AdminListen: "127.0.0.1:0", AdminClientCAFile: "/nonexistent-ca.crt",
			TLS: tlsfiles.ServerConfig{CertFile: srv.CertFile, KeyFile: srv.KeyFile}}, `http.admin_client_ca_file "/nonexistent-ca.crt"`},
		{"port in use", httpConfig{Listen: "127.0.0.1:0", AdminListen: addrOf(taken.public)}, "http.admin_listen " + addrOf(taken.public)},
	} {
		ops, err := openHTTP(tc.h, false, slog.New(slog.DiscardHandler))
		if err == nil {
			ops.close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestPprofCmdlineRedactsSecrets: /debug/pprof/cmdline served the command
// line as is, so an admin token holder read a password given by flag.
func TestPprofCmdlineRedactsSecrets(t *testing.T) {
	for _, tc := range []struct {
		args, want []string
	}{
		{args: []string{"streamscore", "run", "--kafka.sasl.password", "pw-1", "--kafka.sasl.username", "u"},
			want: []string{"streamscore", "run", "--kafka.sasl.password", "[redacted]", "--kafka.sasl.username", "u"}},
		{args: []string{"streamscore", "run", "--registry.token=tok-2", "--sink.postgres.dsn", "postgres://u:pw-3@h/db"},
			want: []string{"streamscore", "run", "--registry.token=[redacted]", "--sink.postgres.dsn", "[redacted]"}},
		{args: []string{"streamscore", "run", "--registry.url", "https://u:pw-4@sr:8081", "--kafka.sasl.oauth.client_secret"},
			want: []string{"streamscore", "run", "--registry.url", "https://u:xxxxx@sr:8081", "--kafka.sasl.oauth.client_secret"}},
	} {
		if got := redactArgs(tc.args); !slices.Equal(got, tc.want) {
			t.Errorf("redactArgs(%q)\n got %q\nwant %q", tc.args, got, tc.want)
		}
	}
	saved := os.Args
	t.Cleanup(func() { os.Args = saved })
	os.Args = []string{"streamscore", "run", "--kafka.sasl.password=pw-5"}
	rec := httptest.NewRecorder()
	cmdline(rec, httptest.NewRequest("GET", "/debug/pprof/cmdline", nil))
	if got, want := rec.Body.String(), "streamscore\x00run\x00--kafka.sasl.password=[redacted]"; got != want {
		t.Errorf("/debug/pprof/cmdline: got %q, want %q", got, want)
	}
}
