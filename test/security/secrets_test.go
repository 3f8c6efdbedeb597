package security

import (
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/oauthtest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/schemas/srtest"
)

// secretSet is every secret a test sets, to be looked for in every output:
// the values and the forms they travel in (basic auth's base64).
type secretSet map[string]string // secret -> where it was set

func (s secretSet) add(value, where string) string { s[value] = where; return value }

func (s secretSet) addBasic(user, pass, where string) {
	s.add(pass, where)
	s.add(base64.StdEncoding.EncodeToString([]byte(user+":"+pass)), where+" (basic auth header)")
}

// check fails the test for every secret that appears in out.
func (s secretSet) check(t *testing.T, what, out string) {
	t.Helper()
	if out == "" {
		t.Errorf("%s: no output to look at", what)
	}
	for v, where := range s {
		if strings.Contains(out, v) {
			t.Errorf("%s shows the secret set %s", what, where)
		}
	}
}

func writeSecretFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSecretsNeverShown sets recognisable secrets everywhere they can be set
// (SASL password, OAuth client secret and token, registry password and
// token; by flag, environment, config file value and *_file) and looks for
// them in every output: `streamscore config`, its errors, the JSON and text
// logs at debug level of runs that connect and of runs refused at start,
// and the /metrics scrape of the running service.
func TestSecretsNeverShown(t *testing.T) {
	secrets := secretSet{}
	// Real credentials (the runs must connect with them): the SCRAM
	// password made by the scripts, the unsigned JWT the token endpoint
	// issues, the registry's token and password.
	realPassword := secrets.add(broker.password(t, alos.user), "as the SCRAM password")
	secrets.addBasic(alos.user, realPassword, "as the PLAIN password")
	jwt := secrets.add(oauthtest.UnsignedJWT(alos.user, time.Now().Add(time.Hour)), "as the OAuth access token")
	const clientSecret = "oauth-client-secret-e41a"
	secrets.add(clientSecret, "as the OAuth client secret")
	const regToken, regUser, regPassword = "registry-token-flag-7c21", "registry-user", "registry-password-d9f3"
	secrets.add(regToken, "as the registry token")
	secrets.addBasic(regUser, regPassword, "as the registry password")
	idp := oauthtest.Serve(t, func(_ *http.Request, id, sec string, _ int) (string, bool) {
		return jwt, id == alos.user && sec == clientSecret
	})

	// One subtest at a time: they add to secrets, and the runs share the
	// at-least-once deployment's group.
	t.Run("config", func(t *testing.T) {
		file := func(name string) string {
			return writeSecretFile(t, name, secrets.add("file-secret-"+name+"-52b8", "in a *_file ("+name+")"))
		}
		scram := map[string]any{"kafka.brokers": broker.SASLSSL, "kafka.tls.enabled": true, "kafka.tls.ca_file": broker.CAFile,
			"kafka.sasl.mechanism": "SCRAM-SHA-512", "kafka.sasl.username": alos.user}
		oauth := map[string]any{"kafka.brokers": broker.SASLSSL, "kafka.tls.enabled": true, "kafka.tls.ca_file": broker.CAFile,
			"kafka.sasl.mechanism": "OAUTHBEARER", "kafka.sasl.oauth.token_url": idp.URL, "kafka.sasl.oauth.client_id": alos.user}
		reg := map[string]any{"registry.url": "https://registry.example:8081"}
		for _, tc := range []struct {
			name   string
			kv     map[string]any
			env    []string
			args   []string
			failed bool // the config is refused (an error about another key)
			values bool // a secret is set as a value (not a file): the output shows [redacted]
		}{
			{name: "password by flag, registry password from the environment", kv: proctest.MergeKeys(scram, reg),
				args:   []string{"--kafka.sasl.password", secrets.add("flag-secret-kafka-0a7e", "by --kafka.sasl.password"), "--registry.username", regUser},
				env:    []string{"STREAMSCORE_REGISTRY_PASSWORD=" + secrets.add("env-secret-registry-39d0", "by STREAMSCORE_REGISTRY_PASSWORD")},
				values: true},
			{name: "password in the file, registry token from a file", kv: proctest.MergeKeys(scram, reg, map[string]any{
				"kafka.sasl.password": secrets.add("file-value-kafka-77c1", "as kafka.sasl.password in the config file"),
				"registry.token_file": file("registry-token")}), values: true},
			{name: "client secret in the file, registry token from the environment", kv: proctest.MergeKeys(oauth, reg, map[string]any{
				"kafka.sasl.oauth.client_secret": secrets.add("file-value-oauth-1f6d", "as kafka.sasl.oauth.client_secret in the config file")}),
				env:    []string{"STREAMSCORE_REGISTRY_TOKEN=" + secrets.add("env-secret-token-8b44", "by STREAMSCORE_REGISTRY_TOKEN")},
				values: true},
			{name: "client secret from a file, registry password from a file by flag", kv: proctest.MergeKeys(oauth, reg, map[string]any{
				"kafka.sasl.oauth.client_secret_file": file("oauth-client-secret")}),
				args: []string{"--registry.username", regUser, "--registry.password_file", file("registry-password")}},
			{name: "client secret from the environment, refused for another key", kv: proctest.MergeKeys(oauth, reg),
				env:  []string{"STREAMSCORE_KAFKA_SASL_OAUTH_CLIENT_SECRET=" + secrets.add("env-secret-oauth-c5e2", "by STREAMSCORE_KAFKA_SASL_OAUTH_CLIENT_SECRET")},
				args: []string{"--processor.linger", "-1s"}, failed: true},
			{name: "a secret twice, refused", kv: proctest.MergeKeys(scram, map[string]any{"kafka.sasl.password": secrets.add("file-value-twice-2d90", "twice")}),
				args: []string{"--kafka.sasl.password_file", file("kafka-password")}, failed: true},
		} {
			path := writeConfig(t, proctest.MergeKeys(tc.kv, map[string]any{"model.bundle": "embedded"}))
			p := proctest.Start(t, "streamscore config", proctest.Options{Separate: true, Env: tc.env}, bin,
				append([]string{"config", "--config", path}, tc.args...)...)
			code := p.Wait(30 * time.Second)
			out := p.Stdout.String() + p.Stderr.String()
			if (code != 0) != tc.failed {
				t.Errorf("%s: exit %d, failed=%v wanted:\n%s", tc.name, code, tc.failed, out)
			}
			if tc.values && !strings.Contains(out, "[redacted]") {
				t.Errorf("%s: no [redacted] value in the output:\n%s", tc.name, out)
			}
			secrets.check(t, "streamscore config ("+tc.name+")", out)
		}
	})

	t.Run("runs", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			kv   map[string]any
			env  []string
			args []string
			reg  func(*testing.T) map[string]any // the registry it uses, if any
		}{
			{name: "SCRAM from the environment, registry token by flag, JSON logs",
				kv:  proctest.MergeKeys(alos.keys(), saslSSL(alos.user, ""), map[string]any{"kafka.sasl.password_file": "", "log.format": "json"}),
				env: []string{"STREAMSCORE_KAFKA_SASL_PASSWORD=" + realPassword},
				reg: func(t *testing.T) map[string]any {
					srv, keys := tlsRegistry(t, alos.user)
					srv.RequireBearerToken(regToken)
					return keys
				},
				args: []string{"--registry.token", regToken}},
			{name: "OAUTHBEARER client credentials from the environment, registry password in the file, text logs",
				kv: proctest.MergeKeys(alos.keys(), map[string]any{"kafka.brokers": broker.SASLSSL, "kafka.tls.enabled": true, "kafka.tls.ca_file": broker.CAFile,
					"kafka.sasl.mechanism": "OAUTHBEARER", "kafka.sasl.oauth.token_url": idp.URL, "kafka.sasl.oauth.client_id": alos.user,
					"log.format": "text", "registry.username": regUser, "registry.password": regPassword}),
				env: []string{"STREAMSCORE_KAFKA_SASL_OAUTH_CLIENT_SECRET=" + clientSecret},
				reg: func(t *testing.T) map[string]any {
					srv, keys := tlsRegistry(t, alos.user)
					srv.RequireBasicAuth(regUser, regPassword)
					return keys
				}},
			{name: "PLAIN by flag, JSON logs",
				kv:   proctest.MergeKeys(alos.keys(), saslSSL(alos.user, ""), map[string]any{"kafka.sasl.password_file": "", "kafka.sasl.mechanism": "PLAIN", "log.format": "json"}),
				args: []string{"--kafka.sasl.password", realPassword}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				kv := proctest.MergeKeys(tc.kv, map[string]any{"log.level": "debug"})
				if tc.reg != nil {
					kv = proctest.MergeKeys(kv, tc.reg(t))
				}
				nonce := "secrets-" + time.Now().Format("150405.000000")
				counter := newKeyCounter(t, nonce, alos.output)
				svc, addr := startServiceWith(t, "streamscore run", kv, tc.env, tc.args...)
				produceEvents(t, alos.input, nonce, 5, 0)
				counter.waitFor(t, map[string]int{alos.output: 5}, svc)
				resp, metrics := proctest.HTTP(t, nil, "GET", "http://"+addr+"/metrics", nil)
				if resp.StatusCode != http.StatusOK || !strings.Contains(string(metrics), "streamscore_build_info") {
					t.Fatalf("scrape %s: %d", addr, resp.StatusCode)
				}
				secrets.check(t, "/metrics", string(metrics))
				svc.StopClean()
				// At debug level the service logs nothing more today (no
				// per-record debug lines, franz-go's logger is not wired in):
				// the lines looked at are the start and partition lines.
				if logs := svc.Stderr.String(); !strings.Contains(logs, "streamscore running") || !strings.Contains(logs, "partitions assigned") {
					t.Errorf("the logs lack the start and partition lines:\n%s", logs)
				}
				secrets.check(t, "the logs", svc.Stdout.String()+svc.Stderr.String())
			})
		}
	})

	t.Run("refused runs", func(t *testing.T) {
		wrongClientSecret := writeSecretFile(t, "client-secret", secrets.add("wrong-client-secret-6a0c", "as a wrong client secret in a *_file"))
		// A registry that is gone, with the password written into its URL:
		// franz-go's sr quotes the URL of a failed request.
		gone := srtest.Start()
		gone.Close()
		urlPassword := secrets.add("url-password-4b7e", "as the password in registry.url")
		goneURL := strings.Replace(gone.URL(), "http://", "http://"+regUser+":"+urlPassword+"@", 1)
		for _, tc := range []struct {
			name string
			kv   map[string]any
			args []string
			want string
		}{
			{name: "wrong password by flag",
				kv:   proctest.MergeKeys(alos.keys(), saslSSL(alos.user, ""), map[string]any{"kafka.sasl.password_file": ""}),
				args: []string{"--kafka.sasl.password", secrets.add("wrong-password-flag-93be", "as a wrong SASL password")},
				want: "authentication failed"},
			{name: "wrong client secret from a file",
				kv: proctest.MergeKeys(alos.keys(), map[string]any{"kafka.brokers": broker.SASLSSL, "kafka.tls.enabled": true, "kafka.tls.ca_file": broker.CAFile,
					"kafka.sasl.mechanism": "OAUTHBEARER", "kafka.sasl.oauth.token_url": idp.URL, "kafka.sasl.oauth.client_id": alos.user,
					"kafka.sasl.oauth.client_secret_file": wrongClientSecret}),
				want: "invalid_client"},
			{name: "registry gone, its password in registry.url",
				kv: proctest.MergeKeys(alos.keys(), saslSSL(alos.user, broker.passwordFile(alos.user)),
					map[string]any{"output.format": "confluent", "registry.url": goneURL}),
				want: "connection refused"},
		} {
			for _, format := range []string{"json", "text"} {
				path := writeConfig(t, proctest.MergeKeys(tc.kv, map[string]any{"log.level": "debug", "log.format": format}))
				p := proctest.Start(t, "streamscore run", proctest.Options{Separate: true}, bin, append([]string{"run", "--config", path}, tc.args...)...)
				if code := p.Wait(exitTimeout); code == 0 {
					t.Errorf("%s (%s logs): exit 0, want a refusal", tc.name, format)
				}
				out := p.Stdout.String() + p.Stderr.String()
				if !strings.Contains(out, tc.want) {
					t.Errorf("%s (%s logs): want %q in\n%s", tc.name, format, tc.want, out)
				}
				secrets.check(t, tc.name+" ("+format+" logs, error)", out)
			}
		}
	})
}
