package pgsink

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// A table that exists is left as it is by CREATE TABLE IF NOT EXISTS, so a
// table made by hand, or by another version, may not be the sink's. check
// compares the three tables with DDL at start, so a mismatch is one clear
// line then, not a COPY that fails on every batch (a type pgx cannot encode
// into was retried forever as an outage; a NOT NULL column the sink does not
// write refused every row).

// column is one column of DDL.
type column struct{ name, typ string }

// ddlColumns are DDL's columns per table ({table}, {offsets}, {rejects}),
// read from DDL itself so there is one definition.
var ddlColumns = func() map[string][]column {
	out := map[string][]column{}
	table := regexp.MustCompile(`(?m)^CREATE TABLE IF NOT EXISTS (\{\w+\}) \(\n((?:    .*\n)+)\);?$`)
	col := regexp.MustCompile(`^    ([a-z_]+) +([a-z]+(?: precision)?)\b`)
	for _, t := range table.FindAllStringSubmatch(DDL+"\n", -1) {
		for _, line := range strings.Split(strings.TrimSuffix(t[2], "\n"), "\n") {
			if m := col.FindStringSubmatch(line); m != nil && m[1] != "primary" {
				out[t[1]] = append(out[t[1]], column{m[1], m[2]})
			}
		}
	}
	return out
}()

// compatible are the types (pg_type.typname) a column of each DDL type may
// have: the same values go in unchanged. timestamp without time zone is not
// one: it drops the zone the values are in.
var compatible = map[string][]string{
	"text":             {"text", "varchar"},
	"double precision": {"float8", "numeric"},
	"jsonb":            {"jsonb", "json"},
	"timestamptz":      {"timestamptz"},
	"integer":          {"int4", "int8", "numeric"},
	"bigint":           {"int8", "numeric"},
	"bytea":            {"bytea"},
}

// tableError is a table that is not the sink's: fatal, waiting does not
// cure it.
type tableError struct {
	table    string
	problems []string
}

func (e *tableError) Error() string {
	return fmt.Sprintf("postgres: table %s does not fit the sink: %s (docs/operations.md, \"Tables\", has the DDL)",
		e.table, strings.Join(e.problems, "; "))
}

// check compares the three tables with DDL: every column the sink writes
// is there with a compatible type, every other column takes a default or
// NULL, the offsets table has its unique key (exactly-once rests on it), and
// the role may write. The error lists every problem of the first table
// that has any.
func (s *Sink) check(ctx context.Context) error {
	for _, t := range []struct {
		placeholder string
		id          pgx.Identifier
		privileges  []string
	}{
		{"{table}", s.names.rows, []string{"INSERT"}},
		{"{offsets}", s.names.offsets, []string{"SELECT", "INSERT", "UPDATE"}},
		{"{rejects}", s.names.rejects, []string{"INSERT"}},
	} {
		name := t.id.Sanitize()
		problems, err := s.checkTable(ctx, name, ddlColumns[t.placeholder], t.privileges)
		if err != nil {
			return fmt.Errorf("postgres: read the definition of table %s: %w", name, err)
		}
		if t.placeholder == "{offsets}" && len(problems) == 0 {
			var unique bool
			if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = $1::regclass
AND i.indisunique AND i.indpred IS NULL AND i.indnkeyatts = 3
AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
     WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = ARRAY['consumer_group', 'partition', 'topic'])`,
				name).Scan(&unique); err != nil {
				return fmt.Errorf("postgres: read the indexes of table %s: %w", name, err)
			}
			if !unique {
				problems = append(problems, "no PRIMARY KEY or UNIQUE index on (consumer_group, topic, partition), which exactly-once needs")
			}
		}
		if len(problems) > 0 {
			return &tableError{table: name, problems: problems}
		}
	}
	return nil
}

func (s *Sink) checkTable(ctx context.Context, name string, want []column, privileges []string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod),
  a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = ''
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`, name)
	if err != nil {
		return nil, err
	}
	type got struct {
		typ, display string
		required     bool // NOT NULL without a default
	}
	have := map[string]got{}
	var col string
	var g got
	if _, err := pgx.ForEachRow(rows, []any{&col, &g.typ, &g.display, &g.required}, func() error {
		have[col] = g
		return nil
	}); err != nil {
		return nil, err
	}
	var problems []string
	for _, c := range want {
		h, ok := have[c.name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("column %s is missing (want %s)", c.name, c.typ))
		case !slices.Contains(compatible[c.typ], h.typ):
			problems = append(problems, fmt.Sprintf("column %s is %s (want %s)", c.name, h.display, c.typ))
		}
		delete(have, c.name)
	}
	for _, c := range slices.Sorted(maps.Keys(have)) {
		if have[c].required {
			problems = append(problems, fmt.Sprintf("column %s is NOT NULL without a default, and the sink does not write it", c))
		}
	}
	for _, p := range privileges {
		var ok bool
		if err := s.pool.QueryRow(ctx, "SELECT has_table_privilege($1, $2)", name, p).Scan(&ok); err != nil {
			return nil, err
		}
		if !ok {
			problems = append(problems, "the role lacks "+p+" on it")
		}
	}
	return problems, nil
}
