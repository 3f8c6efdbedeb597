package security

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/oauthtest"
	"github.com/streamscore/streamscore/internal/tlsfiles"
	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/secret"
)

// TestMechanisms connects through processor.ClientOpts, in process, with
// every SASL mechanism and with mutual TLS, and runs the service's start
// check (processor.CheckAccess) for the at-least-once deployment: it passes
// only when the cluster authenticated the client as streamscore-alos (the
// principal the ACLs name), and names the problem otherwise.
func TestMechanisms(t *testing.T) {
	dir := t.TempDir()
	tokenFile := func(sub string, exp time.Time) string {
		p := filepath.Join(dir, fmt.Sprintf("token-%s-%d", sub, exp.Unix()))
		if err := os.WriteFile(p, []byte(oauthtest.UnsignedJWT(sub, exp)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A token endpoint for the client credentials grant: the client id is the principal.
	idp := oauthtest.Serve(t, func(_ *http.Request, id, sec string, _ int) (string, bool) {
		return oauthtest.UnsignedJWT(id, time.Now().Add(time.Hour)), sec == "client-secret-of-"+id
	})
	secretFile := filepath.Join(dir, "client-secret")
	if err := os.WriteFile(secretFile, []byte("client-secret-of-streamscore-alos"), 0o600); err != nil {
		t.Fatal(err)
	}

	tlsCA := processor.TLSConfig{Enabled: true, Config: tlsfiles.Config{CAFile: broker.CAFile}}
	sasl := func(mech, user string) processor.KafkaConfig {
		return processor.KafkaConfig{Brokers: broker.SASLSSL, ClientID: "security-test", TLS: tlsCA,
			SASL: processor.SASLConfig{Mechanism: mech, Username: user, PasswordFile: broker.passwordFile(user)}}
	}
	oauth := func(o processor.OAuthConfig) processor.KafkaConfig {
		return processor.KafkaConfig{Brokers: broker.SASLSSL, ClientID: "security-test", TLS: tlsCA,
			SASL: processor.SASLConfig{Mechanism: "OAUTHBEARER", OAuth: o}}
	}
	for _, tc := range []struct {
		name string
		k    processor.KafkaConfig
		want string // "" : allowed
	}{
		{"PLAIN", sasl("PLAIN", alos.user), ""},
		{"SCRAM-SHA-256", sasl("SCRAM-SHA-256", alos.user), ""},
		{"SCRAM-SHA-512", sasl("SCRAM-SHA-512", alos.user), ""},
		{"OAUTHBEARER token file", oauth(processor.OAuthConfig{TokenFile: tokenFile(alos.user, time.Now().Add(time.Hour))}), ""},
		{"OAUTHBEARER client credentials", oauth(processor.OAuthConfig{TokenURL: idp.URL + "/token", ClientID: alos.user, ClientSecretFile: secretFile, Scope: "kafka"}), ""},
		{"mutual TLS", processor.KafkaConfig{Brokers: broker.SSL, ClientID: "security-test", TLS: processor.TLSConfig{Enabled: true,
			Config: tlsfiles.Config{CAFile: broker.CAFile, CertFile: broker.certFile(alos.user), KeyFile: broker.keyFile(alos.user)}}}, ""},

		{"another user's ACLs", sasl("SCRAM-SHA-512", "reader"),
			`input.topic "sec-alos-in": SASL SCRAM-SHA-512 user "reader" may not even describe it (needs ACL READ on Topic sec-alos-in`},
		{"another certificate's ACLs", processor.KafkaConfig{Brokers: broker.SSL, TLS: processor.TLSConfig{Enabled: true,
			Config: tlsfiles.Config{CAFile: broker.CAFile, CertFile: broker.certFile("reader"), KeyFile: broker.keyFile("reader")}}},
			`input.topic "sec-alos-in": the client certificate CN=reader may not even describe it`},
		{"PLAIN, wrong password", processor.KafkaConfig{Brokers: broker.SASLSSL, TLS: tlsCA,
			SASL: processor.SASLConfig{Mechanism: "PLAIN", Username: alos.user, Password: secret.Value("wrong-password-31c9")}},
			`authentication failed for SASL PLAIN user "streamscore-alos": wrong user name or password`},
		{"OAUTHBEARER expired token", oauth(processor.OAuthConfig{TokenFile: tokenFile(alos.user, time.Now().Add(-time.Hour))}),
			"authentication failed for the OAUTHBEARER token's principal: the broker rejected the token"},
		{"OAUTHBEARER refused client secret", oauth(processor.OAuthConfig{TokenURL: idp.URL + "/token", ClientID: alos.user, ClientSecret: secret.Value("wrong-secret-77d2")}),
			"kafka " + broker.SASLSSL + ": no credentials to log in with: kafka.sasl.oauth.token_url " + idp.URL + "/token: token endpoint answered 401 Unauthorized: invalid_client"},
		{"SASL on the mTLS listener", processor.KafkaConfig{Brokers: broker.SSL, TLS: tlsCA,
			SASL: processor.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: alos.user, PasswordFile: broker.passwordFile(alos.user)}},
			"the broker refused the TLS handshake"},
		{"no TLS on a TLS listener", processor.KafkaConfig{Brokers: broker.SASLSSL}, "kafka " + broker.SASLSSL + ": the listener speaks TLS and kafka.tls.enabled is false: set kafka.tls.enabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cfg := processor.Config{InputTopic: alos.input, OutputTopic: alos.output, DLQTopic: alos.dlq, Group: alos.grp}
			err := processor.CheckAccess(ctx, tc.k, cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("CheckAccess: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("CheckAccess: %v\nwant an error containing %q", err, tc.want)
			}
			if err != nil {
				t.Logf("%v", err)
				for _, s := range []string{"wrong-password-31c9", "wrong-secret-77d2", "client-secret-of-", broker.password(t, alos.user)} {
					if strings.Contains(err.Error(), s) {
						t.Errorf("the error shows a secret")
					}
				}
			}
		})
	}
	if idp.Requests() == 0 {
		t.Error("the token endpoint was never asked")
	}
}
