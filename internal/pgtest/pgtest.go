// Package pgtest gives a test a schema of its own on the PostgreSQL server
// `make test` starts (deploy/postgres/pg-up.sh), named after the test and
// dropped with everything in it when the test ends, so tests share one
// server without seeing each other's tables.
package pgtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/streamscore/streamscore/internal/kafkatest"
)

// Env names the PostgreSQL server of the tests (a DSN); `make test` sets it.
const Env = "STREAMSCORE_TEST_POSTGRES"

// Schema connects a pool to dsn and creates a fresh schema; t's cleanup
// drops the schema (CASCADE) and closes the pool. A server that does not
// answer fails the test.
func Schema(t testing.TB, dsn string) (*pgxpool.Pool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, dsn)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		t.Fatalf("%s is set but PostgreSQL does not answer: %v (start it with `bash deploy/postgres/pg-up.sh`)", Env, err)
	}
	schema := strings.ToLower(strings.ReplaceAll(kafkatest.UniqueName(t, "s"), "-", "_"))
	if len(schema) > 63 { // PostgreSQL's identifier limit; the unique part is at the end
		schema = "s" + schema[len(schema)-62:]
	}
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		pool.Close()
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
	return pool, schema
}
