#!/usr/bin/env bash
# Start (or find running) the PostgreSQL test server: Debian's postgresql
# package, a private cluster under the repo's cache, 127.0.0.1:${STREAMSCORE_DEV_PG_PORT:-15432} only,
# trust authentication (a throwaway cluster on loopback), user and database `streamscore`.
#
#   bash deploy/postgres/pg-up.sh                  # prints the DSN on stdout
#   export STREAMSCORE_TEST_POSTGRES="$(bash deploy/postgres/pg-up.sh)"
#   STREAMSCORE_DEV_PG_AUTH=scram-sha-256 bash deploy/postgres/pg-up.sh
#       # TCP connections need a password (scram-sha-256; create roles with
#       # one); the socket in <cache>/run stays trust, and the DSN printed is
#       # the socket's (postgres://streamscore@/streamscore?host=<cache>/run&port=N)
#
# Idempotent: if this cache's server already runs and answers, it prints the
# DSN and exits 0. Installs the postgresql package (scripts/install-deps.sh)
# when no server binaries are found. Progress goes to stderr, the DSN alone to
# stdout. Environment: STREAMSCORE_DEV_PG_CACHE (default <repo>/.cache/postgres),
# STREAMSCORE_DEV_PG_PORT (15432), STREAMSCORE_DEV_PG_READY_TIMEOUT_SECONDS (60),
# STREAMSCORE_DEV_PG_AUTH (trust; or scram-sha-256, chosen at initdb: a cluster
# made with the other is refused, wipe it with pg-down.sh --wipe).
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# wait_sql BIN: the server answers a query as $PG_USER within the ready
# timeout (pg_ctl -w only waits for the socket).
wait_sql() {
	wait_for "$PG_READY_TIMEOUT_SECONDS" "$1/psql" -X -q -h "$PG_SQL_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc 'select 1' >/dev/null 2>&1
}

create_db() {
	local bin="$1" have
	have="$("$bin/psql" -X -h "$PG_SQL_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc \
		"select 1 from pg_database where datname = '$PG_DB'")"
	if [[ "$have" != 1 ]]; then
		log "creating database $PG_DB"
		"$bin/createdb" -h "$PG_SQL_HOST" -p "$PG_PORT" -U "$PG_USER" "$PG_DB" >&2
	fi
}

main() {
	local bin
	if ! bin="$(pg_bin)"; then
		log "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin; installing Debian's postgresql package"
		bash "$REPO/scripts/install-deps.sh" >&2
		bin="$(pg_bin)" || die "still no PostgreSQL server binaries after scripts/install-deps.sh"
	fi
	mkdir -p "$PG_CACHE"
	take_lock "$PG_RUN/lock"
	own_cache
	if [[ -f "$PG_DATA/PG_VERSION" && "$(cluster_auth)" != "$PG_AUTH" ]]; then
		die "the cluster in $PG_DATA has $(cluster_auth) authentication, STREAMSCORE_DEV_PG_AUTH asks for $PG_AUTH: stop and wipe it (pg-down.sh --wipe) or use another cache"
	fi

	if running "$bin"; then
		log "server already running (pid $(postmaster_pid)), checking it answers"
		wait_sql "$bin" || die "running server does not answer on $PG_HOST:$PG_PORT; see $PG_LOG (stop it with pg-down.sh)"
		echo "$PG_DSN" >"$PG_DSN_FILE"
		echo "$PG_DSN"
		return 0
	fi
	port_in_use "$PG_HOST" "$PG_PORT" && die "port $PG_HOST:$PG_PORT is already in use by another process (set STREAMSCORE_DEV_PG_PORT)"

	if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
		log "initdb in $PG_DATA ($("$bin/postgres" --version))"
		as_server "$bin/initdb" -D "$PG_DATA" "${PG_INITDB_AUTH[@]}" -U "$PG_USER" -E UTF8 --no-locale >>"$PG_LOG" 2>&1 ||
			die "initdb failed; see $PG_LOG"
	fi
	printf '\n===== %s pg-up: starting =====\n' "$(date -u +%FT%TZ)" >>"$PG_LOG"
	# pg_ctl puts the postmaster in its own session, so it outlives this
	# script; 9>&- keeps the lock's file descriptor out of it.
	if ! as_server "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$PG_READY_TIMEOUT_SECONDS" \
		-o "$(server_opts)" start >&2 9>&-; then
		log "server did not start; last lines of $PG_LOG:"
		tail -n 30 "$PG_LOG" >&2 || true
		exit 1
	fi
	wait_sql "$bin" || die "server started but does not answer on $PG_HOST:$PG_PORT; see $PG_LOG"
	create_db "$bin"
	echo "$PG_DSN" >"$PG_DSN_FILE"
	log "ready: $PG_DSN, pid $(postmaster_pid), data $PG_DATA, log $PG_LOG"
	echo "$PG_DSN"
}

main "$@"
