package processor

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestConnectErrorClientCertAlerts: every TLS alert a broker answers a
// missing or refused client certificate with names the settings to look
// at. Apache Kafka answers an expired certificate, or one signed by a CA
// it does not trust, with certificate_unknown, whose text ("tls: unknown
// certificate") was taken for a network failure ("unreachable").
func TestConnectErrorClientCertAlerts(t *testing.T) {
	for _, tc := range []struct {
		alert    tls.AlertError
		certFile string
		want     string
	}{
		{alert: 46, certFile: "client.crt", want: "the broker refused the client certificate"},
		{alert: 45, certFile: "client.crt", want: "the broker refused the client certificate"},
		{alert: 48, certFile: "client.crt", want: "the broker refused the client certificate"},
		{alert: 42, want: "set kafka.tls.cert_file and kafka.tls.key_file"},
		{alert: 116, want: "set kafka.tls.cert_file and kafka.tls.key_file"},
	} {
		k := KafkaConfig{Brokers: "b:9093"}
		k.TLS.Enabled, k.TLS.CertFile = true, tc.certFile
		// As franz-go wraps what crypto/tls returns for a received alert.
		err := fmt.Errorf("unable to dial: %w", &net.OpError{Op: "remote error", Err: tc.alert})
		got := connectError(k, err).Error()
		if !strings.Contains(got, tc.want) || strings.Contains(got, "unreachable") {
			t.Errorf("alert %d (%v), cert_file %q: got %q, want it to contain %q and not \"unreachable\"", uint8(tc.alert), tc.alert, tc.certFile, got, tc.want)
		}
	}
}

// TestWriteDenied: a produce refused because Write was taken away after
// the start-up check names the principal and the ACL; other errors pass.
func TestWriteDenied(t *testing.T) {
	k := KafkaConfig{Brokers: "b:9093", SASL: SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "svc"}}
	got := writeDenied(k, "dlq", kerr.TopicAuthorizationFailed)
	want := `SASL SCRAM-SHA-512 user "svc" may not write to it (needs ACL WRITE on Topic dlq; see docs/operations.md, "ACLs"): TOPIC_AUTHORIZATION_FAILED`
	if !strings.HasPrefix(got.Error(), want) || !errors.Is(got, kerr.TopicAuthorizationFailed) {
		t.Errorf("got %q, want it to start with %q and wrap the broker's error", got, want)
	}
	if other := errors.New("broken pipe"); writeDenied(k, "dlq", other) != other {
		t.Errorf("another error was changed: %v", writeDenied(k, "dlq", other))
	}
}
