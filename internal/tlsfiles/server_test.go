package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/tlsfiles/tlstest"
)

// serveTLS accepts connections on 127.0.0.1 with tc and completes their
// handshakes until the test ends. It returns the address.
func serveTLS(t *testing.T, tc *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			sc := tls.Server(c, tc)
			sc.SetDeadline(time.Now().Add(10 * time.Second))
			sc.Handshake() // the client reports the outcome
			sc.Close()
		}
	}()
	return ln.Addr().String()
}

// handshake connects to addr trusting roots (with client certificate
// pair, if any) and returns the common name of the server's certificate.
func handshake(addr string, roots *x509.CertPool, pair *tlstest.Pair) (string, error) {
	cc := &tls.Config{RootCAs: roots, ServerName: "localhost"}
	if pair != nil {
		cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
		if err != nil {
			return "", err
		}
		// Sent even when the server names other CAs (Certificates would be
		// left out then), so the server's own verdict is what is tested.
		cc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cc)
	if err != nil {
		return "", err
	}
	defer c.Close()
	// In TLS 1.3 the server's verdict on a client certificate arrives after
	// the client's handshake: a read sees it (or EOF when accepted).
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
}

// TestServer: a client that trusts the CA gets through, one that does not
// is refused; a certificate rotated in place is presented at the next
// handshake, and a half-written rotation keeps the last good one.
func TestServer(t *testing.T) {
	ca, other := tlstest.NewCA(t, "test"), tlstest.NewCA(t, "other")
	first, second := ca.Server(t, "first"), ca.Server(t, "second")
	live := ca.Server(t, "live")
	now := time.Now()
	tlstest.Rotate(t, live, first, now.Add(-time.Minute))
	tc, err := ServerConfig{CertFile: live.CertFile, KeyFile: live.KeyFile}.Server("http.tls.")
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, tc)

	if got, err := handshake(addr, ca.Pool(), nil); err != nil || got != "first" {
		t.Fatalf("trusting client: %q, %v; want first", got, err)
	}
	if _, err := handshake(addr, other.Pool(), nil); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("client trusting another CA: %v, want an unknown authority error", err)
	}
	tlstest.Rotate(t, live, second, now)
	if got, err := handshake(addr, ca.Pool(), nil); err != nil || got != "second" {
		t.Errorf("after rotation: %q, %v; want second", got, err)
	}
	if err := os.WriteFile(live.KeyFile, []byte("half written"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := handshake(addr, ca.Pool(), nil); err != nil || got != "second" {
		t.Errorf("during a half-written rotation: %q, %v; want second (the last good pair)", got, err)
	}
}

// TestRequireClientCerts: mutual TLS refuses a client without a
// certificate and one whose certificate another CA signed; a rotated
// client CA file counts at the next handshake.
func TestRequireClientCerts(t *testing.T) {
	ca, other := tlstest.NewCA(t, "test"), tlstest.NewCA(t, "other")
	srv := ca.Server(t, "srv")
	ours, theirs := ca.Client(t, "ours"), other.Client(t, "theirs")
	clientCA := ca.Client(t, "placeholder").CertFile // a file the test rewrites
	tlstest.Copy(t, ca.File, clientCA, time.Now().Add(-time.Minute))

	base, err := ServerConfig{CertFile: srv.CertFile, KeyFile: srv.KeyFile}.Server("http.tls.")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := RequireClientCerts(base, "http.admin_client_ca_file", clientCA)
	if err != nil {
		t.Fatal(err)
	}
	if base.ClientAuth != tls.NoClientCert {
		t.Fatal("RequireClientCerts changed the config it was given")
	}
	addr := serveTLS(t, tc)
	for _, c := range []struct {
		name string
		pair *tlstest.Pair
		want string // the alert the server sends; "": accepted
	}{
		{"no certificate", nil, "certificate required"},
		{"certificate of another CA", &theirs, "unknown certificate authority"},
		{"certificate of the client CA", &ours, ""},
	} {
		_, err := handshake(addr, ca.Pool(), c.pair)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: handshake error %v, want %q", c.name, err, c.want)
		}
	}
	tlstest.Copy(t, other.File, clientCA, time.Now())
	if _, err := handshake(addr, ca.Pool(), &theirs); err != nil {
		t.Errorf("after the client CA file changed to the other CA: %v, want its client accepted", err)
	}
	if _, err := handshake(addr, ca.Pool(), &ours); err == nil {
		t.Error("after the client CA file changed: the old CA's client is still accepted")
	}
}

func TestServerErrorsNameTheKey(t *testing.T) {
	ca := tlstest.NewCA(t, "test")
	s := ca.Server(t, "s")
	for _, tc := range []struct {
		cfg  ServerConfig
		want string
	}{
		{ServerConfig{CertFile: s.CertFile}, `http.tls.cert_file "` + s.CertFile + `" is set without http.tls.key_file`},
		{ServerConfig{KeyFile: s.KeyFile}, `http.tls.key_file "` + s.KeyFile + `" is set without http.tls.cert_file`},
		{ServerConfig{CertFile: "/nonexistent", KeyFile: s.KeyFile}, `http.tls.cert_file "/nonexistent" / http.tls.key_file`},
		{ServerConfig{}, "http.tls.cert_file is not set"},
	} {
		_, err := tc.cfg.Server("http.tls.")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
	base, _ := ServerConfig{CertFile: s.CertFile, KeyFile: s.KeyFile}.Server("http.tls.")
	if _, err := RequireClientCerts(base, "http.admin_client_ca_file", s.KeyFile); err == nil || !strings.Contains(err.Error(), "http.admin_client_ca_file") {
		t.Errorf("client CA file without a certificate: %v, want an error naming http.admin_client_ca_file", err)
	}
}
