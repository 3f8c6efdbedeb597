#!/usr/bin/env bash
# Stop the Apache Kafka test broker started by kafka-up.sh.
#
#   bash deploy/kafka/kafka-down.sh           # SIGTERM, wait (30s), then SIGKILL; data kept
#   bash deploy/kafka/kafka-down.sh --kill    # SIGKILL at once (crash, for fault tests); data kept
#   bash deploy/kafka/kafka-down.sh --pause   # SIGSTOP: the broker hangs (a hung broker, not a dead one); kafka-up.sh resumes it
#   bash deploy/kafka/kafka-down.sh --wipe    # stop, then delete the data dir (next kafka-up formats anew)
#   bash deploy/kafka/kafka-down.sh --secure [--kill|--pause|--wipe]   # the same for the secured broker
#   bash deploy/kafka/kafka-down.sh --cluster [--kill|--wipe]          # every node of the cluster, at once
#   bash deploy/kafka/kafka-down.sh --cluster --node 2 [--kill|--pause]   # one node
#
# Every stop waits until the broker's ports are closed. The downloaded jars
# (libs/) are always kept. Exits 0 when nothing runs.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if $KAFKA_SECURE; then
	# shellcheck source=secure.sh source-path=SCRIPTDIR
	source "$KAFKA_DIR/secure.sh" # its ports
fi

signal=TERM
wipe=false
broker_args 2 14 "$@"
for arg in "${more_args[@]}"; do
	case "$arg" in
	--kill) signal=KILL ;;
	--pause) signal=STOP ;;
	--wipe) wipe=true ;;
	*) die "unknown argument '$arg' (use --secure or --cluster [--node N], --kill, --pause, --wipe)" ;;
	esac
done
if $wipe && [[ "$signal" == STOP || -n "$only_node" ]]; then
	die "--wipe deletes the data of the whole broker or cluster: not with --pause or --node"
fi
if $KAFKA_CLUSTER && [[ "$signal" == STOP && -z "$only_node" ]]; then
	die "--pause with --cluster needs --node N (one hung node; the others keep running)"
fi

take_lock "$KAFKA_LOCK"
if ! $KAFKA_CLUSTER; then
	if [[ "$signal" == STOP ]]; then
		pause_broker
	else
		stop_broker "$signal"
	fi
elif [[ -n "$only_node" ]]; then
	use_node "$only_node"
	if [[ "$signal" == STOP ]]; then
		pause_broker
	else
		stop_broker "$signal"
	fi
else
	stop_nodes "$signal" "${KAFKA_NODES[@]}"
	rm -f "$KAFKA_CLUSTER_BOOTSTRAP_FILE"
fi
if $wipe; then
	if $KAFKA_CLUSTER; then
		for n in "${KAFKA_NODES[@]}"; do
			use_node "$n"
			log "removing data dir $KAFKA_DATA"
			rm -rf "$KAFKA_DATA"
		done
		rm -f "$KAFKA_CLUSTER_ID_FILE"
	else
		log "removing data dir $KAFKA_DATA"
		rm -rf "$KAFKA_DATA" "$KAFKA_CACHE/acls.applied"
	fi
fi
