package pgsink

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/streamscore/streamscore/reject"
)

// write commits one batch in one transaction: the rows (COPY), the rejects
// and the partitions' new offsets, each moved only from the value this
// instance expects (compare and set). A *fencedError says another owner
// moved some of them; nothing was written.
func (s *Sink) write(ctx context.Context, b *batch) error {
	start := time.Now()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { rollback(tx) }()
	if len(b.rows) > 0 || b.parsed < len(b.recs) {
		if _, err := tx.CopyFrom(ctx, s.names.rows, rowColumns, &batchSource{b: b}); err != nil {
			err = fmt.Errorf("copy rows into %s: %w", s.names.rows.Sanitize(), err)
			if !refused(err) {
				return err
			}
			// A row PostgreSQL refuses: start over, one row at a time.
			rollback(tx)
			if tx, err = s.pool.Begin(ctx); err != nil {
				return fmt.Errorf("begin: %w", err)
			}
			if err := s.copyEach(ctx, tx, b); err != nil {
				return err
			}
		}
	}
	b.parseAll() // (all parsed already, unless every record was a reject)
	if len(b.rejects) > 0 {
		src := &sliceSource[Reject]{items: b.rejects, values: (*Reject).values}
		if _, err := tx.CopyFrom(ctx, s.names.rejects, rejectColumns, src); err != nil {
			return fmt.Errorf("copy %d rejects into %s: %w", len(b.rejects), s.names.rejects.Sanitize(), err)
		}
	}
	if err := s.moveOffsets(ctx, tx, b); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.m.BatchDuration.Observe(time.Since(start).Seconds())
	return nil
}

func rollback(tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = tx.Rollback(ctx) // after Commit, or on a dead connection: nothing to do
}

func (s *Sink) copyRows(ctx context.Context, tx pgx.Tx, rows []Row) error {
	src := &sliceSource[Row]{items: rows, values: (*Row).values}
	if _, err := tx.CopyFrom(ctx, s.names.rows, rowColumns, src); err != nil {
		return fmt.Errorf("copy %d rows into %s: %w", len(rows), s.names.rows.Sanitize(), err)
	}
	return nil
}

// copyEach writes the rows one by one, each under a savepoint; a row
// PostgreSQL refuses moves to the rejects with the record's bytes and the
// server's message.
func (s *Sink) copyEach(ctx context.Context, tx pgx.Tx, b *batch) error {
	b.parseAll()
	kept := b.rows[:0]
	for _, r := range b.rows {
		if _, err := tx.Exec(ctx, "SAVEPOINT row"); err != nil {
			return err
		}
		err := s.copyRows(ctx, tx, []Row{r})
		switch {
		case err == nil:
			kept = append(kept, r)
			_, err = tx.Exec(ctx, "RELEASE SAVEPOINT row")
		case refused(err):
			b.rejects = append(b.rejects, Reject{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
				Reason: reject.PostgresRefused, Err: err.Error(), Key: r.key, Value: r.value})
			_, err = tx.Exec(ctx, "ROLLBACK TO SAVEPOINT row")
		}
		if err != nil {
			return err
		}
	}
	b.rows = kept
	return nil
}

// moveOffsets moves each partition's stored offset from the expected value
// to the batch's end in one round trip; a partition whose row does not hold
// the expected value (or that has a row where none was expected) is fenced.
func (s *Sink) moveOffsets(ctx context.Context, tx pgx.Tx, b *batch) error {
	insert := fmt.Sprintf(`INSERT INTO %s (consumer_group, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING`, s.names.offsets.Sanitize())
	update := fmt.Sprintf(`UPDATE %s SET next_offset = $4, updated_at = now()
WHERE consumer_group = $1 AND topic = $2 AND partition = $3 AND next_offset = $5`, s.names.offsets.Sanitize())
	parts := slices.Sorted(maps.Keys(b.parts))
	q := &pgx.Batch{}
	for _, p := range parts {
		pb := b.parts[p]
		if pb.expected < 0 {
			q.Queue(insert, s.cfg.Group, s.cfg.Topic, p, pb.next)
		} else {
			q.Queue(update, s.cfg.Group, s.cfg.Topic, p, pb.next, pb.expected)
		}
	}
	br := tx.SendBatch(ctx, q)
	var fenced []int32
	for _, p := range parts {
		ct, err := br.Exec()
		if err != nil {
			br.Close()
			return fmt.Errorf("store offset of partition %d: %w", p, err)
		}
		if ct.RowsAffected() != 1 {
			fenced = append(fenced, p)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("store offsets: %w", err)
	}
	if len(fenced) > 0 {
		return &fencedError{partitions: fenced}
	}
	return nil
}

// loadOffsets reads the stored offsets of parts (absent: no row).
func (s *Sink) loadOffsets(ctx context.Context, parts []int32) (map[int32]int64, error) {
	rows, err := s.pool.Query(ctx, fmt.Sprintf(`SELECT partition, next_offset FROM %s
WHERE consumer_group = $1 AND topic = $2 AND partition = ANY($3)`, s.names.offsets.Sanitize()),
		s.cfg.Group, s.cfg.Topic, parts)
	if err != nil {
		return nil, fmt.Errorf("read stored offsets: %w", err)
	}
	out := map[int32]int64{}
	var p int32
	var off int64
	_, err = pgx.ForEachRow(rows, []any{&p, &off}, func() error { out[p] = off; return nil })
	if err != nil {
		return nil, fmt.Errorf("read stored offsets: %w", err)
	}
	return out, nil
}

// fencedError: the stored offsets of these partitions are not what this
// instance expected, so another owner wrote them.
type fencedError struct{ partitions []int32 }

func (e *fencedError) Error() string {
	return fmt.Sprintf("stored offsets of partitions %v moved under this instance", e.partitions)
}

// sqlState is the server's error code, "" when the error did not come from
// the server (network, timeout, closed connection).
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// refused: the server refused a row's values, not the table: class 22
// (data exception), 23 (a constraint, such as a CHECK or UNIQUE a DBA
// added) and 54000 (an index row past the btree limit: a long key under an
// index). A NOT NULL column the sink does not write refuses every row
// alike: that is the table's definition, so the batch fails instead of
// every record moving to the rejects.
func refused(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) != 5 {
		return false
	}
	switch {
	case pe.Code == "23502" && !slices.Contains(rowColumns, pe.ColumnName):
		return false
	case pe.Code == "54000":
		return true
	}
	return pe.Code[:2] == "22" || pe.Code[:2] == "23"
}

// transient: worth waiting and retrying. Everything that is not a server
// error (connection refused or reset, timeouts), and server errors of a
// server that is starting, stopping, overloaded or in a conflict:
// 08 connection, 40 rollback (serialization, deadlock), 53 resources,
// 57 operator intervention (shutdown, "starting up", statement_timeout),
// 58 system errors, and 55P03 (lock_timeout: a DBA's ALTER or VACUUM FULL
// holds the table). Others (28 authentication, 3D no database, 42 missing
// table or privilege) do not pass by waiting (but see passwordRefused).
func transient(err error) bool {
	c := sqlState(err)
	if c == "" {
		return !errors.Is(err, context.Canceled)
	}
	switch c[:2] {
	case "08", "40", "53", "57", "58":
		return true
	}
	return c == "55P03"
}

// batchSource feeds a batch's rows to CopyFrom: the parsed ones, then the
// records still to parse, parsing each as it goes (rejects are set aside).
type batchSource struct {
	b   *batch
	i   int
	buf []any
}

func (s *batchSource) Next() bool {
	for s.i >= len(s.b.rows) {
		if !s.b.parseOne() {
			return false
		}
	}
	s.i++
	return true
}

func (s *batchSource) Values() ([]any, error) {
	s.buf = s.b.rows[s.i-1].values(s.buf)
	return s.buf, nil
}

func (s *batchSource) Err() error { return nil }

// sliceSource feeds a slice to CopyFrom, reusing one values slice (pgx
// encodes each row before asking for the next).
type sliceSource[T any] struct {
	items  []T
	i      int
	buf    []any
	values func(*T, []any) []any
}

func (s *sliceSource[T]) Next() bool { s.i++; return s.i <= len(s.items) }

func (s *sliceSource[T]) Values() ([]any, error) {
	s.buf = s.values(&s.items[s.i-1], s.buf)
	return s.buf, nil
}

func (s *sliceSource[T]) Err() error { return nil }
