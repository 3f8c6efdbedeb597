package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"
)

// ServerConfig names the certificate a TLS server presents. The zero
// ServerConfig is no TLS.
type ServerConfig struct {
	CertFile string `config:"cert_file" help:"PEM server certificate (with its chain) of every HTTP listener (http.listen, http.admin_listen, http.predict_listen serve HTTPS with it), read again when it changes (empty: plain HTTP); needs key_file"`
	KeyFile  string `config:"key_file" help:"PEM private key of cert_file (PKCS#8, PKCS#1 or EC), read again when it changes"`
}

// Enabled reports whether a certificate is named.
func (c ServerConfig) Enabled() bool { return c.CertFile != "" || c.KeyFile != "" }

// Check reports a certificate without its key or a key without its
// certificate. prefix is the section's ("http.tls.").
func (c ServerConfig) Check(prefix string) error {
	switch {
	case c.CertFile == "" && c.KeyFile != "":
		return fmt.Errorf("%skey_file %q is set without %scert_file", prefix, c.KeyFile, prefix)
	case c.CertFile != "" && c.KeyFile == "":
		return fmt.Errorf("%scert_file %q is set without %skey_file", prefix, c.CertFile, prefix)
	}
	return nil
}

// Server builds the TLS configuration of a server presenting the
// certificate, reading and checking both files now. Errors name the keys
// and the files, never key material.
func (c ServerConfig) Server(prefix string) (*tls.Config, error) {
	if err := c.Check(prefix); err != nil {
		return nil, err
	}
	if !c.Enabled() {
		return nil, fmt.Errorf("%scert_file is not set", prefix)
	}
	kp := newKeyPair(prefix, c.CertFile, c.KeyFile)
	if _, err := kp.get(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.get() },
	}, nil
}

// RequireClientCerts returns a copy of tc that asks every client for a
// certificate signed by a CA of caFile and refuses the handshake without
// one (mutual TLS). caFile is read now, and again at the next handshake
// after it changes (a CA bundle rotated in place); a file that does not
// parse keeps the previous CAs. key names the setting in errors.
func RequireClientCerts(tc *tls.Config, key, caFile string) (*tls.Config, error) {
	pool := &reloaded[*x509.CertPool]{paths: []string{caFile}, load: func() (*x509.CertPool, error) { return loadPool(key, caFile) }}
	first, err := pool.get()
	if err != nil {
		return nil, err
	}
	base := tc.Clone()
	base.ClientAuth = tls.RequireAndVerifyClientCert
	base.ClientCAs = first
	// One clone per CA pool, not per handshake.
	var mu sync.Mutex
	cur, curPool := base, first
	out := base.Clone()
	out.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		p, err := pool.get()
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if p != curPool {
			cur = base.Clone()
			cur.ClientCAs, curPool = p, p
		}
		return cur, nil
	}
	return out, nil
}
