package pgsink

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/streamscore/streamscore/secret"
)

// Config is the sink's own configuration. cmd fills Topic from output.topic
// and the rest from the sink.postgres section; the field tags give each
// key's name and help text, DefaultConfig its default.
type Config struct {
	// DSN is a libpq connection string or URL. It may hold a password, so it
	// is a secret.Value: it never prints.
	DSN secret.Value `config:"dsn" help:"PostgreSQL connection string (libpq keywords or postgres:// URL); a secret, never printed"`
	// PasswordFile is read at every new connection, so a rotated password
	// (a Kubernetes Secret mount) is taken without a restart.
	PasswordFile string        `config:"password_file" help:"file holding the PostgreSQL password, read at every new connection (rotation without restart); instead of a password in sink.postgres.dsn"`
	Table        string        `config:"table" help:"prediction table, optionally schema-qualified; <table>_offsets and <table>_rejects sit beside it"`
	Group        string        `config:"group" help:"consumer group of the sink instances (offsets live in PostgreSQL, keyed by group, topic and partition)"`
	BatchSize    int           `config:"batch_size" help:"most records written in one PostgreSQL transaction"`
	FlushEvery   time.Duration `config:"flush_interval" help:"longest a consumed record waits before its batch is written"`
	CreateTable  bool          `config:"create_table" help:"create the three tables at start when missing (CREATE TABLE IF NOT EXISTS)"`
	// InstanceID is the static group member id (KIP-345): a restarted
	// instance takes its partitions back at once instead of after the
	// session timeout.
	InstanceID     string        `config:"instance_id" help:"static group member id (e.g. the pod name of a StatefulSet): a restarted sink gets its partitions back without waiting for session_timeout; unique per instance"`
	SessionTimeout time.Duration `config:"session_timeout" help:"group session timeout: how fast a dead sink's partitions move to the others"`

	// Topic is the prediction topic (output.topic); not a key of this section.
	Topic string `config:"-"`
}

// DefaultConfig is the configuration every key starts from.
func DefaultConfig() Config {
	return Config{
		Table:          "predictions",
		Group:          "streamscore-sink-postgres",
		BatchSize:      5000,
		FlushEvery:     200 * time.Millisecond,
		CreateTable:    true,
		SessionTimeout: 10 * time.Second,
	}
}

// maxIdent leaves room for the "_offsets" / "_rejects" suffixes within
// PostgreSQL's 63-byte identifier limit.
const maxIdent = 63 - len("_offsets")

var tableRE = regexp.MustCompile(`^(?:([a-z_][a-z0-9_]*)\.)?([a-z_][a-z0-9_]*)$`)

// Validate checks every key that is set and names the first wrong one with
// its value (never the DSN's value: it is a secret). What the sink cannot
// start without (a DSN, the topic) is Runnable's: the section exists in
// every command's configuration, and only `sink postgres` needs it.
func (c *Config) Validate() error {
	if c.DSN != "" {
		if _, err := pgxpool.ParseConfig(c.DSN.Reveal()); err != nil {
			return dsnError(c.DSN.Reveal(), err)
		}
		if c.PasswordFile != "" && dsnHasPassword(c.DSN.Reveal()) {
			return fmt.Errorf("sink.postgres.dsn holds a password and sink.postgres.password_file is set: %w", secret.ErrBothSet)
		}
	}
	m := tableRE.FindStringSubmatch(c.Table)
	if m == nil {
		return fmt.Errorf("sink.postgres.table %q: want [schema.]name in lower case letters, digits and _", c.Table)
	}
	if len(m[1]) > 63 || len(m[2]) > maxIdent {
		return fmt.Errorf("sink.postgres.table %q: a name longer than %d bytes (63 minus the _offsets suffix)", c.Table, maxIdent)
	}
	if c.Group == "" {
		return fmt.Errorf("sink.postgres.group is empty")
	}
	if c.BatchSize < 1 || c.BatchSize > 1_000_000 {
		return fmt.Errorf("sink.postgres.batch_size %d: want 1 to 1000000", c.BatchSize)
	}
	if c.FlushEvery <= 0 {
		return fmt.Errorf("sink.postgres.flush_interval %s: must be positive", c.FlushEvery)
	}
	if c.SessionTimeout < time.Second || c.SessionTimeout > 30*time.Minute {
		return fmt.Errorf("sink.postgres.session_timeout %s: want 1s to 30m (the broker's group.min/max.session.timeout.ms bound it too)", c.SessionTimeout)
	}
	return nil
}

// Runnable is Validate plus what a running sink needs: a DSN and the topic.
func (c *Config) Runnable() error {
	if c.DSN == "" {
		return fmt.Errorf("sink.postgres.dsn is empty: set it (env STREAMSCORE_SINK_POSTGRES_DSN), e.g. postgres://user@host:5432/db")
	}
	if c.Topic == "" {
		return fmt.Errorf("output.topic is empty: the sink reads the prediction topic")
	}
	return c.Validate()
}

// Warnings are settings that work but leave the connection to PostgreSQL
// open to others on the network path; the sink logs each at start. libpq's
// default sslmode, prefer, takes any certificate and falls back to
// plaintext, so the password and the rows may go to whoever answers. A
// Unix socket or a loopback host needs no TLS.
func (c Config) Warnings() []string {
	if c.DSN == "" {
		return nil
	}
	pc, err := pgconn.ParseConfig(c.DSN.Reveal())
	if err != nil {
		return nil // Validate reports it
	}
	hosts := append([]*pgconn.FallbackConfig{{Host: pc.Host, TLSConfig: pc.TLSConfig}}, pc.Fallbacks...)
	for _, h := range hosts {
		if strings.HasPrefix(h.Host, "/") || h.Host == "localhost" || net.ParseIP(h.Host).IsLoopback() {
			continue
		}
		if tc := h.TLSConfig; tc == nil || (tc.InsecureSkipVerify && tc.VerifyPeerCertificate == nil) {
			return []string{fmt.Sprintf("sink.postgres.dsn: the server %s is not verified (sslmode is not verify-full or verify-ca): "+
				"the password and the rows can go to anyone on the network path; set sslmode=verify-full and sslrootcert to the server's CA", h.Host)}
		}
	}
	return nil
}

// passwordKeyword is a password in a libpq keyword/value DSN.
var passwordKeyword = regexp.MustCompile(`(^|\s)password\s*=`)

// dsnHasPassword says whether dsn itself carries a password (not one pgx
// would find in a .pgpass file or PGPASSWORD).
func dsnHasPassword(dsn string) bool {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return false
		}
		_, set := u.User.Password()
		return set || u.Query().Has("password")
	}
	return passwordKeyword.MatchString(dsn)
}

// dsnError is a DSN parse error without the DSN: pgx's message quotes the
// connection string with the password hidden only in the forms it parses
// (password = x with spaces, an escaped space or a second @ in the password
// showed it), and a URL error quotes the URL. What is left says what is
// wrong (sslmode is invalid, invalid port, an unterminated quote).
func dsnError(dsn string, err error) error {
	msg := err.Error()
	// pgconn.ParseConfigError reads "cannot parse `<connection string,
	// best-effort redacted>`: <what> (<cause>)": keep what and cause.
	if pe := (*pgconn.ParseConfigError)(nil); errors.As(err, &pe) {
		if i := strings.LastIndex(msg, "`: "); i >= 0 {
			msg = "cannot parse `<dsn>`: " + msg[i+len("`: "):]
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.URL != "" {
		msg = strings.ReplaceAll(msg, ue.URL, "<dsn>")
	}
	msg = strings.ReplaceAll(msg, dsn, "<dsn>")
	return fmt.Errorf("sink.postgres.dsn: %s (the DSN is not shown: it holds the password)", msg)
}
