#!/usr/bin/env bash
# Stop the PostgreSQL test server started by pg-up.sh.
#
#   bash deploy/postgres/pg-down.sh           # fast shutdown (clean); data kept
#   bash deploy/postgres/pg-down.sh --kill    # immediate shutdown (a crash: recovery on the next start); data kept
#   bash deploy/postgres/pg-down.sh --wipe    # stop, then delete the cluster (next pg-up runs initdb anew)
#
# Exits 0 when nothing runs.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mode=fast
wipe=false
for arg in "$@"; do
	case "$arg" in
	--kill) mode=immediate ;;
	--wipe) wipe=true ;;
	-h | --help)
		usage 2 9
		exit 0
		;;
	*) die "unknown argument '$arg' (use --kill, --wipe)" ;;
	esac
done

[[ -d "$PG_CACHE" ]] || { log "no cache at $PG_CACHE; nothing to stop"; exit 0; }
take_lock "$PG_RUN/lock"
if bin="$(pg_bin)" && running "$bin"; then
	log "stopping server pid $(postmaster_pid) (mode $mode)"
	as_server "$bin/pg_ctl" -D "$PG_DATA" -m "$mode" -w -t 60 stop >&2 9>&-
else
	log "no server running for $PG_CACHE"
fi
rm -f "$PG_DSN_FILE"
if $wipe; then
	log "removing cluster $PG_DATA"
	rm -rf "$PG_DATA"
fi
