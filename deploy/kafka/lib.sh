# shellcheck shell=bash disable=SC2034 # variables are used by the scripts that source this file
# Shared settings and helpers for kafka-up.sh, kafka-down.sh, kafka-restart.sh and kafka-tool.sh.
# Sourced, not run. Everything the broker writes lives under $KAFKA_CACHE:
#   libs/            broker jars copied by Maven from pom.xml (libs/.pom.sha256 marks a complete copy;
#                    the secured broker uses the plain broker's)
#   tls/, users/     secured broker only: test CA, certificates, SCRAM passwords (see secure.sh)
#   bin/kafkacheck   protocol-level readiness probe, built from kafkacheck/main.go
#   data/            KRaft metadata + topic data (formatted once, kept across restarts)
#   run/             server.properties, log4j2.xml, kafka.pid, bootstrap, kafka.log, lock

KAFKA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$KAFKA_DIR/../.." && pwd)"

# --secure as the first argument of the sourcing script selects the secured
# broker (secure.sh): its own cache, data and ports, the plain broker's jars.
KAFKA_SECURE=false
if [[ "${1:-}" == --secure ]]; then
	KAFKA_SECURE=true
fi

if $KAFKA_SECURE; then
	# Listeners: SASL_SSL on the port, SSL (mTLS) +1, inter-broker SSL +2, controller SSL +3.
	KAFKA_CACHE="${STREAMSCORE_DEV_KAFKA_SECURE_CACHE:-$REPO/.cache/kafka-secure}"
	KAFKA_PORT="${STREAMSCORE_DEV_KAFKA_SECURE_PORT:-19292}"
	KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 3))
	KAFKA_LIBS="${STREAMSCORE_DEV_KAFKA_CACHE:-$REPO/.cache/kafka}/libs"
else
	KAFKA_CACHE="${STREAMSCORE_DEV_KAFKA_CACHE:-$REPO/.cache/kafka}"
	KAFKA_PORT="${STREAMSCORE_DEV_KAFKA_PORT:-19092}"
	KAFKA_CONTROLLER_PORT="${STREAMSCORE_DEV_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
	KAFKA_LIBS="$KAFKA_CACHE/libs"
fi
KAFKA_HOST=127.0.0.1
KAFKA_HEAP="${STREAMSCORE_DEV_KAFKA_HEAP:-512m}"
KAFKA_READY_TIMEOUT="${STREAMSCORE_DEV_KAFKA_READY_TIMEOUT:-60s}"
KAFKA_STOP_TIMEOUT_SECONDS="${STREAMSCORE_DEV_KAFKA_STOP_TIMEOUT_SECONDS:-30}"

KAFKA_DATA="$KAFKA_CACHE/data"
KAFKA_RUN="$KAFKA_CACHE/run"
KAFKA_BIN="$KAFKA_CACHE/bin"
KAFKA_PIDFILE="$KAFKA_RUN/kafka.pid"
KAFKA_BOOTSTRAP_FILE="$KAFKA_RUN/bootstrap"
KAFKA_LOG="$KAFKA_RUN/kafka.log"
KAFKA_PROPS="$KAFKA_RUN/server.properties"
KAFKA_LOG4J="$KAFKA_RUN/log4j2.xml"
KAFKACHECK="$KAFKA_BIN/kafkacheck"

log() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# pid_alive PID: the process exists and is not a zombie (a SIGKILLed broker whose
# parent has not reaped it yet still answers kill -0).
pid_alive() {
	local pid="$1" state
	kill -0 "$pid" 2>/dev/null || return 1
	state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
	[[ -n "$state" && "$state" != Z && "$state" != X ]]
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
	rm -f "$KAFKA_PIDFILE" "$KAFKA_BOOTSTRAP_FILE"
	return 1
}

# port_in_use PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
	(exec 3<>"/dev/tcp/$KAFKA_HOST/$1") 2>/dev/null
}

# wait_gone PID SECONDS: polls until the process is gone; returns 1 on timeout.
wait_gone() {
	local pid="$1" secs="$2" i
	for ((i = 0; i < secs * 10; i++)); do
		pid_alive "$pid" || return 0
		sleep 0.1
	done
	! pid_alive "$pid"
}

# stop_broker SIGNAL: stops this cache's broker (TERM: graceful, then KILL after
# the stop timeout; KILL: at once, for fault tests). No-op if it is not running.
stop_broker() {
	local sig="$1" pid
	if ! pid="$(running_pid)"; then
		log "no broker running for $KAFKA_CACHE"
		return 0
	fi
	log "sending SIG$sig to broker pid $pid"
	kill -s "$sig" "$pid" 2>/dev/null || true
	if ! wait_gone "$pid" "$KAFKA_STOP_TIMEOUT_SECONDS"; then
		log "broker pid $pid still alive after ${KAFKA_STOP_TIMEOUT_SECONDS}s, sending SIGKILL"
		kill -s KILL "$pid" 2>/dev/null || true
		wait_gone "$pid" 10 || die "broker pid $pid did not exit after SIGKILL"
	fi
	rm -f "$KAFKA_PIDFILE" "$KAFKA_BOOTSTRAP_FILE"
	log "broker pid $pid stopped"
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

# take_lock: serialises scripts that work on the same cache (e.g. parallel make targets).
take_lock() {
	mkdir -p "$KAFKA_RUN"
	exec 9>"$KAFKA_RUN/lock"
	flock -w 300 9 || die "could not lock $KAFKA_RUN/lock within 300s"
}
