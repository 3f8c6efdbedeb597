#!/usr/bin/env bash
# Restart the Apache Kafka test broker on the same data dir, for fault tests.
#
#   bash deploy/kafka/kafka-restart.sh             # SIGKILL (crash), then start again and wait until ready
#   bash deploy/kafka/kafka-restart.sh --graceful  # SIGTERM (clean shutdown) instead of SIGKILL
#   bash deploy/kafka/kafka-restart.sh --secure [--graceful]   # the secured broker (first argument)
#   bash deploy/kafka/kafka-restart.sh --cluster [--node N] [--graceful]   # every cluster node, or node N
#
# Never reformats the storage: topics, committed offsets and transaction state
# survive. Prints the bootstrap address on stdout like kafka-up.sh. To keep the
# broker down for a while, run `kafka-down.sh --kill`, then `kafka-up.sh` later.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh source-path=SCRIPTDIR
source "$here/../lib.sh" # restart_option

mode=--kill
which=()
for arg in "$@"; do
	case "$arg" in
	--secure | --cluster | --node | --node=* | [0-9]*) which+=("$arg") ;;
	*) restart_option "$arg" 2 11 || {
		echo "kafka-restart: unknown argument '$arg' (use --secure or --cluster [--node N], --graceful)" >&2
		exit 1
	} ;;
	esac
done
if [[ ${#which[@]} -gt 0 && "${which[0]}" != --secure && "${which[0]}" != --cluster ]]; then
	echo "kafka-restart: --secure or --cluster must come first" >&2
	exit 1
fi

bash "$here/kafka-down.sh" "${which[@]}" ${mode:+"$mode"}
exec bash "$here/kafka-up.sh" "${which[@]}"
