#!/usr/bin/env bash
# Stop the Apache Kafka test broker started by kafka-up.sh.
#
#   bash deploy/kafka/kafka-down.sh           # SIGTERM, wait (30s), then SIGKILL; data kept
#   bash deploy/kafka/kafka-down.sh --kill    # SIGKILL at once (crash, for fault tests); data kept
#   bash deploy/kafka/kafka-down.sh --wipe    # stop, then delete the data dir (next kafka-up formats anew)
#   bash deploy/kafka/kafka-down.sh --secure [--kill|--wipe]   # the same for the secured broker
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
	--secure) ;; # read by lib.sh
	-h | --help)
		sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument '$arg' (use --secure, --kill, --wipe)" ;;
	esac
done

take_lock
stop_broker "$signal"
if $wipe; then
	log "removing data dir $KAFKA_DATA"
	rm -rf "$KAFKA_DATA" "$KAFKA_CACHE/acls.applied"
fi
