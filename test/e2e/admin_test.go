package e2e

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/internal/tlsfiles/tlstest"
)

// request sends method url (with the bearer token, when set) through c and
// returns the status, the WWW-Authenticate header and the body.
func request(c *http.Client, method, url, token string) (code int, challenge, body string, err error) {
	hdr := []string{"Content-Type", "application/json"}
	if token != "" {
		hdr = append(hdr, "Authorization", "Bearer "+token)
	}
	resp, b, err := proctest.HTTPDo(c, method, url, strings.NewReader(`{"amount": 12.5, "merchant_category": "grocery", "country": "DE", "timestamp": "2026-02-07T03:12:00Z"}`), hdr...)
	if resp == nil {
		return 0, "", "", err
	}
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(b), err
}

// TestAdminListenerTLS starts `streamscore serve` with HTTPS on every
// listener, the admin routes on their own listener behind a token and
// mutual TLS, and checks from the outside: /metrics and /v1/predict over
// TLS on the public listener; pprof and reload 401 without the token, 200
// with it on the admin listener, 404 on the public one; an untrusted
// server certificate, a missing client certificate refused; a rotated token
// and a rotated certificate used without a restart.
func TestAdminListenerTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "e2e")
	first, second := ca.Server(t, "first"), ca.Server(t, "second")
	live := ca.Server(t, "live")
	sre := ca.Client(t, "sre")
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(token, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("first-token\n")
	tlstest.Rotate(t, live, first, time.Now().Add(-time.Minute))

	p := proctest.Start(t, "streamscore serve", proctest.Options{}, bin, "serve",
		"--model.bundle", filepath.Join(repoRoot, "examples", "fraud"), "--log.format", "json",
		"--http.listen", "127.0.0.1:0", "--http.admin_listen", "127.0.0.1:0",
		"--http.admin_token_file", token, "--http.pprof", "--http.admin_client_ca_file", ca.File,
		"--http.tls.cert_file", live.CertFile, "--http.tls.key_file", live.KeyFile)
	line := p.WaitLog(startTimeout, "streamscore serving")
	pub, _ := line["http"].(string)
	adm, _ := line["admin"].(string)
	if pub == "" || adm == "" || line["http_tls"] != true || line["predict"] != pub {
		t.Fatalf("start line %v: want http and admin addresses, http_tls true, predict on http", line)
	}
	client := func(roots *tlstest.CA, cert *tlstest.Pair) *http.Client {
		tc := &tls.Config{RootCAs: roots.Pool()}
		if cert != nil {
			tc.Certificates = []tls.Certificate{cert.TLS(t)}
		}
		// No keep-alive: every request is a new handshake, so a rotated
		// certificate shows at the next one.
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
	}
	trusting, withCert := client(ca, nil), client(ca, &sre)
	other := tlstest.NewCA(t, "other")

	proctest.Eventually(t, startTimeout, "/readyz 200 over TLS", func() error {
		code, _, body, err := request(trusting, http.MethodGet, "https://"+pub+"/readyz", "")
		if err != nil || code != 200 {
			return fmt.Errorf("HTTP %d %.200s %v", code, body, err)
		}
		return nil
	}, p)

	for _, tc := range []struct {
		name          string
		c             *http.Client
		method, url   string
		token         string
		code          int    // 0: refused at the handshake
		want          string // in the body, or in the handshake error
		wantChallenge bool
	}{
		{"metrics over TLS", trusting, "GET", "https://" + pub + "/metrics", "", 200, "streamscore_build_info", false},
		{"serve exports its lineup", trusting, "GET", "https://" + pub + "/metrics", "", 200, `streamscore_model_info{model="fraud",role="live",version="1.0.0"} 1`, false},
		{"predict over TLS", trusting, "POST", "https://" + pub + "/v1/predict", "", 200, `"model_version"`, false},
		{"models over TLS", trusting, "GET", "https://" + pub + "/v1/models", "", 200, `"role": "live"`, false},
		{"untrusted server certificate", client(other, nil), "GET", "https://" + pub + "/metrics", "", 0, "certificate signed by unknown authority", false},
		{"pprof on the public listener", trusting, "GET", "https://" + pub + "/debug/pprof/", "first-token", 404, "", false},
		{"reload on the public listener", trusting, "POST", "https://" + pub + "/admin/reload", "first-token", 404, "", false},
		{"admin without a client certificate", trusting, "GET", "https://" + adm + "/debug/pprof/", "first-token", 0, "certificate required", false},
		{"pprof without the token", withCert, "GET", "https://" + adm + "/debug/pprof/", "", 401, "a valid bearer token is required", true},
		{"pprof with a wrong token", withCert, "GET", "https://" + adm + "/debug/pprof/", "nope", 401, "a valid bearer token is required", true},
		{"pprof with the token", withCert, "GET", "https://" + adm + "/debug/pprof/", "first-token", 200, "goroutine", false},
		{"heap profile with the token", withCert, "GET", "https://" + adm + "/debug/pprof/heap", "first-token", 200, "", false},
		{"reload with the token", withCert, "POST", "https://" + adm + "/admin/reload", "first-token", 200, `"trigger": "admin"`, false},
		{"metrics on the admin listener", withCert, "GET", "https://" + adm + "/metrics", "", 404, "", false},
	} {
		code, challenge, body, err := request(tc.c, tc.method, tc.url, tc.token)
		switch {
		case tc.code == 0:
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: HTTP %d %v, want the handshake refused with %q", tc.name, code, err, tc.want)
			}
		case err != nil || code != tc.code || !strings.Contains(body, tc.want):
			t.Errorf("%s: HTTP %d %.200q %v, want %d with %q", tc.name, code, body, err, tc.code, tc.want)
		case tc.wantChallenge != strings.HasPrefix(challenge, "Bearer "):
			t.Errorf("%s: WWW-Authenticate %q", tc.name, challenge)
		}
	}

	// The token file is read at every request: the rotated token works at
	// once, the old one stops.
	write("second-token\n")
	if code, _, _, err := request(withCert, "GET", "https://"+adm+"/debug/pprof/cmdline", "first-token"); err != nil || code != 401 {
		t.Errorf("old token after rotation: HTTP %d %v, want 401", code, err)
	}
	if code, _, _, err := request(withCert, "GET", "https://"+adm+"/debug/pprof/cmdline", "second-token"); err != nil || code != 200 {
		t.Errorf("new token after rotation: HTTP %d %v, want 200", code, err)
	}

	// A certificate renewed in place is presented at the next handshake.
	presented := func() string {
		resp, _ := proctest.HTTP(t, trusting, "GET", "https://"+pub+"/healthz", nil)
		return resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	if got := presented(); got != "first" {
		t.Fatalf("certificate %q before the rotation, want first", got)
	}
	tlstest.Rotate(t, live, second, time.Now())
	if got := presented(); got != "second" {
		t.Errorf("certificate %q after the rotation, want second (no restart)", got)
	}

	if code := p.Stop(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	for _, secret := range []string{"first-token", "second-token"} {
		if strings.Contains(p.Stderr.String()+p.Stdout.String(), secret) {
			t.Errorf("the output shows the token %q", secret)
		}
	}
	for _, want := range []string{`"msg":"admin request refused: no valid bearer token"`, `"msg":"admin request"`} {
		if !strings.Contains(p.Stderr.String(), want) {
			t.Errorf("the log has no %s line", want)
		}
	}
}

// TestAdminNeedsToken: http.pprof without http.admin_token_file is refused
// at start with one line, and so is the old key model.reload_token_file.
func TestAdminNeedsToken(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"pprof without a token", []string{"--http.pprof"}, nil,
			"http.pprof is on but http.admin_token_file is empty: /debug/pprof is served only behind the admin token"},
		{"the renamed key", nil, []string{"STREAMSCORE_MODEL_RELOAD_TOKEN_FILE=/t"},
			"unknown environment variable STREAMSCORE_MODEL_RELOAD_TOKEN_FILE (renamed: use STREAMSCORE_HTTP_ADMIN_TOKEN_FILE)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--model.bundle", filepath.Join(repoRoot, "examples", "fraud"), "--http.listen", "127.0.0.1:0"}, tc.args...)
			_, stderr, code := runCLI(t, time.Minute, tc.env, args...)
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant a non-zero exit and %q", code, stderr, tc.want)
			}
			if n := len(strings.Split(strings.TrimSpace(stderr), "\n")); n != 1 {
				t.Errorf("stderr has %d lines, want one:\n%s", n, stderr)
			}
		})
	}
}
