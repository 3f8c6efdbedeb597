#!/usr/bin/env bash
# Start (or find running) the test schema registry: Apicurio Registry, built from its
# Maven Central jars (pom.xml), in-memory storage, on 127.0.0.1:${STREAMSCORE_DEV_REGISTRY_PORT:-18081}.
#
#   bash deploy/registry/registry-up.sh     # prints the Confluent-compatible API's URL on stdout
#   export STREAMSCORE_TEST_REGISTRY_URL="$(bash deploy/registry/registry-up.sh)"
#
# The URL is http://127.0.0.1:PORT/apis/ccompat/v7: give it as streamscore's registry.url
# or to any Confluent Schema Registry client. The first run builds the registry with Maven
# into the cache (a few minutes: Quarkus and its dependencies are downloaded); later runs
# start it in seconds. Idempotent: when this cache's registry already runs and answers, it
# prints the URL and exits 0. Progress goes to stderr, the URL alone to stdout.
# Environment: STREAMSCORE_DEV_REGISTRY_CACHE (default <repo>/.cache/registry),
# STREAMSCORE_DEV_REGISTRY_PORT (18081), STREAMSCORE_DEV_REGISTRY_HEAP (256m),
# STREAMSCORE_DEV_REGISTRY_READY_TIMEOUT_SECONDS (90).
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for arg in "$@"; do
	case "$arg" in
	-h | --help)
		usage 2 15
		exit 0
		;;
	*) die "unknown argument '$arg'" ;;
	esac
done

command -v java >/dev/null || die "java not found (the registry needs Java 17+; run scripts/install-deps.sh)"

# build_sum: what the build is made from: the POM and the Java source.
build_sum() {
	(cd "$REGISTRY_DIR" && find pom.xml src -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | awk '{print $1}'
}

build_current() {
	[[ -f "$REGISTRY_APP/.build.sha256" && "$(cat "$REGISTRY_APP/.build.sha256")" == "$(build_sum)" ]]
}

# build_app: build the registry into the cache once; a changed POM or source builds again.
build_app() {
	if build_current; then
		return 0
	fi
	command -v mvn >/dev/null || die "mvn not found (run scripts/install-deps.sh)"
	local want tmp="$REGISTRY_CACHE/build.tmp" start=$SECONDS
	want="$(build_sum)"
	log "building Apicurio Registry with Maven into $REGISTRY_APP (once; downloads its jars)"
	rm -rf "$tmp"
	# (sed drops the colour escapes Debian's Maven prints even in batch mode)
	mvn -B -q -Dstyle.color=never -f "$REGISTRY_DIR/pom.xml" "-Dregistry.build.dir=$tmp" package 2>&1 |
		sed -e 's/\x1b\[[0-9;]*m//g' -e '/^$/d' >&2 ||
		die "Maven could not build the registry from $REGISTRY_DIR/pom.xml"
	[[ -f "$tmp/$(basename "$REGISTRY_JAR")" && -d "$tmp/lib" ]] || die "the build made no $(basename "$REGISTRY_JAR") and lib/ in $tmp"
	rm -rf "$REGISTRY_APP.tmp"
	mkdir -p "$REGISTRY_APP.tmp"
	mv "$tmp/$(basename "$REGISTRY_JAR")" "$tmp/lib" "$REGISTRY_APP.tmp/"
	echo "$want" >"$REGISTRY_APP.tmp/.build.sha256"
	rm -rf "$REGISTRY_APP" "$tmp"
	mv "$REGISTRY_APP.tmp" "$REGISTRY_APP"
	log "built in $((SECONDS - start))s ($(du -sh "$REGISTRY_APP" | cut -f1))"
}

# wait_ready PID PORT: until the API answers; gives up at once when PID is gone.
wait_ready() {
	local pid="$1" port="$2" i
	for ((i = 0; i < REGISTRY_READY_TIMEOUT_SECONDS * 4; i++)); do
		answers "$port" && return 0
		pid_alive "$pid" || return 1
		sleep 0.25
	done
	answers "$port"
}

main() {
	mkdir -p "$REGISTRY_RUN"
	take_lock "$REGISTRY_LOCK"
	local pid url="http://$REGISTRY_HOST:$REGISTRY_PORT$REGISTRY_PATH" start

	if pid="$(running_pid)"; then
		url="$(cat "$REGISTRY_URL_FILE" 2>/dev/null || echo "$url")"
		local port="${url#http://"$REGISTRY_HOST":}"
		log "registry already running (pid $pid), checking it answers"
		wait_ready "$pid" "${port%%/*}" || die "running registry pid $pid does not answer at $url; see $REGISTRY_LOG (stop it with registry-down.sh)"
		echo "$url"
		return 0
	fi

	build_app
	port_in_use "$REGISTRY_HOST" "$REGISTRY_PORT" &&
		die "port $REGISTRY_HOST:$REGISTRY_PORT is already in use by another process (set STREAMSCORE_DEV_REGISTRY_PORT)"
	printf '\n===== %s registry-up: starting Apicurio Registry =====\n' "$(date -u +%FT%TZ)" >>"$REGISTRY_LOG"
	start=$SECONDS
	# setsid: its own session, so it outlives this script; 9>&- keeps the lock out of it.
	# The port and address are Quarkus settings; everything else is the application's own
	# defaults: in-memory H2 storage, no authentication, no rules. (Not
	# registry.ccompat.use-canonical-hash: in this release it stores the canonical form,
	# whose record fields are sorted by name, and serves that as the writer schema:
	# every record written with the original field order decodes wrongly. README.md.)
	setsid java "-Xmx$REGISTRY_HEAP" -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
		"-Dquarkus.http.host=$REGISTRY_HOST" "-Dquarkus.http.port=$REGISTRY_PORT" \
		-jar "$REGISTRY_JAR" >>"$REGISTRY_LOG" 2>&1 </dev/null 9>&- &
	pid=$!
	echo "$pid" >"$REGISTRY_PIDFILE"
	log "started Apicurio Registry (pid $pid), waiting up to ${REGISTRY_READY_TIMEOUT_SECONDS}s for $url"
	if ! wait_ready "$pid" "$REGISTRY_PORT"; then
		log "registry did not become ready; last lines of $REGISTRY_LOG:"
		tail -n 40 "$REGISTRY_LOG" >&2 || true
		kill -s KILL "$pid" 2>/dev/null || true
		rm -f "$REGISTRY_PIDFILE"
		exit 1
	fi
	echo "$url" >"$REGISTRY_URL_FILE"
	log "ready in $((SECONDS - start))s: $url, pid $pid, log $REGISTRY_LOG"
	echo "$url"
}

main "$@"
