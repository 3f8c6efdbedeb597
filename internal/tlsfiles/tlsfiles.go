// Package tlsfiles builds TLS configurations from PEM files named in the
// configuration. Client side (Config): the CA certificates that verify the
// server and the client's own certificate for mutual TLS; the Kafka section
// (kafka.tls) and the Schema Registry section (registry) embed Config, so
// both take the same keys and check them the same way. Server side
// (ServerConfig, RequireClientCerts): the certificate the service's HTTP
// listeners present and the CAs of the clients they accept.
//
// Certificates and keys are read again at the next handshake after their
// files change, so a certificate rotated in place (cert-manager, a
// Kubernetes Secret mount) is used without a restart; until both new files
// parse as a pair of a certificate within its validity period, the
// previous one stays in use. A certificate outside its validity period is
// an error at start (a peer would refuse it with an alert that says less).
// The CA file of a client is read once; the client CA file of a server is
// read again when it changes.
//
// A *tls.Config returned here is safe for concurrent use.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Config names the files of a TLS client. The zero Config is TLS with the
// system roots and no client certificate.
type Config struct {
	CAFile             string `config:"ca_file" help:"PEM file of the CA certificates that verify the server (empty: the system roots)"`
	CertFile           string `config:"cert_file" help:"PEM client certificate (with its chain) for mutual TLS, read again when it changes; needs key_file"`
	KeyFile            string `config:"key_file" help:"PEM private key of cert_file (PKCS#8, PKCS#1 or EC)"`
	ServerName         string `config:"server_name" help:"name the server's certificate must carry (empty: the host connected to)"`
	InsecureSkipVerify bool   `config:"insecure_skip_verify" help:"do NOT verify the server's certificate (for tests only: anyone on the path can read and change the traffic; logged as a warning at start)"`
}

// FirstSet is the key (without prefix) of the first setting that differs
// from the zero Config, or "" when none does: for "set, but TLS is off".
func (c Config) FirstSet() string {
	switch {
	case c.CAFile != "":
		return "ca_file"
	case c.CertFile != "":
		return "cert_file"
	case c.KeyFile != "":
		return "key_file"
	case c.ServerName != "":
		return "server_name"
	case c.InsecureSkipVerify:
		return "insecure_skip_verify"
	}
	return ""
}

// Warning is the line the service logs at start when verification is off,
// "" otherwise. prefix is the section's ("kafka.tls.", "registry.").
func (c Config) Warning(prefix string) string {
	if !c.InsecureSkipVerify {
		return ""
	}
	return prefix + "insecure_skip_verify is true: the server's certificate is NOT verified, so anyone on the network path can read and change the traffic (for tests only)"
}

// Client builds the TLS configuration, reading and checking every file now.
// Errors name the key (prefix + "ca_file", ...) and the file, never key
// material.
func (c Config) Client(prefix string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.CAFile != "" {
		pool, err := loadPool(prefix+"ca_file", c.CAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	switch {
	case c.CertFile == "" && c.KeyFile == "":
	case c.CertFile == "":
		return nil, fmt.Errorf("%skey_file %q is set without %scert_file", prefix, c.KeyFile, prefix)
	case c.KeyFile == "":
		return nil, fmt.Errorf("%scert_file %q is set without %skey_file", prefix, c.CertFile, prefix)
	default:
		kp := newKeyPair(prefix, c.CertFile, c.KeyFile)
		if _, err := kp.get(); err != nil {
			return nil, err
		}
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get() }
	}
	return tc, nil
}

// loadPool reads the PEM certificates of path; key names the setting in
// errors.
func loadPool(key, path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", key, path, unwrapPath(err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %q: no PEM certificate in it", key, path)
	}
	return pool, nil
}

// CertificateSubject is the subject of the client certificate (the principal
// a broker that maps certificates to users sees), or "" without one or when
// it cannot be read.
func (c Config) CertificateSubject() string {
	if c.CertFile == "" || c.KeyFile == "" {
		return ""
	}
	pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil || len(pair.Certificate) == 0 {
		return ""
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return ""
	}
	return leaf.Subject.String()
}

// keyPair is a certificate and its key, read again when their files change.
type keyPair = reloaded[*tls.Certificate]

func newKeyPair(prefix, certFile, keyFile string) *keyPair {
	return &keyPair{paths: []string{certFile, keyFile}, load: func() (*tls.Certificate, error) {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("%scert_file %q / %skey_file %q: %w", prefix, certFile, prefix, keyFile, unwrapPath(err))
		}
		if err := checkValidity(pair.Leaf, time.Now()); err != nil {
			return nil, fmt.Errorf("%scert_file %q: %w", prefix, certFile, err)
		}
		return &pair, nil
	}}
}

// checkValidity refuses a certificate outside its validity period at now:
// the peer would refuse it too, with an alert that does not say why (a
// Java broker answers "unknown certificate").
func checkValidity(leaf *x509.Certificate, now time.Time) error {
	if leaf == nil {
		return nil
	}
	const at = "2006-01-02 15:04:05 MST"
	switch {
	case now.After(leaf.NotAfter):
		return fmt.Errorf("the certificate %s expired at %s: renew it", leaf.Subject, leaf.NotAfter.UTC().Format(at))
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("the certificate %s is not valid before %s: is this host's clock right?", leaf.Subject, leaf.NotBefore.UTC().Format(at))
	}
	return nil
}

// reloaded is a value made from files and made again when one of them
// changes (size or modification time; a Kubernetes Secret mount swaps a
// symlink, which changes both for the path). Safe for concurrent use.
type reloaded[T any] struct {
	paths []string
	load  func() (T, error)

	mu     sync.Mutex
	stamps []stamp
	val    T
	loaded bool
}

type stamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	return stamp{fi.ModTime(), fi.Size()}, nil
}

// get returns the current value: the cached one while every file is
// unchanged, else the files read anew. A load that fails (caught between
// the two files of a rotation) keeps the previous value in use; without
// one, its error is returned.
func (r *reloaded[T]) get() (T, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	stamps := make([]stamp, len(r.paths))
	same := r.loaded
	for i, p := range r.paths {
		st, err := stampOf(p)
		stamps[i] = st
		if err != nil || (same && st != r.stamps[i]) {
			same = false
		}
	}
	if same {
		return r.val, nil
	}
	v, err := r.load()
	if err != nil {
		if r.loaded {
			return r.val, nil
		}
		return v, err
	}
	r.val, r.stamps, r.loaded = v, stamps, true
	return v, nil
}

// unwrapPath drops the path an *os.PathError repeats (the caller names it).
func unwrapPath(err error) error {
	if pe := (*os.PathError)(nil); errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// Hint says what to set when err is a failed verification of the server's
// certificate by a client of this package ("" for other errors). prefix is
// the section's ("registry.").
func Hint(prefix string, err error) string {
	var (
		unknownCA x509.UnknownAuthorityError
		badName   x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &unknownCA):
		return "the server's TLS certificate is not trusted: set " + prefix + "ca_file to the CA that signed it"
	case errors.As(err, &badName):
		return "the server's TLS certificate is for another name: connect by a name it carries, or set " + prefix + "server_name"
	case errors.As(err, &invalid):
		return "the server's TLS certificate is not valid (expired, or not for a server)"
	}
	return ""
}
