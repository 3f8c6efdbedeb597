#!/usr/bin/env bash
# Stop the test schema registry started by registry-up.sh.
#
#   bash deploy/registry/registry-down.sh          # SIGTERM, wait (30s), then SIGKILL
#   bash deploy/registry/registry-down.sh --kill   # SIGKILL at once
#
# Its schemas are kept in memory only: the next start is empty. The build (app/) is kept.
# Waits until the port is closed. Exits 0 when nothing runs.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

signal=TERM
for arg in "$@"; do
	case "$arg" in
	--kill) signal=KILL ;;
	-h | --help)
		usage 2 8
		exit 0
		;;
	*) die "unknown argument '$arg' (use --kill)" ;;
	esac
done

[[ -d "$REGISTRY_RUN" ]] || { log "no run dir at $REGISTRY_RUN; nothing to stop"; exit 0; }
take_lock "$REGISTRY_LOCK"
stop_registry "$signal"
