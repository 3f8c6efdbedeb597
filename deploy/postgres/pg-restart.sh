#!/usr/bin/env bash
# Restart the PostgreSQL test server on the same cluster, for fault tests.
#
#   bash deploy/postgres/pg-restart.sh             # immediate shutdown (a crash), then start and wait until it answers
#   bash deploy/postgres/pg-restart.sh --graceful  # fast (clean) shutdown instead
#
# The restart after an immediate shutdown runs crash recovery from the WAL:
# committed transactions survive, open ones are gone. Prints the DSN on stdout
# like pg-up.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh source-path=SCRIPTDIR
source "$here/../lib.sh" # restart_option

mode=--kill
for arg in "$@"; do
	restart_option "$arg" 2 9 || {
		echo "pg-restart: unknown argument '$arg' (use --graceful)" >&2
		exit 1
	}
done

bash "$here/pg-down.sh" ${mode:+"$mode"}
exec bash "$here/pg-up.sh"
