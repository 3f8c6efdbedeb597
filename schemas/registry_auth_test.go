package schemas

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/internal/tlsfiles"
	"github.com/streamscore/streamscore/internal/tlsfiles/tlstest"
	"github.com/streamscore/streamscore/schemas/srtest"
	"github.com/streamscore/streamscore/secret"
)

// The registry over TLS (a private CA, mutual TLS) with basic auth or a
// bearer token, against srtest made to require them.

func TestRegistryTLSAndAuth(t *testing.T) {
	ca := tlstest.NewCA(t, "test")
	other := tlstest.NewCA(t, "other")
	client := ca.Client(t, "streamscore")
	stranger := other.Client(t, "stranger")
	server := ca.Server(t, "registry").TLS(t)
	v1, _ := EmbeddedSchema("iris")

	const user, pass, token = "svc", "pw-3f9a", "tok-71c2"
	for _, tc := range []struct {
		name    string
		mtls    bool   // the registry requires a client certificate
		auth    string // basic, bearer
		cfg     func(url string) RegistryConfig
		wantErr string // "" : the lookup works
	}{
		{name: "TLS with the private CA, basic auth", auth: "basic",
			cfg: func(u string) RegistryConfig {
				return RegistryConfig{URL: u, Username: user, Password: pass, Config: tlsfiles.Config{CAFile: ca.File}}
			}},
		{name: "password from a file", auth: "basic",
			cfg: func(u string) RegistryConfig {
				return RegistryConfig{URL: u, Username: user, PasswordFile: proctest.TempFile(t, "secret", pass+"\n"), Config: tlsfiles.Config{CAFile: ca.File}}
			}},
		{name: "bearer token", auth: "bearer",
			cfg: func(u string) RegistryConfig {
				return RegistryConfig{URL: u, Token: token, Config: tlsfiles.Config{CAFile: ca.File}}
			}},
		{name: "bearer token from a file", auth: "bearer",
			cfg: func(u string) RegistryConfig {
				return RegistryConfig{URL: u, TokenFile: proctest.TempFile(t, "secret", token), Config: tlsfiles.Config{CAFile: ca.File}}
			}},
		{name: "mutual TLS and a token", mtls: true, auth: "bearer",
			cfg: func(u string) RegistryConfig {
				return RegistryConfig{URL: u, Token: token, Config: tlsfiles.Config{CAFile: ca.File, CertFile: client.CertFile, KeyFile: client.KeyFile}}
			}},
		{name: "user and password in the URL", auth: "basic",
			cfg: func(u string) RegistryConfig {
				return RegistryConfig{URL: strings.Replace(u, "https://", "https://"+user+":"+pass+"@", 1), Config: tlsfiles.Config{CAFile: ca.File}}
			}},
		{name: "registry.username wins over the URL's user", auth: "basic",
			cfg: func(u string) RegistryConfig {
				return RegistryConfig{URL: strings.Replace(u, "https://", "https://other:nope@", 1), Username: user, Password: pass, Config: tlsfiles.Config{CAFile: ca.File}}
			}},
		{name: "wrong password", auth: "basic", wantErr: "the registry refused the credentials (HTTP 401): check registry.username and registry.password or password_file, or registry.token or token_file: Unauthorized",
			cfg: func(u string) RegistryConfig {
				return RegistryConfig{URL: u, Username: user, Password: "wrong", Config: tlsfiles.Config{CAFile: ca.File}}
			}},
		{name: "no credentials", auth: "bearer", wantErr: "Unauthorized",
			cfg: func(u string) RegistryConfig { return RegistryConfig{URL: u, Config: tlsfiles.Config{CAFile: ca.File}} }},
		{name: "wrong token", auth: "bearer", wantErr: "the registry refused the credentials (HTTP 401): ",
			cfg: func(u string) RegistryConfig {
				return RegistryConfig{URL: u, Token: "nope", Config: tlsfiles.Config{CAFile: ca.File}}
			}},
		{name: "registry not trusted (system roots)", auth: "bearer",
			wantErr: "the server's TLS certificate is not trusted: set registry.ca_file to the CA that signed it: ",
			cfg:     func(u string) RegistryConfig { return RegistryConfig{URL: u, Token: token} }},
		{name: "registry certificate for another name", auth: "bearer",
			wantErr: "the server's TLS certificate is for another name: connect by a name it carries, or set registry.server_name: ",
			cfg: func(u string) RegistryConfig {
				return RegistryConfig{URL: u, Token: token, Config: tlsfiles.Config{CAFile: ca.File, ServerName: "elsewhere.example"}}
			}},
		{name: "no client certificate", mtls: true, auth: "bearer", wantErr: "certificate",
			cfg: func(u string) RegistryConfig {
				return RegistryConfig{URL: u, Token: token, Config: tlsfiles.Config{CAFile: ca.File}}
			}},
		{name: "client certificate of another CA", mtls: true, auth: "bearer", wantErr: "certificate",
			cfg: func(u string) RegistryConfig {
				return RegistryConfig{URL: u, Token: token, Config: tlsfiles.Config{CAFile: ca.File, CertFile: stranger.CertFile, KeyFile: stranger.KeyFile}}
			}},
		{name: "verification off", auth: "bearer",
			cfg: func(u string) RegistryConfig {
				return RegistryConfig{URL: u, Token: token, Config: tlsfiles.Config{InsecureSkipVerify: true}}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var srv *srtest.Server
			if tc.mtls {
				srv = srtest.NewTLS(t, server, ca.Pool())
			} else {
				srv = srtest.NewTLS(t, server, nil)
			}
			if tc.auth == "basic" {
				srv.RequireBasicAuth(user, pass)
			} else {
				srv.RequireBearerToken(token)
			}
			id, err := srv.Register("iris-value", v1, "")
			if err != nil {
				t.Fatal(err)
			}
			cfg := tc.cfg(srv.URL())
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			reg, err := NewRegistry(cfg)
			if err != nil {
				t.Fatalf("NewRegistry: %v", err)
			}
			_, err = reg.SchemaText(context.Background(), id)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("SchemaText: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("SchemaText: %v, want an error containing %q", err, tc.wantErr)
			case err != nil && !errors.Is(err, ErrRegistryRequest):
				t.Errorf("SchemaText: %v, want ErrRegistryRequest (try again later, not a bad record)", err)
			}
			for _, s := range []string{pass, token} {
				if err != nil && strings.Contains(err.Error(), s) {
					t.Errorf("error shows a secret: %v", err)
				}
			}
		})
	}
}

// TestRegistrySecretFileRotation: the password file is read at every
// request, so a rotated password is used without a new client.
func TestRegistrySecretFileRotation(t *testing.T) {
	srv := srtest.New(t)
	srv.RequireBasicAuth("svc", "old")
	path := proctest.TempFile(t, "secret", "old")
	reg, err := NewRegistry(RegistryConfig{URL: srv.URL(), Username: "svc", PasswordFile: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := reg.Register(ctx, "a-value", `"string"`); err != nil {
		t.Fatalf("with the first password: %v", err)
	}
	srv.RequireBasicAuth("svc", "new")
	if err := os.WriteFile(path, []byte("new\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(ctx, "b-value", `"int"`); err != nil {
		t.Fatalf("after the rotation: %v", err)
	}
	if n := srv.Unauthorized(); n != 0 {
		t.Errorf("%d requests refused, want 0", n)
	}
}

// TestRegistryURLPasswordNotInErrors: a password written into
// registry.url (https://user:pw@host) is in no error of a failed request:
// franz-go's sr quoted the URL as given ("unable to GET
// \"https://svc:pw@...\"").
func TestRegistryURLPasswordNotInErrors(t *testing.T) {
	const pass = "url-pw-6d1e"
	srv := srtest.New(t)
	srv.RequireBasicAuth("svc", "another")
	closed := srtest.New(t)
	closed.Close()
	for _, u := range []string{srv.URL(), closed.URL()} {
		reg, err := NewRegistry(RegistryConfig{URL: strings.Replace(u, "http://", "http://svc:"+pass+"@", 1)})
		if err != nil {
			t.Fatal(err)
		}
		errs := []error{reg.Check(context.Background())}
		_, err = reg.SchemaText(context.Background(), 1)
		errs = append(errs, err)
		_, err = reg.Register(context.Background(), "a-value", `"string"`)
		errs = append(errs, err)
		for _, err := range errs {
			if err == nil || !errors.Is(err, ErrRegistryRequest) {
				t.Errorf("%s: %v, want ErrRegistryRequest", u, err)
			} else if strings.Contains(err.Error(), pass) {
				t.Errorf("the error shows the URL's password: %v", err)
			}
		}
	}
}

// TestRegistryCheck: Check passes with the right credentials and names the
// settings to fix with wrong ones.
func TestRegistryCheck(t *testing.T) {
	srv := srtest.New(t)
	srv.RequireBearerToken("tok-right")
	for tok, want := range map[string]string{"tok-right": "", "tok-wrong": "schema registry request failed: the registry refused the credentials (HTTP 401): check registry.username"} {
		reg, err := NewRegistry(RegistryConfig{URL: srv.URL(), Token: secret.Value(tok)})
		if err != nil {
			t.Fatal(err)
		}
		err = reg.Check(context.Background())
		if (want == "" && err != nil) || (want != "" && (err == nil || !strings.Contains(err.Error(), want))) {
			t.Errorf("token %s: Check: %v, want %q", tok, err, want)
		}
	}
}

func TestRegistryConfigConflicts(t *testing.T) {
	ca := tlstest.NewCA(t, "test")
	const content = "pw-content-77"
	pwFile := proctest.TempFile(t, "secret", content)
	for _, tc := range []struct {
		name string
		cfg  RegistryConfig
		want string
	}{
		{"password twice", RegistryConfig{URL: "https://sr", Username: "u", Password: "p", PasswordFile: pwFile},
			"registry.password and registry.password_file both are set"},
		{"token twice", RegistryConfig{URL: "https://sr", Token: "t", TokenFile: pwFile}, "registry.token and registry.token_file both are set"},
		{"basic and bearer", RegistryConfig{URL: "https://sr", Username: "u", Password: "p", Token: "t"}, "registry.username and registry.token are both set"},
		{"password without user", RegistryConfig{URL: "https://sr", PasswordFile: pwFile}, "registry.password_file is set without registry.username"},
		{"missing password file", RegistryConfig{URL: "https://sr", Username: "u", PasswordFile: "/nonexistent/pw"},
			`registry.password_file: open /nonexistent/pw: no such file or directory`},
		{"empty token file", RegistryConfig{URL: "https://sr", TokenFile: proctest.TempFile(t, "secret", "\n")}, "is empty"},
		{"TLS file with an http URL", RegistryConfig{URL: "http://sr:8081", Config: tlsfiles.Config{CAFile: ca.File}},
			`registry.ca_file is set but registry.url "http://sr:8081" is not https://`},
		{"CA file that is not PEM", RegistryConfig{URL: "https://sr", Config: tlsfiles.Config{CAFile: pwFile}},
			`registry.ca_file "` + pwFile + `": no PEM certificate in it`},
		{"two users in the URLs", RegistryConfig{URL: "https://a:" + content + "@sr1,https://b:" + content + "@sr2"},
			"the URLs carry different user names or passwords"},
		{"certificate without key", RegistryConfig{URL: "https://sr", Config: tlsfiles.Config{CertFile: ca.File}},
			"registry.cert_file " + `"` + ca.File + `" is set without registry.key_file`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), content) {
				t.Errorf("error shows the password file's content: %v", err)
			}
		})
	}
}

func TestRegistryWarnings(t *testing.T) {
	for _, tc := range []struct {
		cfg  RegistryConfig
		want string
	}{
		{RegistryConfig{URL: "https://sr", Config: tlsfiles.Config{InsecureSkipVerify: true}}, "registry.insecure_skip_verify is true"},
		{RegistryConfig{URL: "http://sr", Username: "u", Password: secret.Value("p")}, "credentials cross the network unencrypted"},
		{RegistryConfig{URL: "https://sr", Username: "u", Password: secret.Value("p")}, ""},
		{RegistryConfig{URL: "http://u:p@sr"}, `registry.url "http://sr" is http://: the Schema Registry credentials cross the network unencrypted`},
	} {
		got := strings.Join(tc.cfg.Warnings(), "; ")
		if (tc.want == "" && got != "") || !strings.Contains(got, tc.want) {
			t.Errorf("%v: warnings %q, want %q", tc.cfg, got, tc.want)
		}
	}
}
