#!/usr/bin/env bash
# Stop the Apache Kafka test broker started by kafka-up.sh.
#
#   bash deploy/kafka/kafka-down.sh           # SIGTERM, wait (30s), then SIGKILL; data kept
#   bash deploy/kafka/kafka-down.sh --kill    # SIGKILL at once (crash, for fault tests); data kept
#   bash deploy/kafka/kafka-down.sh --wipe    # stop, then delete the data dir (next kafka-up formats anew)
#
# The downloaded jars (libs/) are always kept. Exits 0 when nothing runs.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

signal=TERM
wipe=false
for arg in "$@"; do
	case "$arg" in
	--kill) signal=KILL ;;
	--wipe) wipe=true ;;
	-h | --help)
		sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument '$arg' (use --kill, --wipe)" ;;
	esac
done

take_lock
stop_broker "$signal"
if $wipe; then
	log "removing data dir $KAFKA_DATA"
	rm -rf "$KAFKA_DATA"
fi
