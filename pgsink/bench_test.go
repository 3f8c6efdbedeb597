package pgsink

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/secret"
)

const benchBatch = 5000

// benchRows are benchBatch rows of the test stream (features echoed in a
// third of them, as prediction(i) makes them).
func benchRows(b *testing.B) []Row {
	rows := make([]Row, benchBatch)
	for i := range rows {
		rows[i] = row(b, i)
	}
	return rows
}

// BenchmarkWrite compares ways to write one batch exactly once, on the same
// rows (docs/BENCHMARKS.md, "PostgreSQL sink"):
//
//   - offsets: what the sink does: COPY into a table without a unique key,
//     plus a compare-and-set of the partition's offset row, one transaction;
//   - offsets+pk: the same with a primary key on (topic, partition, offset);
//   - on-conflict: no offsets table; a unique key, COPY into a temporary
//     table, INSERT ... SELECT ... ON CONFLICT DO NOTHING;
//   - arrays: the offsets way with probabilities and features as float8[]
//     plus text[] of the names instead of jsonb objects.
func BenchmarkWrite(b *testing.B) {
	for _, mech := range []string{"offsets", "offsets+pk", "on-conflict", "arrays"} {
		b.Run(mech, func(b *testing.B) {
			s, _ := writeSink(b)
			ctx := context.Background()
			rows := benchRows(b)
			tbl := s.names.rows.Sanitize()
			exec := func(sql string) {
				if _, err := s.pool.Exec(ctx, sql); err != nil {
					b.Fatalf("%s: %v", sql, err)
				}
			}
			switch mech {
			case "offsets+pk", "on-conflict":
				exec("ALTER TABLE " + tbl + " ADD PRIMARY KEY (source_topic, source_partition, source_offset)")
			case "arrays":
				at := slices.Clone(s.names.rows)
				at[len(at)-1] += "_arrays"
				exec("CREATE TABLE " + at.Sanitize() + ` (LIKE ` + tbl + ` INCLUDING DEFAULTS)`)
				exec("ALTER TABLE " + at.Sanitize() + ` DROP COLUMN probabilities, DROP COLUMN features,
  ADD COLUMN classes text[] NOT NULL, ADD COLUMN probabilities float8[] NOT NULL,
  ADD COLUMN feature_names text[], ADD COLUMN features float8[]`)
			}
			arrays := arrayRows(b, rows)
			b.ResetTimer()
			next := int64(-1)
			for i := range b.N {
				base := int64(i * benchBatch)
				for j := range rows {
					rows[j].Offset = base + int64(j)
				}
				var err error
				switch mech {
				case "on-conflict":
					err = writeOnConflict(ctx, s, rows)
				case "arrays":
					err = writeArrays(ctx, s, arrays, base, next)
				default:
					err = s.write(ctx, &batch{rows: rows, parts: map[int32]*partBatch{0: {expected: next, first: base, next: base + benchBatch}}})
				}
				if err != nil {
					b.Fatal(err)
				}
				next = base + benchBatch
			}
			b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

func writeOnConflict(ctx context.Context, s *Sink, rows []Row) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer rollback(tx)
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE incoming (LIKE "+s.names.rows.Sanitize()+" INCLUDING DEFAULTS) ON COMMIT DROP"); err != nil {
		return err
	}
	src := &sliceSource[Row]{items: rows, values: (*Row).values}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"incoming"}, rowColumns, src); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+s.names.rows.Sanitize()+" SELECT * FROM incoming ON CONFLICT DO NOTHING"); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// arrayRow is a Row with the class probabilities and features as arrays.
type arrayRow struct {
	Row
	classes, names []string
	probs, feats   []*float64
}

func arrayRows(b *testing.B, rows []Row) []arrayRow {
	out := make([]arrayRow, len(rows))
	for i := range rows {
		p, _ := prediction(i)
		a := arrayRow{Row: rows[i], classes: p.Classes}
		for _, v := range p.Probs {
			a.probs = append(a.probs, &v)
		}
		if rows[i].Features != nil {
			a.names = p.FeatureNames
			for _, v := range p.Features {
				if v == v {
					a.feats = append(a.feats, &v)
				} else {
					a.feats = append(a.feats, nil)
				}
			}
		}
		out[i] = a
	}
	return out
}

var arrayColumns = []string{"model", "model_version", "event_id", "key", "event_time", "scored_time", "label", "score",
	"classes", "probabilities", "feature_names", "features", "source_topic", "source_partition", "source_offset"}

func writeArrays(ctx context.Context, s *Sink, rows []arrayRow, base, expected int64) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer rollback(tx)
	src := &sliceSource[arrayRow]{items: rows, values: func(r *arrayRow, dst []any) []any {
		var names, feats any
		if r.names != nil {
			names, feats = r.names, r.feats
		}
		return append(dst[:0], r.Model, r.ModelVersion, r.EventID, r.Key, r.EventTime, r.ScoredTime, r.Label, r.Score,
			r.classes, r.probs, names, feats, r.Topic, r.Partition, base+r.Offset) // Offset: 0..benchBatch-1 from arrayRows
	}}
	tbl := slices.Clone(s.names.rows)
	tbl[len(tbl)-1] += "_arrays"
	if _, err := tx.CopyFrom(ctx, tbl, arrayColumns, src); err != nil {
		return err
	}
	if err := s.moveOffsets(ctx, tx, &batch{parts: map[int32]*partBatch{0: {expected: expected, first: base, next: base + benchBatch}}}); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// BenchmarkSinkEndToEnd: the whole sink (franz-go consumer, parsing, COPY,
// offsets) over a topic of benchSinkRecords predictions produced
// beforehand, into a fresh table each iteration; rows/s from the first
// poll to the last offset stored. With STREAMSCORE_DEV_BENCH_SOURCE_TABLE set,
// the last iteration's rows are also copied into that table, for the
// per-row SQLAlchemy comparison (train/bench/pg_per_row_insert.py).
func BenchmarkSinkEndToEnd(b *testing.B) {
	const benchSinkRecords = 200_000
	brokers := kafkatest.Brokers(b)
	topic := kafkatest.Topic(b, brokers, 6)
	start := time.Now()
	for i := 0; i < benchSinkRecords; i += 50_000 {
		produce(b, brokers, topic, i, 50_000, nil)
	}
	b.Logf("produced %d predictions to %s in %s", benchSinkRecords, topic, time.Since(start).Round(time.Millisecond))
	b.ResetTimer()
	var dsn, table string
	for range b.N {
		b.StopTimer()
		d, p, tbl := testDB(b)
		dsn, table = d, tbl
		cfg := DefaultConfig()
		cfg.DSN, cfg.Table, cfg.Topic, cfg.Group = secret.Value(dsn), table, topic, kafkatest.UniqueName(b, "g")
		b.StartTimer()
		ts := startSink(b, cfg, brokers)
		waitStored(b, brokers, cfg, ts)
		b.StopTimer()
		if err := ts.stop(); err != nil {
			b.Fatal(err)
		}
		if n := count(b, p, "SELECT count(*) FROM "+table); n != benchSinkRecords {
			b.Fatalf("%d rows, want %d", n, benchSinkRecords)
		}
		if dst := os.Getenv("STREAMSCORE_DEV_BENCH_SOURCE_TABLE"); dst != "" {
			for _, q := range []string{"DROP TABLE IF EXISTS " + pgx.Identifier{dst}.Sanitize(),
				fmt.Sprintf("CREATE TABLE %s AS SELECT * FROM %s ORDER BY source_partition, source_offset", pgx.Identifier{dst}.Sanitize(), table)} {
				if _, err := p.Exec(context.Background(), q); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*benchSinkRecords)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkParseRow is the sink's parse cost per record: the encoder's JSON
// of a two-class prediction, the same with two echoed features, and a wide
// one (ten classes, forty echoed features).
func BenchmarkParseRow(b *testing.B) {
	plain, _ := prediction(1)
	echoed, _ := prediction(3)
	wide, _ := prediction(2)
	wide.Classes, wide.Probs = nil, nil
	for c := range 10 {
		wide.Classes, wide.Probs = append(wide.Classes, fmt.Sprintf("class-%d", c)), append(wide.Probs, 0.1)
	}
	for f := range 40 {
		wide.FeatureNames, wide.Features = append(wide.FeatureNames, fmt.Sprintf("feature_%02d", f)), append(wide.Features, float64(f)*0.37)
	}
	for _, bc := range []struct {
		name  string
		value []byte
	}{
		{"two-classes", encoded(b, plain, false)},
		{"echoed-features", encoded(b, echoed, true)},
		{"wide", encoded(b, wide, true)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.value)))
			for i := range b.N {
				if _, err := ParseRow(bc.value, "preds", 0, int64(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
