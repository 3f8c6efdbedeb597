package pgsink

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/streamscore/streamscore/secret"
)

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	good.DSN, good.Topic = "postgres://u:pw@127.0.0.1:5432/db", "predictions"
	if err := good.Runnable(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	if d := DefaultConfig(); d.Validate() != nil {
		t.Fatalf("the defaults (no DSN: a command that runs no sink) must validate: %v", d.Validate())
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no dsn", func(c *Config) { c.DSN = "" }, "sink.postgres.dsn is empty"},
		{"bad dsn keeps the password out", func(c *Config) { c.DSN = "postgres://u:hunter2@host:notaport/db" }, "sink.postgres.dsn: cannot parse `<dsn>`: invalid port"},
		// forms pgx's own redaction misses
		{"password with spaces around =", func(c *Config) { c.DSN = "host=127.0.0.1 password = hunter2 sslmode=bogus" }, "sslmode is invalid"},
		{"password with an escaped space", func(c *Config) { c.DSN = `host=127.0.0.1 password=hunter2\ hunter2 sslmode=bogus` }, "sslmode is invalid"},
		{"password with an @", func(c *Config) { c.DSN = "postgres://bob:hunter2@hunter2@127.0.0.1/db?sslmode=bogus" }, "sslmode is invalid"},
		{"unterminated quote", func(c *Config) { c.DSN = "host=x password='hunter2" }, "unterminated quoted string"},
		{"bad URL escape", func(c *Config) { c.DSN = "postgres://bob:hunter2%zz@h/db" }, "sink.postgres.dsn"},
		{"table with a space", func(c *Config) { c.Table = "my table" }, `sink.postgres.table "my table"`},
		{"table upper case", func(c *Config) { c.Table = "Preds" }, `sink.postgres.table "Preds"`},
		{"table too long", func(c *Config) { c.Table = strings.Repeat("t", 60) }, "sink.postgres.table"},
		{"no group", func(c *Config) { c.Group = "" }, "sink.postgres.group is empty"},
		{"batch size 0", func(c *Config) { c.BatchSize = 0 }, "sink.postgres.batch_size 0"},
		{"flush 0", func(c *Config) { c.FlushEvery = 0 }, "sink.postgres.flush_interval 0s"},
		{"session timeout 0", func(c *Config) { c.SessionTimeout = 0 }, "sink.postgres.session_timeout 0s"},
		{"no topic", func(c *Config) { c.Topic = "" }, "output.topic is empty"},
		{"password in the URL and a password file", func(c *Config) { c.PasswordFile = "/run/pw" }, "sink.postgres.dsn holds a password and sink.postgres.password_file is set"},
		{"password keyword and a password file", func(c *Config) {
			c.DSN, c.PasswordFile = "host=127.0.0.1 user=u password=hunter2", "/run/pw"
		}, "sink.postgres.password_file is set"},
		{"password in the URL query and a password file", func(c *Config) {
			c.DSN, c.PasswordFile = "postgres://u@127.0.0.1/db?password=hunter2", "/run/pw"
		}, "sink.postgres.password_file is set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.change(&c)
			err := c.Runnable() // Validate, plus the DSN and topic a running sink needs
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Runnable() = %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error prints the password: %v", err)
			}
		})
	}
	for _, name := range []string{"predictions", "analytics.predictions", "p_2"} {
		c := good
		c.Table = name
		if err := c.Validate(); err != nil {
			t.Errorf("table %q: %v", name, err)
		}
	}
}

// TestPasswordFile: sink.postgres.password_file is read at every new
// connection (a rotated Secret is taken without a restart), must be
// readable at start, and goes with a DSN that holds no password.
func TestPasswordFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pw")
	c := DefaultConfig()
	c.DSN, c.Topic, c.PasswordFile = "postgres://sink@127.0.0.1:5432/db", "predictions", path
	if _, err := poolConfig(c); err == nil || !strings.Contains(err.Error(), "sink.postgres.password_file: open "+path) {
		t.Fatalf("missing file: %v, want an error naming the key and the path", err)
	}
	for _, pw := range []string{"first\n", "second"} {
		if err := os.WriteFile(path, []byte(pw), 0o600); err != nil {
			t.Fatal(err)
		}
		pc, err := poolConfig(c)
		if err != nil {
			t.Fatal(err)
		}
		cc := pc.ConnConfig.Copy()
		if err := pc.BeforeConnect(context.Background(), cc); err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSpace(pw); cc.Password != want {
			t.Errorf("password %q, want %q (the file's)", cc.Password, want)
		}
	}
	pc, err := poolConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("rotated"), 0o600); err != nil {
		t.Fatal(err)
	}
	cc := pc.ConnConfig.Copy()
	if err := pc.BeforeConnect(context.Background(), cc); err != nil || cc.Password != "rotated" {
		t.Errorf("after rotation: password %q, err %v; want the new file's", cc.Password, err)
	}
	for _, dsn := range []string{"postgres://sink@127.0.0.1/db", "host=127.0.0.1 user=sink", "postgresql://sink@h/db?sslmode=disable"} {
		c.DSN = secret.Value(dsn)
		if err := c.Validate(); err != nil {
			t.Errorf("%s with a password file: %v", dsn, err)
		}
	}
}

func TestTableNames(t *testing.T) {
	got := newTables("analytics.preds")
	for _, tc := range []struct{ got, want string }{
		{got.rows.Sanitize(), `"analytics"."preds"`},
		{got.offsets.Sanitize(), `"analytics"."preds_offsets"`},
		{got.rejects.Sanitize(), `"analytics"."preds_rejects"`},
	} {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
	if ddl := newTables("p").ddl(); strings.Contains(ddl, "{") && strings.Contains(ddl, "{table}") {
		t.Errorf("ddl keeps a placeholder:\n%s", ddl)
	}
}

// TestWarnings: a DSN that does not verify the server (libpq's default
// sslmode prefer among them) is warned about, unless the server is local;
// verify-full and verify-ca are not.
func TestWarnings(t *testing.T) {
	for dsn, warn := range map[string]bool{
		"postgres://sink:pw@db.example:5432/analytics":                                 true,
		"postgres://sink:pw@db.example/analytics?sslmode=require":                      true,
		"host=db.example user=sink password=pw sslmode=disable":                        true,
		"postgres://sink:pw@127.0.0.1,db.example/analytics?sslmode=prefer":             true,
		"postgres://sink:pw@db.example/analytics?sslmode=verify-full":                  false,
		"postgres://sink:pw@db.example/analytics?sslmode=verify-ca&sslrootcert=system": false,
		"postgres://sink:pw@localhost/analytics?sslmode=disable":                       false,
		"postgres://sink:pw@127.0.0.1:5432/analytics?sslmode=disable":                  false,
		"host=/var/run/postgresql user=sink":                                           false,
	} {
		got := Config{DSN: secret.Value(dsn)}.Warnings()
		if (len(got) > 0) != warn {
			t.Errorf("%s: warnings %q, want a warning: %v", dsn, got, warn)
		}
		for _, w := range got {
			if strings.Contains(w, "pw") || !strings.Contains(w, "sslmode=verify-full") {
				t.Errorf("%s: warning %q shows the password or lacks the fix", dsn, w)
			}
		}
	}
}

// TestPasswordRefusedIsWaitedOut: PostgreSQL refusing the password (28P01)
// is no transient error in general, but with sink.postgres.password_file it
// is waited out while the sink runs (a rotation changes the role and the
// mounted file apart); without a file it stays fatal.
func TestPasswordRefusedIsWaitedOut(t *testing.T) {
	refusedPW := fmt.Errorf("begin: %w", &pgconn.PgError{Code: "28P01", Message: "password authentication failed"})
	withFile := &Sink{cfg: Config{PasswordFile: "/run/pw"}}
	withoutFile := &Sink{cfg: Config{}}
	if transient(refusedPW) {
		t.Error("28P01 is transient: a wrong password in the DSN would be retried for ever")
	}
	if !withFile.passwordRefused(refusedPW) {
		t.Error("28P01 with a password file: not waited out")
	}
	if withoutFile.passwordRefused(refusedPW) {
		t.Error("28P01 without a password file: waited out, want fatal")
	}
	if withFile.passwordRefused(fmt.Errorf("x: %w", &pgconn.PgError{Code: "42501"})) {
		t.Error("42501 (no privilege) taken for a refused password")
	}
}
