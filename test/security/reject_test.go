package security

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/internal/tlsfiles/tlstest"
)

// TestRejectedAtStart: each way the secured cluster can turn the service
// away ends `streamscore run` at start with one line on stderr that says
// what is wrong and which setting to look at, and a non-zero exit, within
// a deadline (a hang fails the test). The lines quoted here are the ones
// docs/operations.md shows.
func TestRejectedAtStart(t *testing.T) {
	wrongPassword := filepath.Join(t.TempDir(), "wrong-password")
	if err := os.WriteFile(wrongPassword, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nodlq := deployment{alos.delivery, "streamscore-nodlq", alos.input, alos.output, alos.dlq, "sec-nodlq"}
	// A client certificate of the broker's CA that expired yesterday, and a
	// valid one of a CA the broker does not know.
	now := time.Now()
	expired := tlstest.LoadCA(t, broker.CAFile, filepath.Join(broker.certDir, "ca.key")).
		ClientValid(t, alos.user, tlstest.Validity{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	otherCA := tlstest.NewCA(t, "other").Client(t, alos.user)
	// The registry over mutual TLS with a token, which the service reads
	// for a confluent input only at the first record.
	_, regKeys := secureRegistry(t, alos.user)
	wrongToken := filepath.Join(t.TempDir(), "wrong-token")
	if err := os.WriteFile(wrongToken, []byte("not-the-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	certKeys := func(p tlstest.Pair) map[string]any {
		return proctest.MergeKeys(alos.keys(), mTLS(alos.user), map[string]any{"kafka.tls.cert_file": p.CertFile, "kafka.tls.key_file": p.KeyFile})
	}
	for _, tc := range []struct {
		name string
		kv   map[string]any
		want []string // substrings of the one line
		// logsFirst: INFO lines of the start (the memory budget) may come
		// before the error line, but never "partitions assigned": the
		// transactional id is checked before the group is joined.
		logsFirst bool
	}{
		{name: "wrong password",
			kv: proctest.MergeKeys(alos.keys(), saslSSL(alos.user, wrongPassword)),
			want: []string{"streamscore: kafka " + broker.SASLSSL + `: authentication failed for SASL SCRAM-SHA-512 user "streamscore-alos": ` +
				"wrong user name or password (kafka.sasl.username, kafka.sasl.password or password_file): SASL_AUTHENTICATION_FAILED"}},
		{name: "untrusted server certificate",
			kv: proctest.MergeKeys(alos.keys(), saslSSL(alos.user, broker.passwordFile(alos.user)), map[string]any{"kafka.tls.ca_file": ""}),
			want: []string{"streamscore: kafka " + broker.SASLSSL + ": the broker's TLS certificate is not trusted " +
				"(x509: certificate signed by unknown authority): set kafka.tls.ca_file to the CA that signed it"}},
		{name: "TLS off on the SASL_SSL listener",
			kv: proctest.MergeKeys(alos.keys(), saslSSL(alos.user, broker.passwordFile(alos.user)), map[string]any{"kafka.tls.enabled": false, "kafka.tls.ca_file": ""}),
			want: []string{"streamscore: kafka " + broker.SASLSSL + ": the listener speaks TLS and kafka.tls.enabled is false: " +
				"set kafka.tls.enabled (and kafka.tls.ca_file for a private CA): "}},
		{name: "no SASL on the SASL_SSL listener",
			kv:   proctest.MergeKeys(alos.keys(), saslSSL(alos.user, ""), map[string]any{"kafka.sasl.mechanism": "", "kafka.sasl.username": "", "kafka.sasl.password_file": ""}),
			want: []string{"streamscore: kafka " + broker.SASLSSL + " unreachable: ", "(a SASL_SSL listener? set kafka.sasl.mechanism and its credentials)"}},
		{name: "a name the broker's certificate does not carry",
			kv: proctest.MergeKeys(alos.keys(), saslSSL(alos.user, broker.passwordFile(alos.user)), map[string]any{"kafka.tls.server_name": "kafka.example.com"}),
			want: []string{"streamscore: kafka " + broker.SASLSSL + ": the broker's TLS certificate is for another name " +
				"(x509: certificate is valid for localhost, not kafka.example.com): connect by a name it carries, or set kafka.tls.server_name"}},
		{name: "missing client certificate",
			kv: proctest.MergeKeys(alos.keys(), mTLS(alos.user), map[string]any{"kafka.tls.cert_file": "", "kafka.tls.key_file": ""}),
			want: []string{"streamscore: kafka " + broker.SSL + ": the broker refused the TLS handshake (remote error: tls: bad certificate): " +
				"it requires a client certificate: set kafka.tls.cert_file and kafka.tls.key_file"}},
		{name: "expired client certificate", kv: certKeys(expired),
			want: []string{`streamscore: kafka.tls.cert_file "` + expired.CertFile + `": the certificate CN=streamscore-alos expired at ` +
				now.Add(-24*time.Hour).UTC().Format("2006-01-02 15:04"), ": renew it"}},
		{name: "client certificate of a CA the broker does not trust", kv: certKeys(otherCA),
			want: []string{"streamscore: kafka " + broker.SSL + ": the broker refused the client certificate CN=streamscore-alos " +
				"(remote error: tls: unknown certificate): is it signed by a CA the broker trusts, and still valid?"}},
		{name: "no Write on the DLQ",
			kv: proctest.MergeKeys(nodlq.keys(), saslSSL(nodlq.user, broker.passwordFile(nodlq.user))),
			want: []string{`streamscore: dlq.topic "sec-alos-dlq": SASL SCRAM-SHA-512 user "streamscore-nodlq" may not write to it ` +
				`(needs ACL WRITE on Topic sec-alos-dlq, has DESCRIBE, DESCRIBE_CONFIGS; see docs/operations.md, "ACLs")`}},
		{name: "no Write on the DLQ, over mTLS",
			kv: proctest.MergeKeys(nodlq.keys(), mTLS(nodlq.user)),
			want: []string{`streamscore: dlq.topic "sec-alos-dlq": the client certificate CN=streamscore-nodlq may not write to it ` +
				`(needs ACL WRITE on Topic sec-alos-dlq, has DESCRIBE, DESCRIBE_CONFIGS`}},
		{name: "the registry refuses the token (confluent input)",
			kv: proctest.MergeKeys(alos.keys(), saslSSL(alos.user, broker.passwordFile(alos.user)), regKeys,
				map[string]any{"input.format": "confluent", "output.format": "json", "registry.token_file": wrongToken}),
			want: []string{"streamscore: input.format confluent: schema registry request failed: the registry refused the credentials (HTTP 401): " +
				"check registry.username and registry.password or password_file, or registry.token or token_file: "}},
		{name: "exactly-once without the transactional id ACL",
			kv: proctest.MergeKeys(alos.keys(), saslSSL(alos.user, broker.passwordFile(alos.user)), map[string]any{"processor.delivery": "exactly-once"}),
			want: []string{"streamscore: init transactional producer sec-alos-",
				`: SASL SCRAM-SHA-512 user "streamscore-alos" may not use this transactional id (processor.delivery exactly-once needs ACL WRITE on TransactionalId, prefixed sec-alos-; see docs/operations.md, "ACLs"): `,
				"TRANSACTIONAL_ID_AUTHORIZATION_FAILED"},
			logsFirst: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, tc.kv)
			p := proctest.Start(t, "streamscore run", proctest.Options{Separate: true}, bin, "run", "--config", path)
			start := time.Now()
			if !p.ExitedWithin(exitTimeout) {
				t.Fatalf("still running after %s, want it to give up at start", exitTimeout)
			}
			code := p.ExitCode()
			stderr := p.Stderr.String()
			t.Logf("exit %d after %.1fs: %s", code, time.Since(start).Seconds(), strings.TrimSpace(stderr))
			if code == 0 {
				t.Errorf("exit code 0, want non-zero")
			}
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			last := lines[len(lines)-1]
			for _, l := range lines[:len(lines)-1] {
				if !tc.logsFirst || !strings.Contains(l, `"level":"INFO"`) || strings.Contains(l, "partitions assigned") {
					t.Fatalf("stderr has %d lines, want one (after INFO lines of the start with logsFirst):\n%s", len(lines), stderr)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(last, w) {
					t.Errorf("the line\n  %s\nwants to contain\n  %s", last, w)
				}
			}
			if s := p.Stdout.String(); s != "" {
				t.Errorf("stdout: %q, want nothing", s)
			}
		})
	}
}
