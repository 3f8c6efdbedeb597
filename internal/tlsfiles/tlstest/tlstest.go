// Package tlstest makes a throwaway certificate authority and certificates
// for tests, as PEM files in a test's temporary directory: a server
// certificate for 127.0.0.1 and localhost, and client certificates named by
// their common name. Keys are ECDSA P-256; everything is valid for a day.
//
// It is a test helper; production code must not import it.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a test certificate authority.
type CA struct {
	// File is the CA certificate (PEM), what clients put in ca_file.
	File string

	dir    string
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	serial atomic.Int64
}

// Pair is a certificate and its key as PEM files.
type Pair struct {
	CertFile, KeyFile string
}

// TLS loads the pair for a tls.Config.
func (p Pair) TLS(tb testing.TB) tls.Certificate {
	tb.Helper()
	c, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// NewCA makes a CA whose files live in tb.TempDir().
func NewCA(tb testing.TB, name string) *CA {
	tb.Helper()
	key := newKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	ca := &CA{dir: tb.TempDir(), cert: cert, key: key}
	ca.serial.Store(1)
	ca.File = filepath.Join(ca.dir, name+"-ca.crt")
	writePEM(tb, ca.File, "CERTIFICATE", der)
	return ca
}

// LoadCA is a CA from PEM files (a certificate and its PKCS#8 EC key, as
// openssl makes them), issuing into tb.TempDir(): certificates a broker set
// up with that CA trusts.
func LoadCA(tb testing.TB, certFile, keyFile string) *CA {
	tb.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		tb.Fatal(err)
	}
	key, ok := cert.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		tb.Fatalf("%s: not an ECDSA key", keyFile)
	}
	ca := &CA{File: certFile, dir: tb.TempDir(), cert: cert.Leaf, key: key}
	ca.serial.Store(time.Now().UnixNano()) // unique serials across runs
	return ca
}

// Pool is a pool holding the CA, for a server's ClientCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Server issues a server certificate for 127.0.0.1 and localhost.
func (ca *CA) Server(tb testing.TB, name string) Pair {
	tb.Helper()
	return ca.issue(tb, name, x509.ExtKeyUsageServerAuth, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, dayFromNow())
}

// Client issues a client certificate with CN=name.
func (ca *CA) Client(tb testing.TB, name string) Pair {
	tb.Helper()
	return ca.issue(tb, name, x509.ExtKeyUsageClientAuth, nil, nil, dayFromNow())
}

// Validity is a certificate's validity period.
type Validity struct{ NotBefore, NotAfter time.Time }

func dayFromNow() Validity {
	return Validity{time.Now().Add(-time.Hour), time.Now().Add(24 * time.Hour)}
}

// ClientValid issues a client certificate with CN=name valid during v (an
// expired or a not yet valid one).
func (ca *CA) ClientValid(tb testing.TB, name string, v Validity) Pair {
	tb.Helper()
	return ca.issue(tb, name, x509.ExtKeyUsageClientAuth, nil, nil, v)
}

// ServerValid is Server with the validity period v.
func (ca *CA) ServerValid(tb testing.TB, name string, v Validity) Pair {
	tb.Helper()
	return ca.issue(tb, name, x509.ExtKeyUsageServerAuth, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, v)
}

func (ca *CA) issue(tb testing.TB, name string, usage x509.ExtKeyUsage, dns []string, ips []net.IP, v Validity) Pair {
	key := newKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial.Add(1)),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    v.NotBefore,
		NotAfter:     v.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	dir, err := os.MkdirTemp(ca.dir, name+"-")
	if err != nil {
		tb.Fatal(err)
	}
	p := Pair{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key")}
	writePEM(tb, p.CertFile, "CERTIFICATE", der)
	writePEM(tb, p.KeyFile, "PRIVATE KEY", kder)
	return p
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

func writePEM(tb testing.TB, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// Rotate writes next's certificate and key over live's files, with the
// modification time when (distinct even on coarse clocks), as a renewal in
// place does (cert-manager, a Secret update).
func Rotate(tb testing.TB, live, next Pair, when time.Time) {
	tb.Helper()
	Copy(tb, next.CertFile, live.CertFile, when)
	Copy(tb, next.KeyFile, live.KeyFile, when)
}

// Copy writes the content of from over to, with the modification time when.
func Copy(tb testing.TB, from, to string, when time.Time) {
	tb.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chtimes(to, when, when); err != nil {
		tb.Fatal(err)
	}
}
