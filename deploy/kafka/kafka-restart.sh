#!/usr/bin/env bash
# Restart the Apache Kafka test broker on the same data dir, for fault tests.
#
#   bash deploy/kafka/kafka-restart.sh             # SIGKILL (crash), then start again and wait until ready
#   bash deploy/kafka/kafka-restart.sh --graceful  # SIGTERM (clean shutdown) instead of SIGKILL
#   bash deploy/kafka/kafka-restart.sh --secure [--graceful]   # the secured broker (first argument)
#
# Never reformats the storage: topics, committed offsets and transaction state
# survive. Prints the bootstrap address on stdout like kafka-up.sh. To keep the
# broker down for a while, run `kafka-down.sh --kill`, then `kafka-up.sh` later.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

mode=--kill
secure=()
for arg in "$@"; do
	case "$arg" in
	--secure) secure=(--secure) ;;
	--graceful) mode="" ;;
	--kill) mode=--kill ;;
	-h | --help)
		sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) echo "kafka-restart: unknown argument '$arg' (use --secure, --graceful)" >&2; exit 1 ;;
	esac
done

bash "$here/kafka-down.sh" "${secure[@]}" ${mode:+"$mode"}
exec bash "$here/kafka-up.sh" "${secure[@]}"
