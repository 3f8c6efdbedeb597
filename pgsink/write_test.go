package pgsink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/secret"
)

// writeSink is a Sink for the write path alone (no Kafka client), with its
// tables created.
func writeSink(t testing.TB) (*Sink, func(string) int64) {
	t.Helper()
	dsn, pool, table := testDB(t)
	cfg := DefaultConfig()
	cfg.DSN, cfg.Table, cfg.Topic, cfg.Group = secret.Value(dsn), table, "preds", "g"
	s, err := New(cfg, nil, NewMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.pool.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.prepare(ctx); err != nil {
		t.Fatal(err)
	}
	return s, func(q string) int64 { return count(t, pool, q) }
}

func row(t testing.TB, i int) Row {
	t.Helper()
	p, echo := prediction(i)
	r, err := ParseRow(encoded(t, p, echo), "preds", 0, int64(i))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWriteCompareAndSet(t *testing.T) {
	s, q := writeSink(t)
	ctx := context.Background()
	tbl, offs := s.names.rows.Sanitize(), s.names.offsets.Sanitize()
	first := &batch{rows: []Row{row(t, 0), row(t, 1)}, parts: map[int32]*partBatch{0: {expected: -1, first: 0, next: 2}}}
	if err := s.write(ctx, first); err != nil {
		t.Fatalf("first batch (no stored offset yet): %v", err)
	}
	for _, tc := range []struct {
		name     string
		expected int64
		fenced   bool
	}{
		{"a second first batch (a zombie that saw no row)", -1, true},
		{"an expected offset behind the stored one", 1, true},
		{"an expected offset ahead of the stored one", 5, true},
		{"the stored offset", 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := q("SELECT count(*) FROM " + tbl)
			b := &batch{rows: []Row{row(t, 2)}, parts: map[int32]*partBatch{0: {expected: tc.expected, first: 2, next: 3}}}
			err := s.write(ctx, b)
			var fe *fencedError
			if got := errors.As(err, &fe); got != tc.fenced {
				t.Fatalf("write: %v, want fenced %v", err, tc.fenced)
			}
			after := q("SELECT count(*) FROM " + tbl)
			if want := before + map[bool]int64{true: 0, false: 1}[tc.fenced]; after != want {
				t.Errorf("rows %d -> %d, want %d", before, after, want)
			}
		})
	}
	if got := q("SELECT next_offset FROM " + offs + " WHERE partition = 0"); got != 3 {
		t.Errorf("stored offset %d, want 3", got)
	}
}

func TestWriteRefusedRowGoesToRejects(t *testing.T) {
	s, q := writeSink(t)
	bad := row(t, 1)
	bad.Probabilities = []byte(`{"not json`) // a row PostgreSQL refuses (22P02)
	b := &batch{rows: []Row{row(t, 0), bad, row(t, 2)}, parts: map[int32]*partBatch{0: {expected: -1, first: 0, next: 3}}}
	if err := s.write(context.Background(), b); err != nil {
		t.Fatalf("write: %v", err)
	}
	if got := q("SELECT count(*) FROM " + s.names.rows.Sanitize()); got != 2 {
		t.Errorf("%d rows written, want the 2 good ones", got)
	}
	if got := q("SELECT count(*) FROM " + s.names.rejects.Sanitize() + " WHERE source_offset = 1 AND reason = 'postgres_refused' AND error LIKE '%json%'"); got != 1 {
		t.Errorf("%d refused rows in the rejects table, want 1 at offset 1 with the server's message", got)
	}
	if got := q("SELECT next_offset FROM " + s.names.offsets.Sanitize()); got != 3 {
		t.Errorf("stored offset %d, want 3", got)
	}
	if len(b.rows) != 2 || len(b.rejects) != 1 {
		t.Errorf("batch after write: %d rows, %d rejects; want 2 and 1 (the metrics count from it)", len(b.rows), len(b.rejects))
	}
}

// records are predictions 0..n-1 of the test stream as Kafka records at
// offsets 0..n-1 of partition 0, with change applied to prediction bad.
func records(t testing.TB, n, bad int, change func(*schemas.Prediction)) []*kgo.Record {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		p, echo := prediction(i)
		if i == bad {
			change(&p)
		}
		recs[i] = &kgo.Record{Topic: "preds", Offset: int64(i), Key: p.Key, Value: encoded(t, p, echo)}
	}
	return recs
}

// TestWriteRefusedRowKeepsRecord: a row the table refuses (a constraint or
// an index limit a DBA added) moves to the rejects with the record's key and
// value, so nothing is lost, and the others are written; a NOT NULL column
// the sink does not write refuses every row, so the batch fails instead of
// every record moving to the rejects.
func TestWriteRefusedRowKeepsRecord(t *testing.T) {
	// Random letters do not compress below btree's 2704-byte row limit.
	long := make([]byte, 20000)
	for i := range long {
		long[i] = 'a' + byte(rand.IntN(26))
	}
	for _, tc := range []struct {
		name, ddl string
		change    func(*schemas.Prediction)
		refused   bool // the bad row is refused alone; false: the batch fails
	}{
		{"a CHECK constraint", "ALTER TABLE {t} ADD CHECK (score <= 1)",
			func(p *schemas.Prediction) { p.Score = 2 }, true},
		{"a long key under an index", "CREATE INDEX ON {t} (key)",
			func(p *schemas.Prediction) { p.Key = long }, true},
		{"a NOT NULL column the sink does not write", "ALTER TABLE {t} ADD COLUMN tenant text NOT NULL",
			func(*schemas.Prediction) {}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, q := writeSink(t)
			tbl := s.names.rows.Sanitize()
			if _, err := s.pool.Exec(context.Background(), strings.ReplaceAll(tc.ddl, "{t}", tbl)); err != nil {
				t.Fatal(err)
			}
			recs := records(t, 3, 1, tc.change)
			b := &batch{recs: recs, parts: map[int32]*partBatch{0: {expected: -1, first: 0, next: 3}}, records: 3}
			err := s.write(context.Background(), b)
			rows, rejects := q("SELECT count(*) FROM "+tbl), q("SELECT count(*) FROM "+s.names.rejects.Sanitize())
			if !tc.refused {
				if err == nil || refused(err) {
					t.Fatalf("write = %v, want the batch to fail", err)
				}
				if rows != 0 || rejects != 0 || q("SELECT count(*) FROM "+s.names.offsets.Sanitize()) != 0 {
					t.Errorf("after a failed batch: %d rows, %d rejects, stored offsets; want nothing written", rows, rejects)
				}
				return
			}
			if err != nil {
				t.Fatalf("write: %v", err)
			}
			if rows != 2 || rejects != 1 {
				t.Fatalf("%d rows and %d rejects, want the 2 good rows and the refused one", rows, rejects)
			}
			var reason, msg string
			var key, value []byte
			if err := s.pool.QueryRow(context.Background(), "SELECT reason, error, record_key, record_value FROM "+
				s.names.rejects.Sanitize()+" WHERE source_offset = 1").Scan(&reason, &msg, &key, &value); err != nil {
				t.Fatal(err)
			}
			if reason != string(reject.PostgresRefused) || !bytes.Equal(key, recs[1].Key) || !bytes.Equal(value, recs[1].Value) {
				t.Errorf("reject: reason %s, key %d bytes, value %d bytes; want %s with the record's %d-byte key and %d-byte value (error %s)",
					reason, len(key), len(value), reject.PostgresRefused, len(recs[1].Key), len(recs[1].Value), msg)
			}
		})
	}
}

func TestPrepareFatalErrors(t *testing.T) {
	dsn, _, table := testDB(t)
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"tables missing and create_table off", func(c *Config) { c.CreateTable = false }, "create_table is off"},
		{"no such database", func(c *Config) { c.DSN = secret.Value(dsn + "&dbname=no_such_db") }, "no_such_db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.DSN, cfg.Table, cfg.Topic = secret.Value(dsn), table, "preds"
			tc.change(&cfg)
			s, err := New(cfg, nil, NewMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err = s.Run(ctx) // returns before joining any group
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want a fatal error mentioning %q", err, tc.want)
			}
		})
	}
}

// TestPrepareConcurrent: instances starting together all create or find
// the tables (CREATE TABLE IF NOT EXISTS alone races on pg_type).
func TestPrepareConcurrent(t *testing.T) {
	dsn, _, table := testDB(t)
	cfg := DefaultConfig()
	cfg.DSN, cfg.Table, cfg.Topic = secret.Value(dsn), table, "preds"
	errs := make(chan error, 4)
	for range 4 {
		s, err := New(cfg, nil, NewMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.pool.Close)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			errs <- s.prepare(ctx)
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("prepare: %v", err)
		}
	}
}

// TestDDLColumns: the table check reads every column of DDL, each of a
// type it knows.
func TestDDLColumns(t *testing.T) {
	for placeholder, want := range map[string]int{"{table}": 14, "{offsets}": 5, "{rejects}": 8} {
		cols := ddlColumns[placeholder]
		if len(cols) != want {
			t.Errorf("%s: %d columns read from DDL, want %d: %v", placeholder, len(cols), want, cols)
		}
		for _, c := range cols {
			if compatible[c.typ] == nil {
				t.Errorf("%s column %s: type %q has no compatible types", placeholder, c.name, c.typ)
			}
		}
	}
	for i, c := range rowColumns {
		if !slices.Contains(ddlColumns["{table}"], column{c, ddlColumns["{table}"][i].typ}) {
			t.Errorf("rowColumns[%d] %s is not the DDL's column %d", i, c, i)
		}
	}
}

// TestPrepareChecksTables: tables that exist but do not fit the sink stop
// it at start with one line naming every problem; compatible types pass.
func TestPrepareChecksTables(t *testing.T) {
	for _, tc := range []struct {
		name, ddl string
		want      []string // in the error; none: prepare succeeds
		role      bool     // run the sink as a role with SELECT and UPDATE only
	}{
		{"the DDL's tables", "", nil, false},
		{"compatible types", `ALTER TABLE {t} ALTER model TYPE varchar(200), ALTER score TYPE numeric, ALTER features TYPE json,
  ADD tenant text NOT NULL DEFAULT 'a', ADD note text`, nil, false},
		{"a type pgx cannot write into", "ALTER TABLE {t} DROP model, ADD model integer NOT NULL DEFAULT 0",
			[]string{"column model is integer (want text)"}, false},
		{"a lost time zone and a missing column", "ALTER TABLE {t} ALTER event_time TYPE timestamp, DROP features",
			[]string{"column event_time is timestamp without time zone (want timestamptz)", "column features is missing (want jsonb)"}, false},
		{"a NOT NULL column the sink does not write", "ALTER TABLE {t} ADD tenant text NOT NULL",
			[]string{"column tenant is NOT NULL without a default"}, false},
		{"offsets without their unique key", "ALTER TABLE {o} DROP CONSTRAINT predictions_offsets_pkey",
			[]string{"_offsets\" does not fit", "no PRIMARY KEY or UNIQUE index on (consumer_group, topic, partition)"}, false},
		{"a role without INSERT", "", []string{"the role lacks INSERT on it"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := writeSink(t) // creates the tables
			ctx := context.Background()
			if tc.ddl != "" {
				ddl := strings.NewReplacer("{t}", s.names.rows.Sanitize(), "{o}", s.names.offsets.Sanitize()).Replace(tc.ddl)
				if _, err := s.pool.Exec(ctx, ddl); err != nil {
					t.Fatalf("%s: %v", ddl, err)
				}
			}
			cfg := s.cfg
			if tc.role {
				// CREATE TABLE IF NOT EXISTS needs CREATE on the schema even
				// when the tables exist: a DBA-made setup turns it off.
				cfg.DSN, cfg.CreateTable = secret.Value(limitedRole(t, s, "SELECT, UPDATE")), false
			}
			s2, err := New(cfg, nil, NewMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			t.Cleanup(s2.pool.Close)
			err = s2.prepare(ctx)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("prepare: %v", err)
				}
				return
			}
			var te *tableError
			if !errors.As(err, &te) {
				t.Fatalf("prepare = %v, want a table error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("prepare = %v\nwant it to say %q", err, w)
				}
			}
		})
	}
}

// limitedRole makes a login role with only these privileges on the sink's
// tables and returns a DSN for it; it is dropped at cleanup.
func limitedRole(t *testing.T, s *Sink, privileges string) string {
	t.Helper()
	ctx := context.Background()
	schema := s.names.rows[0]
	role := fmt.Sprintf("sink_role_%x", rand.Uint64())
	if _, err := s.pool.Exec(ctx, fmt.Sprintf("CREATE ROLE %[1]s LOGIN; GRANT USAGE ON SCHEMA %[2]s TO %[1]s; GRANT %[3]s ON ALL TABLES IN SCHEMA %[2]s TO %[1]s",
		role, schema, privileges)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := s.pool.Exec(context.Background(), fmt.Sprintf("DROP OWNED BY %s; DROP ROLE %[1]s", role)); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	cfg, err := pgx.ParseConfig(s.cfg.DSN.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", role, cfg.Host, cfg.Port, cfg.Database)
}
