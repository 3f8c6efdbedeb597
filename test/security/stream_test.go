package security

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/schemas/srtest"
)

// listener is one way into the secured broker: what the service and the
// third-party reader (kcat) configure for it.
type listener struct {
	name    string
	service func(user string) map[string]any
	kcat    func(t testing.TB) map[string]string // librdkafka settings of the user "reader"
}

var listeners = []listener{
	{name: "SASL_SSL SCRAM-SHA-512",
		service: func(user string) map[string]any { return saslSSL(user, broker.passwordFile(user)) },
		// kcat reads over the same SASL_SSL listener with PLAIN: Debian's
		// kcat 1.7.1 (librdkafka 2.0.2) fails SCRAM against this Kafka 4.3
		// broker ("invalid credentials" with the right password, where
		// franz-go and librdkafka 2.16 in confluent-kafka succeed).
		kcat: func(t testing.TB) map[string]string {
			return map[string]string{"bootstrap.servers": broker.SASLSSL, "security.protocol": "SASL_SSL",
				"sasl.mechanisms": "PLAIN", "sasl.username": "reader", "sasl.password": broker.password(t, "reader"),
				"ssl.ca.location": broker.CAFile}
		}},
	{name: "mTLS",
		service: mTLS,
		kcat: func(testing.TB) map[string]string {
			return map[string]string{"bootstrap.servers": broker.SSL, "security.protocol": "SSL", "ssl.ca.location": broker.CAFile,
				"ssl.certificate.location": broker.certFile("reader"), "ssl.key.location": broker.keyFile("reader")}
		}},
}

// TestStream scores fraud events end to end through the built binary in
// both delivery modes, over SASL_SSL and over mutual TLS, with exactly the
// ACLs of docs/operations.md: every good event becomes one prediction,
// every poison record one dead letter (so Write on the DLQ is used), and
// kcat reads the predictions over the same listener. Over mTLS the
// predictions are Confluent Avro, so the service also registers its schema
// with a registry that requires mutual TLS and a bearer token.
func TestStream(t *testing.T) {
	const good, poison = 40, 4
	for _, d := range []deployment{alos, eos} {
		t.Run(d.delivery, func(t *testing.T) {
			t.Parallel()
			for _, l := range listeners {
				t.Run(l.name, func(t *testing.T) {
					kv := proctest.MergeKeys(d.keys(), l.service(d.user))
					var reg *srtest.Server
					if l.name == "mTLS" {
						var regKeys map[string]any
						reg, regKeys = secureRegistry(t, d.user)
						kv = proctest.MergeKeys(kv, regKeys)
					}
					nonce := d.grp + "-" + time.Now().Format("150405.000000")
					counter := newKeyCounter(t, nonce, d.output, d.dlq)
					svc := startService(t, "streamscore "+d.delivery+" "+l.name, kv)
					start := time.Now()
					produceEvents(t, d.input, nonce, good, poison)
					counter.waitFor(t, map[string]int{d.output: good, d.dlq: poison}, svc)
					t.Logf("%d predictions and %d dead letters in %.1fs", good, poison, time.Since(start).Seconds())

					if d.delivery == eos.delivery {
						for tp, keys := range counter.keys {
							for k, n := range keys {
								if n != 1 {
									t.Errorf("exactly-once: %s holds %s %d times", tp, k, n)
								}
							}
						}
					}
					got := kcatKeys(t, d.output, nonce, l.kcat(t))
					slices.Sort(got)
					got = slices.Compact(got)
					if len(got) != good {
						t.Errorf("kcat over %s read %d predictions of the run from %s, want %d", l.name, len(got), d.output, good)
					}
					if reg != nil {
						if n := reg.Requests("POST /subjects/{subject}/versions") + reg.Requests("POST /subjects/{subject}"); n == 0 {
							t.Errorf("the service made no registry request: the confluent output did not use the registry")
						}
						if n := reg.Unauthorized(); n != 0 {
							t.Errorf("the registry refused %d requests of the service", n)
						}
					}
					svc.StopClean()
				})
			}
		})
	}
}

// secureRegistry starts the test registry over mutual TLS (tlsRegistry)
// requiring a bearer token, and returns the service's registry keys with
// the token from a file.
func secureRegistry(t *testing.T, user string) (*srtest.Server, map[string]any) {
	t.Helper()
	reg, keys := tlsRegistry(t, user)
	const token = "registry-token-5e0b"
	reg.RequireBearerToken(token)
	tokenFile := filepath.Join(t.TempDir(), "registry-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys["registry.token_file"] = tokenFile
	return reg, keys
}

// tlsRegistry starts the test registry over TLS with the broker's
// certificate (made by the scripts' CA for 127.0.0.1), requiring a client
// certificate of that CA, and returns the service's keys for it: the
// confluent output format, the URL, the CA and the user's certificate.
func tlsRegistry(t *testing.T, user string) (*srtest.Server, map[string]any) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(broker.certFile("broker"), broker.keyFile("broker"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(broker.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s: no certificate", broker.CAFile)
	}
	reg := srtest.NewTLS(t, cert, pool)
	return reg, map[string]any{
		"output.format": "confluent", "registry.url": reg.URL(), "registry.ca_file": broker.CAFile,
		"registry.cert_file": broker.certFile(user), "registry.key_file": broker.keyFile(user),
	}
}
