# shellcheck shell=bash
# Helpers shared by the dev servers' scripts (deploy/kafka, deploy/postgres, deploy/registry),
# sourced by their lib.sh files. Sourced, not run.

# log MSG...: one progress line on stderr, named after the running script.
log() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# usage FIRST LAST: the running script's comment lines FIRST..LAST without
# their "# " (its -h text).
usage() { sed -n "$1,$2p" "$0" | sed 's/^# \{0,1\}//'; }

# restart_option ARG FIRST LAST: the options of every restart script.
# --kill (the default: a crash) and --graceful set mode for the down script;
# -h prints usage FIRST LAST and exits; any other ARG returns 1.
# shellcheck disable=SC2034 # mode is the calling script's
restart_option() {
	case "$1" in
	--graceful) mode="" ;;
	--kill) mode=--kill ;;
	-h | --help)
		usage "$2" "$3"
		exit 0
		;;
	*) return 1 ;;
	esac
}

# port_in_use HOST PORT: something accepts TCP connections on HOST:PORT.
port_in_use() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# wait_for SECONDS CMD...: runs CMD every 0.1s until it succeeds; returns 1
# when it still fails after SECONDS.
wait_for() {
	local secs="$1" i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# take_lock FILE: serialises the scripts that work on one cache (parallel
# make targets): holds FILE's lock on file descriptor 9 until the script
# exits (a server started meanwhile must get 9>&-).
take_lock() {
	mkdir -p "$(dirname "$1")"
	exec 9>"$1"
	flock -w 300 9 || die "could not lock $1 within 300s"
}

# pid_alive PID: the process exists and is not a zombie (a SIGKILLed JVM whose
# parent has not reaped it yet still answers kill -0).
pid_alive() {
	local pid="$1" state
	kill -0 "$pid" 2>/dev/null || return 1
	state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
	[[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# pid_gone PID: the process is gone (or a zombie).
pid_gone() { ! pid_alive "$1"; }
