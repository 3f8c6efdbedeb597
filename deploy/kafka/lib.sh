# shellcheck shell=bash disable=SC2034 # variables are used by the scripts that source this file
# Shared settings and helpers for kafka-up.sh, kafka-down.sh, kafka-restart.sh and kafka-tool.sh.
# Sourced, not run. Everything a broker writes lives under $KAFKA_CACHE:
#   libs/            broker jars copied by Maven from pom.xml (libs/.pom.sha256 marks a complete copy;
#                    the secured broker and the cluster use the plain broker's)
#   tls/, users/     secured broker only: test CA, certificates, SCRAM passwords (see secure.sh)
#   bin/kafkacheck   protocol-level readiness probe, built from kafkacheck/main.go
#   data/            KRaft metadata + topic data (formatted once, kept across restarts)
#   run/             server.properties, log4j2.xml, kafka.pid, bootstrap, kafka.log, lock
# The cluster (--cluster) keeps bin/, run/lock, run/bootstrap and cluster.id (the id every node is
# formatted with) at the top, and each node's data/ and run/ under node<N>/.

KAFKA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$KAFKA_DIR/../.." && pwd)"
# log, die, usage, port_in_use, wait_for, take_lock, pid_alive, pid_gone
# shellcheck source=../lib.sh source-path=SCRIPTDIR
source "$KAFKA_DIR/../lib.sh"

# --secure or --cluster as the first argument of the sourcing script selects
# the secured broker (secure.sh) or the three-node cluster: each has its own
# cache, data and ports, and uses the plain broker's jars.
KAFKA_SECURE=false
KAFKA_CLUSTER=false
case "${1:-}" in
--secure) KAFKA_SECURE=true ;;
--cluster) KAFKA_CLUSTER=true ;;
esac

KAFKA_HEAP_MIN=256m
if $KAFKA_SECURE; then
	# Listeners: SASL_SSL on the port, SSL (mTLS) +1, inter-broker SSL +2, controller SSL +3.
	KAFKA_CACHE="${STREAMSCORE_DEV_KAFKA_SECURE_CACHE:-$REPO/.cache/kafka-secure}"
	KAFKA_PORT="${STREAMSCORE_DEV_KAFKA_SECURE_PORT:-19292}"
	KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 3))
	KAFKA_LIBS="${STREAMSCORE_DEV_KAFKA_CACHE:-$REPO/.cache/kafka}/libs"
elif $KAFKA_CLUSTER; then
	# Node n (1..3): client port base+2(n-1), controller port one above; use_node sets them.
	KAFKA_CACHE="${STREAMSCORE_DEV_KAFKA_CLUSTER_CACHE:-$REPO/.cache/kafka-cluster}"
	KAFKA_CLUSTER_PORT="${STREAMSCORE_DEV_KAFKA_CLUSTER_PORT:-19500}"
	KAFKA_LIBS="${STREAMSCORE_DEV_KAFKA_CACHE:-$REPO/.cache/kafka}/libs"
	KAFKA_NODES=(1 2 3)
	KAFKA_HEAP_MIN=128m
else
	KAFKA_CACHE="${STREAMSCORE_DEV_KAFKA_CACHE:-$REPO/.cache/kafka}"
	KAFKA_PORT="${STREAMSCORE_DEV_KAFKA_PORT:-19092}"
	KAFKA_CONTROLLER_PORT="${STREAMSCORE_DEV_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
	KAFKA_LIBS="$KAFKA_CACHE/libs"
fi
KAFKA_HOST=127.0.0.1
KAFKA_HEAP="${STREAMSCORE_DEV_KAFKA_HEAP:-$($KAFKA_CLUSTER && echo 384m || echo 512m)}"
KAFKA_READY_TIMEOUT="${STREAMSCORE_DEV_KAFKA_READY_TIMEOUT:-60s}"
KAFKA_STOP_TIMEOUT_SECONDS="${STREAMSCORE_DEV_KAFKA_STOP_TIMEOUT_SECONDS:-30}"

KAFKA_BIN="$KAFKA_CACHE/bin"
KAFKACHECK="$KAFKA_BIN/kafkacheck"
KAFKA_CLUSTER_ID_FILE="$KAFKA_CACHE/cluster.id"

# use_dir DIR: the per-broker paths below DIR (the cache itself, or a cluster node's directory).
use_dir() {
	KAFKA_DATA="$1/data"
	KAFKA_RUN="$1/run"
	KAFKA_PIDFILE="$KAFKA_RUN/kafka.pid"
	KAFKA_BOOTSTRAP_FILE="$KAFKA_RUN/bootstrap"
	KAFKA_PORTS_FILE="$KAFKA_RUN/ports" # the ports it was started with
	KAFKA_LOG="$KAFKA_RUN/kafka.log"
	KAFKA_PROPS="$KAFKA_RUN/server.properties"
	KAFKA_LOG4J="$KAFKA_RUN/log4j2.xml"
}
use_dir "$KAFKA_CACHE"
# The whole broker's (or cluster's) lock and bootstrap list, whichever node is selected.
KAFKA_LOCK="$KAFKA_RUN/lock"
KAFKA_CLUSTER_BOOTSTRAP_FILE="$KAFKA_BOOTSTRAP_FILE"

# use_node N: point the per-broker variables at cluster node N: its ports,
# data and run directories.
use_node() {
	KAFKA_NODE="$1"
	KAFKA_PORT=$((KAFKA_CLUSTER_PORT + 2 * (KAFKA_NODE - 1)))
	KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
	use_dir "$KAFKA_CACHE/node$KAFKA_NODE"
}

# node_arg VALUE: checks a --node=N value against the cluster's nodes.
node_arg() {
	$KAFKA_CLUSTER || die "--node needs --cluster as the first argument"
	[[ " ${KAFKA_NODES[*]} " == *" $1 "* ]] || die "--node=$1: the cluster has nodes ${KAFKA_NODES[*]}"
	echo "$1"
}

# broker_args FIRST LAST ARGS...: reads the options kafka-up.sh and
# kafka-down.sh share: --secure and --cluster (read above), --node N or
# --node=N (into only_node), -h/--help (prints the script's comment lines
# FIRST..LAST and exits). The other arguments are left in more_args, in order.
broker_args() {
	local first="$1" last="$2"
	shift 2
	only_node=""
	more_args=()
	while [[ $# -gt 0 ]]; do
		case "$1" in
		--secure | --cluster) ;;
		--node)
			only_node="$(node_arg "${2:-}")"
			shift
			;;
		--node=*) only_node="$(node_arg "${1#--node=}")" ;;
		-h | --help)
			usage "$first" "$last"
			exit 0
			;;
		*) more_args+=("$1") ;;
		esac
		shift
	done
}

# cluster_bootstrap: the client listeners of every node, comma separated.
cluster_bootstrap() {
	local n out=()
	for n in "${KAFKA_NODES[@]}"; do
		out+=("$KAFKA_HOST:$((KAFKA_CLUSTER_PORT + 2 * (n - 1)))")
	done
	(IFS=,; echo "${out[*]}")
}

# pid_is_our_broker PID: alive and running kafka.Kafka with this cache's config.
pid_is_our_broker() {
	local pid="$1"
	pid_alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "kafka.Kafka $KAFKA_PROPS"
}

# running_pid: prints the pid of this cache's broker if it runs; clears a stale pid file.
running_pid() {
	[[ -f "$KAFKA_PIDFILE" ]] || return 1
	local pid
	pid="$(cat "$KAFKA_PIDFILE" 2>/dev/null || true)"
	if [[ "$pid" =~ ^[0-9]+$ ]] && pid_is_our_broker "$pid"; then
		echo "$pid"
		return 0
	fi
	rm -f "$KAFKA_PIDFILE" "$KAFKA_BOOTSTRAP_FILE" "$KAFKA_PORTS_FILE"
	return 1
}

# ports_closed: nothing listens on the selected broker's ports. A SIGKILLed
# JVM's main thread is a zombie (gone for pid_alive) while its other threads
# still hold the listening sockets for a moment, and a start right then would
# find the ports "in use by another process".
ports_closed() {
	local p
	for p in $(ports); do
		port_in_use "$KAFKA_HOST" "$p" && return 1
	done
	return 0
}

# ports: every port the selected broker listens on (secure.sh adds the
# secured broker's): those it was started with while it runs, so a stop
# from a shell with other port variables waits on the right ones.
ports() {
	if [[ -s "$KAFKA_PORTS_FILE" ]]; then
		cat "$KAFKA_PORTS_FILE"
	elif $KAFKA_SECURE; then
		secure_ports
	else
		echo "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"
	fi
}

# stop_broker SIGNAL: stops the selected broker (TERM: graceful, then KILL after
# the stop timeout; KILL: at once, for fault tests) and waits until its ports are
# closed. No-op if it is not running.
stop_broker() {
	local sig="$1" pid
	if ! pid="$(running_pid)"; then
		log "no broker running for $KAFKA_RUN"
		return 0
	fi
	log "sending SIG$sig to broker pid $pid"
	kill -s "$sig" "$pid" 2>/dev/null || true
	kill -s CONT "$pid" 2>/dev/null || true # a paused broker handles TERM only once it runs
	if ! wait_for "$KAFKA_STOP_TIMEOUT_SECONDS" pid_gone "$pid"; then
		log "broker pid $pid still alive after ${KAFKA_STOP_TIMEOUT_SECONDS}s, sending SIGKILL"
		kill -s KILL "$pid" 2>/dev/null || true
		wait_for 10 pid_gone "$pid" || die "broker pid $pid did not exit after SIGKILL"
	fi
	wait_for 10 ports_closed || die "broker pid $pid is gone but its ports $(ports) are still open after 10s"
	rm -f "$KAFKA_PIDFILE" "$KAFKA_BOOTSTRAP_FILE" "$KAFKA_PORTS_FILE"
	log "broker pid $pid stopped"
}

# pid_paused PID: the process is stopped by a signal (SIGSTOP: a hung broker).
pid_paused() {
	[[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)" == T ]]
}

# pause_broker: SIGSTOP the selected broker: it keeps its sockets and
# connections but answers nothing (a hung broker, not a dead one) until
# kafka-up.sh sends SIGCONT.
pause_broker() {
	local pid
	pid="$(running_pid)" || die "no broker running for $KAFKA_RUN to pause"
	kill -s STOP "$pid"
	log "broker pid $pid paused (SIGSTOP); kafka-up.sh resumes it"
}

# resume_if_paused PID: SIGCONT for a broker paused with kafka-down.sh --pause.
resume_if_paused() {
	pid_paused "$1" || return 0
	kill -s CONT "$1"
	log "broker pid $1 was paused: resumed it (SIGCONT)"
}

# stop_nodes SIGNAL N...: stop_broker SIGNAL for these cluster nodes, all at
# once: one after the other, the last nodes' controlled shutdown would wait
# for a controller quorum that is already gone.
stop_nodes() {
	local sig="$1" n rc=0
	shift
	local -a jobs=()
	for n in "$@"; do
		use_node "$n"
		stop_broker "$sig" &
		jobs+=($!)
	done
	for n in "${jobs[@]}"; do
		wait "$n" || rc=1
	done
	return "$rc"
}

# kafka_release: the Apache Kafka version of the cached jars (from kafka_2.13-<v>.jar).
kafka_release() {
	local jar
	for jar in "$KAFKA_LIBS"/kafka_2.13-*.jar; do
		[[ -e "$jar" ]] || return 1
		jar="$(basename "$jar" .jar)"
		echo "${jar#kafka_2.13-}"
		return 0
	done
}
