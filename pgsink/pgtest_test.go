package pgsink

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/streamscore/streamscore/internal/kafkatest"
)

// envPostgres points the tests at a PostgreSQL server; `make test` sets it
// to the server deploy/postgres/pg-up.sh starts.
const envPostgres = "STREAMSCORE_TEST_POSTGRES"

// testDB gives the test a pool on STREAMSCORE_TEST_POSTGRES and a fresh
// schema (dropped in cleanup), and returns the schema-qualified table name
// for the sink. Without the variable the test is skipped with a message:
// `make test` always sets it, so there the test runs (and fails if the
// server does not answer).
func testDB(t testing.TB) (dsn string, pool *pgxpool.Pool, table string) {
	t.Helper()
	dsn = os.Getenv(envPostgres)
	if dsn == "" {
		t.Skipf("%s is not set: this test needs PostgreSQL. `make test` starts one (deploy/postgres/pg-up.sh) and runs it; "+
			"by hand: %s=$(bash deploy/postgres/pg-up.sh) go test ./pgsink/", envPostgres, envPostgres)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, dsn)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		t.Fatalf("%s is set but PostgreSQL does not answer: %v (start it with `bash deploy/postgres/pg-up.sh`)", envPostgres, err)
	}
	schema := strings.ToLower(strings.ReplaceAll(kafkatest.UniqueName(t, "s"), "-", "_"))
	if len(schema) > 63 {
		schema = schema[len(schema)-63:]
		schema = "s" + schema[1:]
	}
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		pool.Close()
	})
	return dsn, pool, schema + ".predictions"
}

// count runs a count(*) query.
func count(t testing.TB, pool *pgxpool.Pool, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
