package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/tlsfiles/tlstest"
)

// TestClientCertificateRotation: a certificate replaced in place is the one
// presented at the next handshake; a half-written rotation keeps the old.
func TestClientCertificateRotation(t *testing.T) {
	ca := tlstest.NewCA(t, "test")
	first, second := ca.Client(t, "first"), ca.Client(t, "second")
	live := ca.Client(t, "live") // the files the configuration names
	presented := func(tc *tls.Config) string {
		t.Helper()
		c, err := tc.GetClientCertificate(&tls.CertificateRequestInfo{})
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.Subject.CommonName
	}

	now := time.Now()
	tlstest.Rotate(t, live, first, now.Add(-time.Minute))
	tc, err := Config{CAFile: ca.File, CertFile: live.CertFile, KeyFile: live.KeyFile}.Client("kafka.tls.")
	if err != nil {
		t.Fatal(err)
	}
	if got := presented(tc); got != "first" {
		t.Fatalf("presented %q, want first", got)
	}
	tlstest.Rotate(t, live, second, now)
	if got := presented(tc); got != "second" {
		t.Fatalf("after rotation presented %q, want second", got)
	}
	if err := os.WriteFile(live.KeyFile, []byte("half written"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := presented(tc); got != "second" {
		t.Errorf("during a half-written rotation presented %q, want second (the last good pair)", got)
	}
}

func TestClientErrorsNameTheKey(t *testing.T) {
	ca := tlstest.NewCA(t, "test")
	c := ca.Client(t, "c")
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{CAFile: "/nonexistent"}, `registry.ca_file "/nonexistent": open: no such file or directory`},
		{Config{CAFile: c.KeyFile}, `registry.ca_file "` + c.KeyFile + `": no PEM certificate in it`},
		{Config{CertFile: c.CertFile}, "registry.cert_file"},
		{Config{CertFile: c.CertFile, KeyFile: ca.File}, "registry.cert_file " + `"` + c.CertFile + `" / registry.key_file`},
	} {
		_, err := tc.cfg.Client("registry.")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
	if got := (Config{CAFile: ca.File, CertFile: c.CertFile, KeyFile: c.KeyFile}).CertificateSubject(); got != "CN=c" {
		t.Errorf("CertificateSubject %q, want CN=c", got)
	}
}

// TestCertificateOutsideItsValidity: an expired or not yet valid client or
// server certificate is refused at start with the key, the file, the
// certificate and the date, not left for the peer to refuse with an alert
// that does not say why.
func TestCertificateOutsideItsValidity(t *testing.T) {
	ca := tlstest.NewCA(t, "test")
	now := time.Now()
	expired := tlstest.Validity{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}
	future := tlstest.Validity{NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)}
	for _, tc := range []struct {
		name string
		pair tlstest.Pair
		srv  bool
		want string
	}{
		{name: "expired client", pair: ca.ClientValid(t, "old", expired), want: "the certificate CN=old expired at " + expired.NotAfter.UTC().Format("2006-01-02 15:04:05 MST") + ": renew it"},
		{name: "future client", pair: ca.ClientValid(t, "new", future), want: "the certificate CN=new is not valid before " + future.NotBefore.UTC().Format("2006-01-02 15:04:05 MST")},
		{name: "expired server", pair: ca.ServerValid(t, "srv", expired), srv: true, want: "the certificate CN=srv expired at"},
	} {
		var err error
		if tc.srv {
			_, err = ServerConfig{CertFile: tc.pair.CertFile, KeyFile: tc.pair.KeyFile}.Server("http.tls.")
		} else {
			_, err = Config{CertFile: tc.pair.CertFile, KeyFile: tc.pair.KeyFile}.Client("kafka.tls.")
		}
		key := map[bool]string{true: "http.tls.", false: "kafka.tls."}[tc.srv] + `cert_file "` + tc.pair.CertFile + `": `
		if err == nil || !strings.Contains(err.Error(), key+tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, key+tc.want)
		}
	}
}

// TestHint: each failed verification of a server's certificate names the
// setting to look at; other errors get no hint.
func TestHint(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("post: %w", x509.UnknownAuthorityError{}), "set registry.ca_file to the CA that signed it"},
		{fmt.Errorf("post: %w", x509.HostnameError{Host: "sr"}), "connect by a name it carries, or set registry.server_name"},
		{fmt.Errorf("post: %w", x509.CertificateInvalidError{Reason: x509.Expired}), "is not valid (expired, or not for a server)"},
		{errors.New("connection refused"), ""},
	} {
		got := Hint("registry.", tc.err)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("Hint(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
