package processor

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
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
