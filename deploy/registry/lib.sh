# shellcheck shell=bash disable=SC2034 # variables are used by the scripts that source this file
# Shared settings and helpers for registry-up.sh and registry-down.sh. Sourced, not run.
# Everything lives under $REGISTRY_CACHE:
#   app/     the built registry: streamscore-schema-registry-1-runner.jar and lib/
#            (app/.build.sha256 marks a complete build of this directory's pom.xml and src/)
#   run/     registry.pid, url, registry.log, lock
# The registry keeps its schemas in memory (H2): a restart starts empty.

REGISTRY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$REGISTRY_DIR/../.." && pwd)"
# log, die, usage, port_in_use, wait_for, take_lock, pid_alive, pid_gone
# shellcheck source=../lib.sh source-path=SCRIPTDIR
source "$REGISTRY_DIR/../lib.sh"

REGISTRY_CACHE="${STREAMSCORE_DEV_REGISTRY_CACHE:-$REPO/.cache/registry}"
REGISTRY_PORT="${STREAMSCORE_DEV_REGISTRY_PORT:-18081}"
REGISTRY_HOST=127.0.0.1
REGISTRY_HEAP="${STREAMSCORE_DEV_REGISTRY_HEAP:-256m}"
REGISTRY_READY_TIMEOUT_SECONDS="${STREAMSCORE_DEV_REGISTRY_READY_TIMEOUT_SECONDS:-90}"
REGISTRY_STOP_TIMEOUT_SECONDS="${STREAMSCORE_DEV_REGISTRY_STOP_TIMEOUT_SECONDS:-30}"

REGISTRY_APP="$REGISTRY_CACHE/app"
REGISTRY_JAR="$REGISTRY_APP/streamscore-schema-registry-1-runner.jar"
REGISTRY_RUN="$REGISTRY_CACHE/run"
REGISTRY_PIDFILE="$REGISTRY_RUN/registry.pid"
REGISTRY_URL_FILE="$REGISTRY_RUN/url"
REGISTRY_LOG="$REGISTRY_RUN/registry.log"
REGISTRY_LOCK="$REGISTRY_RUN/lock"
# The Confluent-compatible API (what registry.url and Confluent clients take).
REGISTRY_PATH=/apis/ccompat/v7

port_free() { ! port_in_use "$REGISTRY_HOST" "$1"; }

# running_pid: prints the pid of this cache's registry if it runs; clears a stale pid file.
running_pid() {
	[[ -f "$REGISTRY_PIDFILE" ]] || return 1
	local pid
	pid="$(cat "$REGISTRY_PIDFILE" 2>/dev/null || true)"
	if [[ "$pid" =~ ^[0-9]+$ ]] && pid_alive "$pid" &&
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-jar $REGISTRY_JAR"; then
		echo "$pid"
		return 0
	fi
	rm -f "$REGISTRY_PIDFILE" "$REGISTRY_URL_FILE"
	return 1
}

# http_status HOST PORT PATH: the status code of GET PATH (bash's /dev/tcp: no curl needed),
# empty when nothing answers within 5s.
http_status() {
	# shellcheck disable=SC2016 # the inner script's $1..$3 are its own arguments
	timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1
		printf "GET %s HTTP/1.0\r\nHost: %s:%s\r\nAccept: application/json\r\n\r\n" "$3" "$1" "$2" >&3
		read -r _ code _ <&3 && echo "$code"' _ "$1" "$2" "$3" 2>/dev/null || true
}

# answers: the registry's Confluent-compatible API lists its subjects.
answers() { [[ "$(http_status "$REGISTRY_HOST" "$1" "$REGISTRY_PATH/subjects")" == 200 ]]; }

# stop_registry SIGNAL: stops this cache's registry (TERM: graceful, then KILL after the stop
# timeout) and waits until its port is closed. No-op if it is not running.
stop_registry() {
	local sig="$1" pid port
	if ! pid="$(running_pid)"; then
		log "no registry running for $REGISTRY_RUN"
		return 0
	fi
	port="$(sed -E 's#^http://[^:]+:([0-9]+)/.*#\1#' "$REGISTRY_URL_FILE" 2>/dev/null || echo "$REGISTRY_PORT")"
	log "sending SIG$sig to registry pid $pid"
	kill -s "$sig" "$pid" 2>/dev/null || true
	if ! wait_for "$REGISTRY_STOP_TIMEOUT_SECONDS" pid_gone "$pid"; then
		log "registry pid $pid still alive after ${REGISTRY_STOP_TIMEOUT_SECONDS}s, sending SIGKILL"
		kill -s KILL "$pid" 2>/dev/null || true
		wait_for 10 pid_gone "$pid" || die "registry pid $pid did not exit after SIGKILL"
	fi
	wait_for 10 port_free "$port" || die "registry pid $pid is gone but port $port is still open after 10s"
	rm -f "$REGISTRY_PIDFILE" "$REGISTRY_URL_FILE"
}
