package pgsink

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/streamscore/streamscore/internal/pgtest"
)

// testDB gives the test a pool on STREAMSCORE_TEST_POSTGRES and a fresh
// schema (pgtest.Schema: dropped in cleanup), and returns the
// schema-qualified table name for the sink. Without the variable the test
// is skipped with a message: `make test` always sets it, so there the test
// runs (and fails if the server does not answer).
func testDB(t testing.TB) (dsn string, pool *pgxpool.Pool, table string) {
	t.Helper()
	dsn = os.Getenv(pgtest.Env)
	if dsn == "" {
		t.Skipf("%s is not set: this test needs PostgreSQL. `make test` starts one (deploy/postgres/pg-up.sh) and runs it; "+
			"by hand: %s=$(bash deploy/postgres/pg-up.sh) go test ./pgsink/", pgtest.Env, pgtest.Env)
	}
	pool, schema := pgtest.Schema(t, dsn)
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
