#!/usr/bin/env bash
# The PostgreSQL sink against per-row SQLAlchemy inserts, same machine, same
# run (docs/BENCHMARKS.md, "PostgreSQL sink"):
#
#   bash train/bench/pg-sink-bench.sh            # ROWS=20000 SINK_RUNS=3 WRITE_RUNS=40
#
# 1. go test -bench BenchmarkWrite: one 5000-row transaction, four ways to
#    write exactly once (pgsink/bench_test.go);
# 2. go test -bench BenchmarkSinkEndToEnd: the whole sink over a topic of
#    200,000 predictions (real broker, real PostgreSQL), into a fresh table
#    per run; the last run's rows are copied into table bench_source;
# 3. train/bench/pg_per_row_insert.py: the first $ROWS of those rows, one
#    SQLAlchemy session and commit each, as the FastAPI tutorial logs them.
#
# Starts (or reuses) the test PostgreSQL and Kafka broker of deploy/ and a
# venv with train/requirements-bench.txt in .cache/pgbench-venv.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
rows="${ROWS:-20000}"

dsn="$(bash deploy/postgres/pg-up.sh)"
brokers="$(bash deploy/kafka/kafka-up.sh)"

venv="$repo/.cache/pgbench-venv"
want="$(sha256sum train/requirements-bench.txt | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || "$(cat "$venv/.requirements" 2>/dev/null)" != "$want" ]]; then
	python3 -m venv "$venv"
	"$venv/bin/pip" install -q -r train/requirements-bench.txt >&2
	echo "$want" >"$venv/.requirements"
fi

echo "== commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo ' (dirty)'), $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
STREAMSCORE_TEST_POSTGRES="$dsn" go test -run '^$' -bench 'BenchmarkWrite' -benchtime "${WRITE_RUNS:-40}x" -count 1 ./pgsink/ |
	grep -E '^Benchmark'
sink="$(STREAMSCORE_TEST_POSTGRES="$dsn" STREAMSCORE_TEST_BROKERS="$brokers" STREAMSCORE_DEV_BENCH_SOURCE_TABLE=bench_source \
	go test -run '^$' -bench 'BenchmarkSinkEndToEnd' -benchtime "${SINK_RUNS:-3}x" -count 1 ./pgsink/ | grep -E '^Benchmark')"
echo "$sink"
py="$("$venv/bin/python" train/bench/pg_per_row_insert.py --dsn "$dsn" --source bench_source --rows "$rows")"
echo "pg_per_row_insert.py: $py"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v s="$(echo "$sink" | grep -oE '[0-9.]+ rows/s' | cut -d' ' -f1)" \
	-v p="$(echo "$py" | grep -oE '"rows_per_s": [0-9.]+' | cut -d' ' -f2)" \
	'BEGIN { printf "sink %.0f rows/s, per-row SQLAlchemy %.0f rows/s: %.1fx\n", s, p, s / p }'
