package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/pgtest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/schemas"
)

// envAuthPG names the port of the password-checking PostgreSQL this file
// starts (default authPGPort: neither the shared test server's 15432 nor
// the fault suite's 15433).
const (
	envAuthPG  = "STREAMSCORE_TEST_PG_AUTH_PORT"
	authPGPort = "15434"
	sinkRole   = "sink_pw" // the sink's role, its schema and the application_name of its connections
	sinkWait   = 90 * time.Second
)

// authPG is a PostgreSQL cluster of deploy/postgres whose TCP connections
// need a password (STREAMSCORE_DEV_PG_AUTH=scram-sha-256), on a port and
// cache of its own, wiped before and after the test. admin is its
// superuser's pool over the socket (trust).
type authPG struct {
	port  string
	admin *pgxpool.Pool
}

func startAuthPG(t *testing.T) *authPG {
	t.Helper()
	pg := &authPG{port: authPGPort}
	if p := os.Getenv(envAuthPG); p != "" {
		pg.port = p
	}
	if shared := os.Getenv(pgtest.Env); strings.Contains(shared, ":"+pg.port+"/") {
		t.Fatalf("the password test's PostgreSQL port %s is the shared test server's (%s=%s): set %s to another port", pg.port, pgtest.Env, shared, envAuthPG)
	}
	cache := filepath.Join(repoRoot, ".cache", "pg-auth")
	script := func(name string, args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(repoRoot, "deploy", "postgres", name)}, args...)...)
		cmd.Env = proctest.CleanEnv("STREAMSCORE_DEV_PG_CACHE="+cache, "STREAMSCORE_DEV_PG_PORT="+pg.port, "STREAMSCORE_DEV_PG_AUTH=scram-sha-256")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, proctest.LastLines(stderr.String(), 30))
		}
		return strings.TrimSpace(stdout.String())
	}
	script("pg-down.sh", "--wipe")
	dsn := script("pg-up.sh")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("PostgreSQL cluster kept for a look: %s (log %s/run/postgres.log); stop it with STREAMSCORE_DEV_PG_CACHE=%s STREAMSCORE_DEV_PG_PORT=%s bash deploy/postgres/pg-down.sh --wipe", cache, cache, cache, pg.port)
			script("pg-down.sh")
			return
		}
		script("pg-down.sh", "--wipe")
	})
	t.Logf("PostgreSQL with scram-sha-256 on 127.0.0.1:%s (cache %s), superuser over the socket: %s", pg.port, cache, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if pg.admin, err = pgxpool.New(ctx, dsn); err == nil {
		err = pg.admin.Ping(ctx)
	}
	if err != nil {
		t.Fatalf("superuser over the socket: %v", err)
	}
	t.Cleanup(pg.admin.Close)
	return pg
}

// tcpDSN is role's DSN over TCP, without a password.
func (pg *authPG) tcpDSN(role string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%s/streamscore?sslmode=disable&application_name=%s", role, pg.port, role)
}

// login connects over TCP as role with password and reports the error.
func (pg *authPG) login(role, password string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, err := pgx.ParseConfig(pg.tcpDSN(role))
	if err != nil {
		return err
	}
	cc.Password = password
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

func (pg *authPG) exec(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	tag, err := pg.admin.Exec(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return tag.RowsAffected()
}

// authFailed: err is PostgreSQL's "password authentication failed" (28P01).
func authFailed(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "28P01"
}

// producePredictions writes n JSON predictions (events from-from+n-1) to topic.
func producePredictions(t *testing.T, brokers []string, topic string, from, n int) {
	t.Helper()
	enc, err := schemas.NewEncoder(context.Background(), schemas.OutputConfig{Format: schemas.FormatJSON}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kafkatest.Produce(t, brokers, topic, n, kafkatest.WithRecords(func(i int) *kgo.Record {
		id := fmt.Sprintf("ev-%04d", from+i)
		p := schemas.Prediction{Key: []byte("card-" + id), EventID: []byte(id), EventTime: time.Now(), ScoredTime: time.Now(),
			Model: "fraud", ModelVersion: "1", Score: 0.25, Label: "Low Risk", Classes: []string{"legit", "fraud"}, Probs: []float64{0.75, 0.25}}
		v, err := enc.Append(nil, &p)
		if err != nil {
			t.Fatal(err)
		}
		return &kgo.Record{Key: p.Key, Value: v}
	}))
}

// TestSinkPostgresPasswordFile: `streamscore sink postgres` against a
// PostgreSQL that checks passwords (scram-sha-256), with a DSN without one
// and sink.postgres.password_file. The rows land; the role's password is
// rotated (ALTER ROLE, the file rewritten) and the sink's connections
// terminated, and the next rows land too, through new connections made with
// the new password, the same process; a sink whose file holds a wrong
// password stops at start with PostgreSQL's authentication failure.
func TestSinkPostgresPasswordFile(t *testing.T) {
	pg := startAuthPG(t)
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 2)

	pg.exec(t, "CREATE ROLE "+sinkRole+" LOGIN PASSWORD 'first-5b1e'")
	pg.exec(t, "CREATE SCHEMA "+sinkRole+" AUTHORIZATION "+sinkRole)
	if err := pg.login(sinkRole, ""); err == nil {
		t.Fatal("the server let the role in over TCP without a password: it does not check passwords, the test proves nothing")
	} else {
		t.Logf("over TCP without a password: %v", err)
	}

	pwFile := proctest.TempFile(t, "password", "first-5b1e\n") // a Secret's file may end in a newline
	config := func(pwFile, group string) string {
		return proctest.WriteConfig(t, map[string]any{
			"kafka.brokers":                strings.Join(brokers, ","),
			"output.topic":                 topic,
			"sink.postgres.dsn":            pg.tcpDSN(sinkRole),
			"sink.postgres.password_file":  pwFile,
			"sink.postgres.table":          sinkRole + ".predictions",
			"sink.postgres.group":          group,
			"sink.postgres.flush_interval": "100ms",
			"http.listen":                  "",
			"log.format":                   "json",
		})
	}
	sink := proctest.Start(t, "sink postgres", proctest.Options{}, bin, "sink", "postgres", "--config", config(pwFile, kafkatest.UniqueName(t, "sink")))
	sink.WaitLog(startTimeout, "streamscore sink postgres running")

	rows := func(want int64) {
		t.Helper()
		proctest.Eventually(t, sinkWait, fmt.Sprintf("%d rows in %s.predictions", want, sinkRole), func() error {
			var n int64
			if err := pg.admin.QueryRow(context.Background(), "SELECT count(*) FROM "+sinkRole+".predictions").Scan(&n); err != nil {
				return err
			}
			if n != want {
				return fmt.Errorf("%d rows", n)
			}
			return nil
		}, sink)
	}
	producePredictions(t, brokers, topic, 0, 50)
	rows(50)
	t.Logf("50 predictions written with the first password (%s, pid %d)", sink.Name, sink.Pid())

	// Rotation: the role's password, then the file (a Secret update), then
	// the sink's connections end (a server restart, a failover, an idle
	// timeout would do the same): the writes need new connections.
	pg.exec(t, "ALTER ROLE "+sinkRole+" PASSWORD 'second-9c4a'")
	if err := os.WriteFile(pwFile, []byte("second-9c4a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := pg.login(sinkRole, "first-5b1e"); !authFailed(err) {
		t.Fatalf("the old password after ALTER ROLE: %v, want the authentication failure (28P01)", err)
	}
	var before []int32
	if err := pg.admin.QueryRow(context.Background(),
		"SELECT coalesce(array_agg(pid), '{}') FROM pg_stat_activity WHERE application_name = $1", sinkRole).Scan(&before); err != nil {
		t.Fatal(err)
	}
	killed := pg.exec(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", sinkRole)
	if killed == 0 {
		t.Fatalf("no backend with application_name %s to terminate", sinkRole)
	}
	t.Logf("password rotated; terminated the sink's %d connection(s) %v", killed, before)

	producePredictions(t, brokers, topic, 50, 50)
	rows(100)
	if sink.Exited() {
		t.Fatalf("%s exited: %s", sink.Name, sink.Status())
	}
	var after []int32
	if err := pg.admin.QueryRow(context.Background(),
		"SELECT coalesce(array_agg(pid), '{}') FROM pg_stat_activity WHERE application_name = $1", sinkRole).Scan(&after); err != nil {
		t.Fatal(err)
	}
	for _, p := range after {
		for _, b := range before {
			if p == b {
				t.Fatalf("backend %d survived pg_terminate_backend (before %v, after %v)", p, before, after)
			}
		}
	}
	t.Logf("50 more predictions written through new connection(s) %v with the rotated password, the same process (pid %d)", after, sink.Pid())
	sink.StopClean()

	// A wrong password in the file: the sink stops at start and says why.
	wrong := proctest.TempFile(t, "password", "not-the-password\n")
	bad := proctest.Start(t, "sink postgres (wrong password)", proctest.Options{}, bin, "sink", "postgres", "--config", config(wrong, kafkatest.UniqueName(t, "sink-wrong")))
	code := bad.Wait(sinkWait)
	out := bad.Stdout.String()
	if code == 0 || !strings.Contains(out, "password authentication failed for user") || !strings.Contains(out, "28P01") {
		t.Fatalf("%s exited %d, want non-zero with PostgreSQL's authentication failure (28P01); output:\n%s", bad.Name, code, out)
	}
	t.Logf("wrong password: %s exited %d: %s", bad.Name, code, proctest.LastLines(out, 1))
}
