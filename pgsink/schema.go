package pgsink

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// DDL is the one definition of the sink's tables; docs/operations.md shows
// it (a test keeps the two equal). {table} is the configured table name,
// {offsets} and {rejects} the tables beside it.
//
// Probabilities and features are jsonb objects keyed by class / feature
// name: one self-describing column that reads as
// (probabilities->>'High Risk')::float8 and holds bundles with different
// class sets in one table; a float8[] plus a text[] of names kept in step
// was no faster to COPY (docs/BENCHMARKS.md, "PostgreSQL sink").
//
// No primary key on (source_topic, source_partition, source_offset):
// exactly-once comes from the offsets table written in the same
// transaction (see Sink), and the index made each transaction 1.4x slower.
const DDL = `CREATE TABLE IF NOT EXISTS {table} (
    model            text             NOT NULL,
    model_version    text             NOT NULL,
    event_id         text,
    key              text,
    event_time       timestamptz,
    scored_time      timestamptz      NOT NULL,
    label            text,
    score            double precision NOT NULL,
    probabilities    jsonb            NOT NULL,
    features         jsonb,
    source_topic     text             NOT NULL,
    source_partition integer          NOT NULL,
    source_offset    bigint           NOT NULL,
    written_at       timestamptz      NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {offsets} (
    consumer_group   text        NOT NULL,
    topic            text        NOT NULL,
    partition        integer     NOT NULL,
    next_offset      bigint      NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);
CREATE TABLE IF NOT EXISTS {rejects} (
    source_topic     text        NOT NULL,
    source_partition integer     NOT NULL,
    source_offset    bigint      NOT NULL,
    reason           text        NOT NULL,
    error            text        NOT NULL,
    record_key       bytea,
    record_value     bytea,
    rejected_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_topic, source_partition, source_offset)
);`

// rowColumns are the prediction table's columns in Row.values order.
var rowColumns = []string{"model", "model_version", "event_id", "key", "event_time", "scored_time",
	"label", "score", "probabilities", "features", "source_topic", "source_partition", "source_offset"}

// rejectColumns are the rejects table's columns in Reject.values order.
var rejectColumns = []string{"source_topic", "source_partition", "source_offset", "reason", "error", "record_key", "record_value"}

// tables are the quoted names of the three tables.
type tables struct {
	rows, offsets, rejects pgx.Identifier
}

func newTables(name string) tables {
	var schema []string
	if s, t, ok := strings.Cut(name, "."); ok {
		schema, name = []string{s}, t
	}
	id := func(n string) pgx.Identifier { return append(append(pgx.Identifier{}, schema...), n) }
	return tables{rows: id(name), offsets: id(name + "_offsets"), rejects: id(name + "_rejects")}
}

// ddl is DDL with the configured names filled in.
func (t tables) ddl() string {
	return strings.NewReplacer("{table}", t.rows.Sanitize(), "{offsets}", t.offsets.Sanitize(),
		"{rejects}", t.rejects.Sanitize()).Replace(DDL)
}
