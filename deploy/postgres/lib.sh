# shellcheck shell=bash disable=SC2034 # variables are used by the scripts that source this file
# Shared settings and helpers for pg-up.sh, pg-down.sh and pg-restart.sh.
# Sourced, not run. Everything the server writes lives under $PG_CACHE:
#   data/   the cluster (initdb once, kept across restarts; owned by the server's user)
#   run/    socket dir, postgres.log, dsn, lock
#
# Debian's postgresql package (server binaries in /usr/lib/postgresql/<v>/bin,
# no service started here). The server refuses to run as root, so as root
# every server command runs as the `postgres` user (runuser) and the cache
# is handed to it; as another user it runs as that user.

PG_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$PG_DIR/../.." && pwd)"
# log, die, usage, port_in_use, wait_for, take_lock, pid_alive, pid_gone
# shellcheck source=../lib.sh source-path=SCRIPTDIR
source "$PG_DIR/../lib.sh"

PG_CACHE="${STREAMSCORE_DEV_PG_CACHE:-$REPO/.cache/postgres}"
PG_PORT="${STREAMSCORE_DEV_PG_PORT:-15432}"
PG_HOST=127.0.0.1
PG_USER=streamscore
PG_DB=streamscore
PG_READY_TIMEOUT_SECONDS="${STREAMSCORE_DEV_PG_READY_TIMEOUT_SECONDS:-60}"

PG_DATA="$PG_CACHE/data"
PG_RUN="$PG_CACHE/run"
PG_LOG="$PG_RUN/postgres.log"
PG_DSN_FILE="$PG_RUN/dsn"
PG_DSN="postgres://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB?sslmode=disable"
# STREAMSCORE_DEV_PG_AUTH: trust (the default: every connection is let in) or
# scram-sha-256 (TCP connections need a role with a password; the socket in
# run/ stays trust, so the scripts' own psql and the printed DSN use it).
PG_AUTH="${STREAMSCORE_DEV_PG_AUTH:-trust}"
PG_SQL_HOST="$PG_HOST"
PG_INITDB_AUTH=(-A trust)
case "$PG_AUTH" in
trust) ;;
scram-sha-256)
	PG_SQL_HOST="$PG_RUN"
	PG_INITDB_AUTH=(--auth-local=trust --auth-host="$PG_AUTH")
	PG_DSN="postgres://$PG_USER@/$PG_DB?host=$PG_RUN&port=$PG_PORT"
	;;
*) die "STREAMSCORE_DEV_PG_AUTH=$PG_AUTH: use trust or scram-sha-256" ;;
esac

# pg_bin: the newest installed server's bin dir (empty when none is installed).
pg_bin() {
	local d
	d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
	[[ -n "$d" && -x "$d/initdb" ]] && echo "$d"
}

# as_server CMD...: runs CMD as the server's user (postgres when we are root).
as_server() {
	if [[ "$(id -u)" -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# server_opts: the postgres options of every start. Private port and socket
# dir, loopback only; the fsync/WAL defaults stay, so a crash is a real
# crash-recovery case.
server_opts() {
	printf '%s' "-p $PG_PORT -k $PG_RUN -c listen_addresses=$PG_HOST -c max_connections=50 -c shared_buffers=64MB"
}

# cluster_auth: the host authentication the cluster in PG_DATA was made
# with (its pg_hba.conf), trust or scram-sha-256.
cluster_auth() {
	if grep -Eq '^host[[:space:]].*scram-sha-256' "$PG_DATA/pg_hba.conf"; then
		echo scram-sha-256
	else
		echo trust
	fi
}

# running: this cache's server answers pg_ctl status (postmaster.pid names a live postmaster).
running() {
	local bin="$1"
	[[ -f "$PG_DATA/postmaster.pid" ]] && as_server "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

# postmaster_pid: the pid in postmaster.pid (first line), if any.
postmaster_pid() {
	[[ -f "$PG_DATA/postmaster.pid" ]] && head -n 1 "$PG_DATA/postmaster.pid"
}

# own_cache: the server's user must own data/ and run/ (and reach them).
own_cache() {
	mkdir -p "$PG_DATA" "$PG_RUN"
	touch "$PG_LOG"
	if [[ "$(id -u)" -eq 0 ]]; then
		chown postgres:postgres "$PG_CACHE" "$PG_DATA" "$PG_RUN" "$PG_LOG"
	fi
	chmod 700 "$PG_DATA"
}
