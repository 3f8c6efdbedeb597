package processor

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/streamscore/streamscore/internal/oauthtest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/internal/tlsfiles"
	"github.com/streamscore/streamscore/internal/tlsfiles/tlstest"
)

func TestKafkaConfigValidate(t *testing.T) {
	ca := tlstest.NewCA(t, "test")
	client := ca.Client(t, "svc")
	pwFile := proctest.TempFile(t, "pw", "file-pw-8d1e\n")
	tokFile := proctest.TempFile(t, "tok", "header.payload.")
	base := func(mod func(k *KafkaConfig)) KafkaConfig {
		k := KafkaConfig{Brokers: "127.0.0.1:9093", ClientID: "streamscore"}
		mod(&k)
		return k
	}
	for _, tc := range []struct {
		name string
		k    KafkaConfig
		want string // "" valid
	}{
		{"plain broker", base(func(*KafkaConfig) {}), ""},
		{"mutual TLS", base(func(k *KafkaConfig) {
			k.TLS = TLSConfig{Enabled: true, Config: tlsfiles.Config{CAFile: ca.File, CertFile: client.CertFile, KeyFile: client.KeyFile}}
		}), ""},
		{"SCRAM with a password file", base(func(k *KafkaConfig) {
			k.SASL = SASLConfig{Mechanism: "scram-sha-512", Username: "svc", PasswordFile: pwFile}
		}), ""},
		{"OAUTHBEARER token file", base(func(k *KafkaConfig) {
			k.SASL = SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenFile: tokFile}}
		}), ""},
		{"OAUTHBEARER client credentials", base(func(k *KafkaConfig) {
			k.SASL = SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenURL: "https://idp/token", ClientID: "svc", ClientSecretFile: pwFile, Scope: "kafka"}}
		}), ""},

		{"TLS file while TLS is off", base(func(k *KafkaConfig) { k.TLS.CAFile = ca.File }),
			"kafka.tls.ca_file is set but kafka.tls.enabled is false"},
		{"missing CA file", base(func(k *KafkaConfig) {
			k.TLS = TLSConfig{Enabled: true, Config: tlsfiles.Config{CAFile: "/nonexistent/ca.crt"}}
		}),
			`kafka.tls.ca_file "/nonexistent/ca.crt": open: no such file or directory`},
		{"key without certificate", base(func(k *KafkaConfig) {
			k.TLS = TLSConfig{Enabled: true, Config: tlsfiles.Config{KeyFile: client.KeyFile}}
		}), "kafka.tls.key_file " + `"` + client.KeyFile + `" is set without kafka.tls.cert_file`},
		{"certificate and key that do not match", base(func(k *KafkaConfig) {
			k.TLS = TLSConfig{Enabled: true, Config: tlsfiles.Config{CertFile: client.CertFile, KeyFile: ca.Server(t, "x").KeyFile}}
		}), "private key does not match public key"},
		{"unknown mechanism", base(func(k *KafkaConfig) { k.SASL = SASLConfig{Mechanism: "GSSAPI", Username: "u"} }),
			`kafka.sasl.mechanism "GSSAPI": want OAUTHBEARER, PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
		{"password and password file", base(func(k *KafkaConfig) {
			k.SASL = SASLConfig{Mechanism: "PLAIN", Username: "svc", Password: "x", PasswordFile: pwFile}
		}), "kafka.sasl.password and kafka.sasl.password_file both are set: use one"},
		{"missing password file", base(func(k *KafkaConfig) {
			k.SASL = SASLConfig{Mechanism: "PLAIN", Username: "svc", PasswordFile: "/nonexistent/pw"}
		}), "kafka.sasl.password_file: open /nonexistent/pw: no such file or directory"},
		{"no password", base(func(k *KafkaConfig) { k.SASL = SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "svc"} }),
			"kafka.sasl.password is empty"},
		{"user without mechanism", base(func(k *KafkaConfig) { k.SASL = SASLConfig{Username: "svc"} }),
			"kafka.sasl.username is set but kafka.sasl.mechanism is empty"},
		{"OAuth setting without mechanism", base(func(k *KafkaConfig) { k.SASL.OAuth.TokenFile = tokFile }),
			"kafka.sasl.oauth.token_file is set but kafka.sasl.mechanism is empty"},
		{"OAuth setting with SCRAM", base(func(k *KafkaConfig) {
			k.SASL = SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "svc", Password: "x", OAuth: OAuthConfig{TokenURL: "https://idp"}}
		}), "kafka.sasl.oauth.token_url is set but kafka.sasl.mechanism is SCRAM-SHA-512"},
		{"OAUTHBEARER with a password", base(func(k *KafkaConfig) {
			k.SASL = SASLConfig{Mechanism: "OAUTHBEARER", Password: "x", OAuth: OAuthConfig{TokenFile: tokFile}}
		}), "kafka.sasl.password is set but kafka.sasl.mechanism OAUTHBEARER takes no password"},
		{"OAUTHBEARER without a source", base(func(k *KafkaConfig) { k.SASL = SASLConfig{Mechanism: "OAUTHBEARER"} }),
			"needs kafka.sasl.oauth.token_file or kafka.sasl.oauth.token_url"},
		{"two token sources", base(func(k *KafkaConfig) {
			k.SASL = SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenFile: tokFile, TokenURL: "https://idp"}}
		}), "kafka.sasl.oauth.token_file and kafka.sasl.oauth.token_url both are set"},
		{"client secret twice", base(func(k *KafkaConfig) {
			k.SASL = SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenURL: "https://idp", ClientID: "svc", ClientSecret: "s", ClientSecretFile: pwFile}}
		}), "kafka.sasl.oauth.client_secret and kafka.sasl.oauth.client_secret_file both are set"},
		{"token URL without client id", base(func(k *KafkaConfig) {
			k.SASL = SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenURL: "https://idp", ClientSecret: "s"}}
		}), "kafka.sasl.oauth.client_id is empty"},
		{"token URL that is no URL", base(func(k *KafkaConfig) {
			k.SASL = SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenURL: "idp:8443/token", ClientID: "svc", ClientSecret: "s"}}
		}), `kafka.sasl.oauth.token_url "idp:8443/token": want an http(s):// URL`},
		{"credentials in the token URL", base(func(k *KafkaConfig) {
			k.SASL = SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenURL: "https://svc:url-secret-1@idp/token", ClientID: "svc", ClientSecret: "s"}}
		}), "not in the URL"},
		{"bad extensions", base(func(k *KafkaConfig) {
			k.SASL = SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenFile: tokFile, Extensions: "logicalCluster"}}
		}), `kafka.sasl.oauth.extensions "logicalCluster": want key=value`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.k.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate: %v, want an error containing %q", err, tc.want)
			case err != nil && (strings.Contains(err.Error(), "file-pw-8d1e") || strings.Contains(err.Error(), "url-secret-1")):
				t.Errorf("error shows a secret: %v", err)
			}
			if _, cerr := ClientOpts(tc.k); (cerr == nil) != (err == nil) {
				t.Errorf("ClientOpts: %v, Validate: %v; want both to agree", cerr, err)
			}
		})
	}
}

func TestKafkaWarnings(t *testing.T) {
	for _, tc := range []struct {
		k    KafkaConfig
		want string
	}{
		{KafkaConfig{TLS: TLSConfig{Enabled: true, Config: tlsfiles.Config{InsecureSkipVerify: true}}}, "kafka.tls.insecure_skip_verify is true: the server's certificate is NOT verified"},
		{KafkaConfig{SASL: SASLConfig{Mechanism: "PLAIN"}}, "kafka.sasl.mechanism PLAIN without kafka.tls.enabled: the password crosses the network unencrypted"},
		{KafkaConfig{SASL: SASLConfig{Mechanism: "SCRAM-SHA-512"}}, ""},
		{KafkaConfig{TLS: TLSConfig{Enabled: true}, SASL: SASLConfig{Mechanism: "PLAIN"}}, ""},
		{KafkaConfig{TLS: TLSConfig{Enabled: true}, SASL: SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenURL: "http://idp:8080/token"}}},
			`kafka.sasl.oauth.token_url "http://idp:8080/token" is http://: the client secret and the tokens cross the network unencrypted`},
		{KafkaConfig{TLS: TLSConfig{Enabled: true}, SASL: SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenURL: "https://idp/token"}}}, ""},
	} {
		got := strings.Join(tc.k.Warnings(), "; ")
		if (tc.want == "" && got != "") || !strings.Contains(got, tc.want) {
			t.Errorf("%+v: warnings %q, want %q", tc.k, got, tc.want)
		}
	}
}

// TestKafkaProtocol: the start line's kafka_security in Kafka's own names.
func TestKafkaProtocol(t *testing.T) {
	for _, tc := range []struct {
		k    KafkaConfig
		want string
	}{
		{KafkaConfig{}, "PLAINTEXT"},
		{KafkaConfig{TLS: TLSConfig{Enabled: true}}, "SSL"},
		{KafkaConfig{SASL: SASLConfig{Mechanism: "plain"}}, "SASL_PLAINTEXT (PLAIN)"},
		{KafkaConfig{TLS: TLSConfig{Enabled: true}, SASL: SASLConfig{Mechanism: "SCRAM-SHA-512"}}, "SASL_SSL (SCRAM-SHA-512)"},
	} {
		if got := tc.k.Protocol(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.k, got, tc.want)
		}
	}
}

// authenticate runs a mechanism's first step, as franz-go does at every
// connection, and returns the client's first message.
func authenticate(t *testing.T, s SASLConfig) (string, error) {
	t.Helper()
	m, err := saslMechanisms[strings.ToUpper(s.Mechanism)](s)
	if err != nil {
		t.Fatal(err)
	}
	_, first, err := m.Authenticate(context.Background(), "127.0.0.1:9093")
	return string(first), err
}

// TestSecretFilesAreReadAtEachConnection: a rotated password or token file
// is used from the next connection on, without a new client.
func TestSecretFilesAreReadAtEachConnection(t *testing.T) {
	pw := proctest.TempFile(t, "pw", "first\n")
	tok := proctest.TempFile(t, "tok", "token-one")
	plainCfg := SASLConfig{Mechanism: "PLAIN", Username: "svc", PasswordFile: pw}
	oauthCfg := SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenFile: tok, Extensions: "logicalCluster=lkc-1"}}
	for _, step := range []struct{ pw, tok string }{{"first", "token-one"}, {"second", "token-two"}} {
		if err := os.WriteFile(pw, []byte(step.pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(tok, []byte(step.tok), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := authenticate(t, plainCfg); err != nil || got != "\x00svc\x00"+step.pw {
			t.Errorf("PLAIN first message %q, %v; want the password %q", got, err, step.pw)
		}
		got, err := authenticate(t, oauthCfg)
		if err != nil || !strings.Contains(got, "auth=Bearer "+step.tok+"\x01") || !strings.Contains(got, "logicalCluster=lkc-1\x01") {
			t.Errorf("OAUTHBEARER first message %q, %v; want the token %q and the extension", got, err, step.tok)
		}
	}
	if err := os.Remove(pw); err != nil {
		t.Fatal(err)
	}
	if _, err := authenticate(t, plainCfg); err == nil || !strings.Contains(err.Error(), "kafka.sasl.password_file: open "+pw) {
		t.Errorf("password file gone: %v, want an error naming the key and the file", err)
	}
}

// TestOAuthClientCredentials runs the client credentials grant against a
// token endpoint: one request while the token is fresh, the scope and the
// client's credentials as RFC 6749 sends them, and a refused secret as one
// line that shows no secret.
func TestOAuthClientCredentials(t *testing.T) {
	const id, secret = "streamscore", "client-secret-4b7e"
	// The scope as RFC 6749 sends it: the configured list joined by spaces.
	idp := oauthtest.Serve(t, func(r *http.Request, user, pass string, n int) (string, bool) {
		return fmt.Sprintf("jwt-%d", n), user == id && pass == secret && r.FormValue("scope") == "kafka read"
	})

	secretFile := proctest.TempFile(t, "secret", secret+"\n")
	cfg := SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenURL: idp.URL + "/token", ClientID: id, ClientSecretFile: secretFile, Scope: "kafka,read"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m, err := saslMechanisms["OAUTHBEARER"](cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_, first, err := m.Authenticate(context.Background(), "b:9093")
		if err != nil || !strings.Contains(string(first), "auth=Bearer jwt-1\x01") {
			t.Fatalf("connection %d: first message %q, %v; want the endpoint's token", i, first, err)
		}
	}
	if n := idp.Requests(); n != 1 {
		t.Errorf("%d token requests for three connections, want 1 (the token is reused until it expires)", n)
	}

	bad := proctest.TempFile(t, "bad", "wrong-secret-90af")
	cfg.OAuth.ClientSecretFile = bad
	m, _ = saslMechanisms["OAUTHBEARER"](cfg)
	_, _, err = m.Authenticate(context.Background(), "b:9093")
	if err == nil {
		t.Fatal("a refused client secret authenticated")
	}
	msg := err.Error()
	for _, want := range []string{"kafka.sasl.oauth.token_url " + idp.URL + "/token", "401 Unauthorized", "invalid_client"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q: want it to contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") || strings.Contains(msg, "wrong-secret-90af") || strings.Contains(msg, secret) {
		t.Errorf("error %q: want one line without the secret", msg)
	}
}

// TestTokenErrorBodyIsBounded: a token endpoint that answers an HTML page
// (a proxy's 502) gives an error line with the page's start and its size,
// not the whole page.
func TestTokenErrorBodyIsBounded(t *testing.T) {
	page := "<html><body><h1>502 Bad Gateway</h1>" + strings.Repeat("<p>upstream detail</p>\n", 500) + "</body></html>"
	err := tokenError(&oauth2.RetrieveError{Response: &http.Response{Status: "502 Bad Gateway"}, Body: []byte(page)})
	msg := err.Error()
	if !strings.HasPrefix(msg, "token endpoint answered 502 Bad Gateway: <html><body><h1>502 Bad Gateway</h1>") ||
		!strings.HasSuffix(msg, " bytes more)") || len(msg) > maxTokenErrorBody+100 {
		t.Errorf("tokenError = %d bytes %q, want the page's start, bounded", len(msg), msg)
	}
}
