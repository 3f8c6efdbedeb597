// Package tlsfiles builds the TLS client side of a connection from PEM files
// named in the configuration: the CA certificates that verify the server and
// the client's own certificate for mutual TLS. The Kafka section (kafka.tls)
// and the Schema Registry section (registry) embed Config, so both take the
// same keys and check them the same way.
//
// The client certificate is read again at the next handshake after its
// files change, so a certificate rotated in place (cert-manager, a
// Kubernetes Secret mount) is used without a restart; until both new files
// parse as a pair, the previous one stays in use. The CA file is read once.
//
// A *tls.Config returned by Client is safe for concurrent use.
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
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%sca_file %q: %w", prefix, c.CAFile, unwrapPath(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%sca_file %q: no PEM certificate in it", prefix, c.CAFile)
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
		kp := &keyPair{prefix: prefix, certFile: c.CertFile, keyFile: c.KeyFile}
		if _, err := kp.get(); err != nil {
			return nil, err
		}
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get() }
	}
	return tc, nil
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

// keyPair is a client certificate read again when its files change.
type keyPair struct {
	prefix, certFile, keyFile string

	mu    sync.Mutex
	stamp [2]stamp
	pair  *tls.Certificate
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

// get returns the current pair: the cached one while both files are
// unchanged, else the files read anew. A pair that no longer loads (caught
// between the two files of a rotation) keeps the previous one in use.
func (k *keyPair) get() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	cs, cerr := stampOf(k.certFile)
	ks, kerr := stampOf(k.keyFile)
	if cerr == nil && kerr == nil && k.pair != nil && [2]stamp{cs, ks} == k.stamp {
		return k.pair, nil
	}
	pair, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		if k.pair != nil {
			return k.pair, nil
		}
		return nil, fmt.Errorf("%scert_file %q / %skey_file %q: %w", k.prefix, k.certFile, k.prefix, k.keyFile, unwrapPath(err))
	}
	k.pair, k.stamp = &pair, [2]stamp{cs, ks}
	return k.pair, nil
}

// unwrapPath drops the path an *os.PathError repeats (the caller names it).
func unwrapPath(err error) error {
	if pe := (*os.PathError)(nil); errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
