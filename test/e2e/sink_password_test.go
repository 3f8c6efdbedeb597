package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	cc.RuntimeParams["application_name"] = "password-check" // not one of the sink's
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
// and sink.postgres.password_file. The rows land. The role's password is
// rotated and the sink's connections terminated while the file still holds
// the old one: the sink waits (an outage, PostgreSQL refusing the password)
// instead of exiting, and writes once the file is rewritten; rotated again
// (both at once), the rows land too; all in the same process. A sink whose
// file holds a wrong password stops at start naming the file.
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

	// A rotation in two steps that land apart, as a Secret's file is
	// updated up to a minute or more after the role's password: while the
	// file still holds the old password, the writes need new connections
	// (the old ones terminated, as a server restart, failover or idle
	// timeout would) and PostgreSQL refuses them. The sink waits that out
	// as an outage and writes once the file has the new password.
	rotate := func(password string) {
		t.Helper()
		pg.exec(t, "ALTER ROLE "+sinkRole+" PASSWORD '"+password+"'")
		if err := pg.login(sinkRole, "first-5b1e"); !authFailed(err) {
			t.Fatalf("the first password after ALTER ROLE: %v, want the authentication failure (28P01)", err)
		}
	}
	writeFile := func(password string) {
		t.Helper()
		if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	backends := func() []int32 {
		t.Helper()
		var pids []int32
		if err := pg.admin.QueryRow(context.Background(),
			"SELECT coalesce(array_agg(pid), '{}') FROM pg_stat_activity WHERE application_name = $1", sinkRole).Scan(&pids); err != nil {
			t.Fatal(err)
		}
		return pids
	}
	terminate := func() []int32 {
		t.Helper()
		before := backends()
		if n := pg.exec(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", sinkRole); n == 0 {
			t.Fatalf("no backend with application_name %s to terminate", sinkRole)
		}
		return before
	}
	// newConns: the sink's backends now are none of before.
	newConns := func(before []int32) []int32 {
		t.Helper()
		after := backends()
		for _, p := range after {
			if slices.Contains(before, p) {
				t.Fatalf("backend %d survived pg_terminate_backend (before %v, after %v)", p, before, after)
			}
		}
		if sink.Exited() {
			t.Fatalf("%s exited: %s", sink.Name, sink.Status())
		}
		return after
	}

	rotate("second-9c4a")
	// pgxpool pings a connection idle for over a second before handing it
	// out, so the next write opens a new connection rather than failing on
	// the terminated one first.
	proctest.Eventually(t, sinkWait, "the sink's connections idle for 1.5s", func() error {
		var busy int
		err := pg.admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND (state <> 'idle' OR state_change > now() - interval '1.5 seconds')", sinkRole).Scan(&busy)
		if err == nil && busy > 0 {
			err = fmt.Errorf("%d busy or lately active", busy)
		}
		return err
	}, sink)
	before := terminate()
	producePredictions(t, brokers, topic, 50, 25)
	outage := sink.WaitLog(sinkWait, "postgres unavailable; consumption waits and retries with backoff (logged once per outage)")
	if e, _ := outage["err"].(string); !strings.Contains(e, "28P01") {
		t.Fatalf("the outage's error %q is not the authentication failure (28P01)", e)
	}
	t.Logf("password changed, the file not yet, connections %v terminated: %s stays up, waiting: %v", before, sink.Name, outage["err"])
	writeFile("second-9c4a")
	rows(75)
	t.Logf("the file updated: 25 more predictions written through new connection(s) %v, the same process (pid %d)", newConns(before), sink.Pid())

	// Both halves at once, then the connections end.
	rotate("third-71d0")
	writeFile("third-71d0")
	before = terminate()
	producePredictions(t, brokers, topic, 75, 25)
	rows(100)
	t.Logf("rotated again, connections %v terminated: 25 more predictions through new connection(s) %v, the same process (pid %d)", before, newConns(before), sink.Pid())
	sink.StopClean()

	// A wrong password in the file: the sink stops at start and says why.
	wrong := proctest.TempFile(t, "password", "not-the-password\n")
	bad := proctest.Start(t, "sink postgres (wrong password)", proctest.Options{}, bin, "sink", "postgres", "--config", config(wrong, kafkatest.UniqueName(t, "sink-wrong")))
	code := bad.Wait(sinkWait)
	out := bad.Stdout.String()
	if want := "postgres refused the password of sink.postgres.password_file " + wrong; code == 0 || !strings.Contains(out, want) || !strings.Contains(out, "28P01") {
		t.Fatalf("%s exited %d, want non-zero with %q and the authentication failure (28P01); output:\n%s", bad.Name, code, want, out)
	}
	t.Logf("wrong password: %s exited %d: %s", bad.Name, code, proctest.LastLines(out, 1))
}
