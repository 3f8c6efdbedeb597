#!/usr/bin/env bash
# Start (or find running) the Apache Kafka test broker: KRaft, combined
# broker+controller, client listener on 127.0.0.1:${STREAMSCORE_DEV_KAFKA_PORT:-19092}.
#
#   bash deploy/kafka/kafka-up.sh                 # prints the bootstrap address on stdout
#   export STREAMSCORE_TEST_BROKERS="$(bash deploy/kafka/kafka-up.sh)"
#   bash deploy/kafka/kafka-up.sh --secure        # the secured broker (secure.sh): prints its SASL_SSL address
#   bash deploy/kafka/kafka-up.sh --cluster       # three nodes (RF 3, min ISR 2): prints the three addresses, comma separated
#   bash deploy/kafka/kafka-up.sh --cluster --node 2   # start (or SIGCONT, if paused) node 2 alone, wait until it serves
#
# Idempotent: if this cache's broker already runs and answers, it prints the
# address and exits 0 (a broker paused with kafka-down.sh --pause is resumed).
# Progress goes to stderr, the address alone to stdout.
# Environment: STREAMSCORE_DEV_KAFKA_CACHE (default <repo>/.cache/kafka),
# STREAMSCORE_DEV_KAFKA_PORT (19092), STREAMSCORE_DEV_KAFKA_CONTROLLER_PORT (port+1),
# STREAMSCORE_DEV_KAFKA_HEAP (512m; 384m per cluster node), STREAMSCORE_DEV_KAFKA_READY_TIMEOUT (60s).
# With --secure: STREAMSCORE_DEV_KAFKA_SECURE_CACHE (<repo>/.cache/kafka-secure),
# STREAMSCORE_DEV_KAFKA_SECURE_PORT (19292; it and the next three ports), the jars
# of STREAMSCORE_DEV_KAFKA_CACHE; details of the listeners in run/secure.env.
# With --cluster: STREAMSCORE_DEV_KAFKA_CLUSTER_CACHE (<repo>/.cache/kafka-cluster),
# STREAMSCORE_DEV_KAFKA_CLUSTER_PORT (19500: node n listens on port+2(n-1), its
# controller one above, so 19500-19505), the jars of STREAMSCORE_DEV_KAFKA_CACHE.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if $KAFKA_SECURE; then
	# shellcheck source=secure.sh source-path=SCRIPTDIR
	source "$KAFKA_DIR/secure.sh"
fi

broker_args 2 25 "$@"
for arg in "${more_args[@]}"; do
	die "unknown argument '$arg' (use --secure, or --cluster [--node N])"
done

command -v java >/dev/null || die "java not found (Kafka 4.x needs Java 17+; run scripts/install-deps.sh)"
command -v go >/dev/null || die "go not found (needed to build the readiness probe)"

java_major() {
	java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit}'
}

# fetch_libs: copy the broker jars into the cache once. The copy is marked
# complete with the POM's checksum, so a second run starts no Maven at all and
# a changed POM (new Kafka version) fetches again.
pom_sum() { sha256sum "$KAFKA_DIR/pom.xml" | awk '{print $1}'; }

libs_current() {
	[[ -f "$KAFKA_LIBS/.pom.sha256" && "$(cat "$KAFKA_LIBS/.pom.sha256")" == "$(pom_sum)" ]]
}

fetch_libs() {
	if libs_current; then
		return 0
	fi
	# The plain and the secured broker share the jars: one fetch at a time.
	mkdir -p "$(dirname "$KAFKA_LIBS")"
	exec 8>"$KAFKA_LIBS.lock"
	flock -w 600 8 || die "could not lock $KAFKA_LIBS.lock within 600s"
	if libs_current; then
		exec 8>&-
		return 0
	fi
	local want
	want="$(pom_sum)"
	command -v mvn >/dev/null || die "mvn not found (run scripts/install-deps.sh)"
	log "fetching Apache Kafka jars with Maven into $KAFKA_LIBS (once)"
	rm -rf "$KAFKA_LIBS.tmp"
	# (sed drops the colour escapes Debian's Maven prints even in batch mode)
	mvn -B -q -Dstyle.color=never -f "$KAFKA_DIR/pom.xml" dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS.tmp" 2>&1 |
		sed -e 's/\x1b\[[0-9;]*m//g' -e '/^$/d' >&2 ||
		die "Maven could not fetch the jars listed in $KAFKA_DIR/pom.xml"
	echo "$want" >"$KAFKA_LIBS.tmp/.pom.sha256"
	rm -rf "$KAFKA_LIBS"
	mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
	exec 8>&-
}

# build_kafkacheck: (re)build the probe when missing or older than its source.
build_kafkacheck() {
	local src="$KAFKA_DIR/kafkacheck/main.go"
	if [[ -x "$KAFKACHECK" && "$KAFKACHECK" -nt "$src" && "$KAFKACHECK" -nt "$REPO/go.sum" ]]; then
		return 0
	fi
	log "building $KAFKACHECK"
	mkdir -p "$KAFKA_BIN"
	(cd "$REPO" && go build -o "$KAFKACHECK.tmp" ./deploy/kafka/kafkacheck) >&2
	mv "$KAFKACHECK.tmp" "$KAFKACHECK"
}

listener_config() {
	if $KAFKA_SECURE; then
		secure_listener_config
		return
	fi
	cat <<EOF
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
}

# quorum_config: the node id and the static KRaft voters (the one node, or every cluster node).
quorum_config() {
	if ! $KAFKA_CLUSTER; then
		echo "node.id=1"
		echo "controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT"
		return
	fi
	local n voters=()
	for n in "${KAFKA_NODES[@]}"; do
		voters+=("$n@$KAFKA_HOST:$((KAFKA_CLUSTER_PORT + 2 * (n - 1) + 1))")
	done
	echo "node.id=$KAFKA_NODE"
	echo "controller.quorum.voters=$(IFS=,; echo "${voters[*]}")"
}

# replication_config: one replica of everything on a single node. In the
# cluster three, and a write (acks=all) needs two of them in sync, so one node
# may die or hang without losing an acknowledged record; no unclean election
# (Kafka's default): a replica out of sync never becomes leader. Six partitions
# of the internal topics spread the group and transaction coordinators over
# the nodes. No automatic preferred-leader election: fault tests pick their
# victims by the leaders kadm reports, and ask for an election when they
# want balance.
replication_config() {
	local rf=1 isr=1 parts=1
	if $KAFKA_CLUSTER; then
		rf=3 isr=2 parts=6
		echo "unclean.leader.election.enable=false"
		echo "auto.leader.rebalance.enable=false"
	fi
	cat <<EOF
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=$parts
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=$parts
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
min.insync.replicas=$isr
default.replication.factor=$rf
EOF
}

write_config() {
	# umask: the secured broker's file holds the PLAIN passwords.
	(umask 077 && cat >"$KAFKA_PROPS" <<EOF
# Generated by deploy/kafka/kafka-up.sh on every start; edit the script, not this file.
process.roles=broker,controller
$(quorum_config)
$(listener_config)
log.dirs=$KAFKA_DATA

# Replication of the $($KAFKA_CLUSTER && echo "three-node cluster" || echo "single node") (why: replication_config in kafka-up.sh).
$(replication_config)

# Tests create their topics explicitly; no join delay for the first group member.
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0

# Restart after SIGKILL: the controller keeps the dead broker's registration
# until its session times out (default 9s) and only then lets the new process
# register. A shorter session makes crash restarts in fault tests faster (and,
# in the cluster, fences a dead or hung node, moving its leaderships, sooner).
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=500

# Small machine (2 cores shared): few threads, small buffers.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=2097152
EOF
	)
	cat >"$KAFKA_LOG4J" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by deploy/kafka/kafka-up.sh. The broker's stdout is appended to run/kafka.log. -->
<Configuration status="WARN">
  <Appenders>
    <Console name="stdout" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="stdout"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="org.apache.kafka.storage.internals.log.LogLoader" level="WARN"/>
  </Loggers>
</Configuration>
EOF
}

# storage_id: the cluster id to format with: a new one for a single broker;
# for a cluster node the cluster's (cluster.id, made when the first node is
# formatted), so a node formatted anew still joins the others.
storage_id() {
	if $KAFKA_CLUSTER && [[ -s "$KAFKA_CLUSTER_ID_FILE" ]]; then
		cat "$KAFKA_CLUSTER_ID_FILE"
		return 0
	fi
	local uuid
	uuid="$(java -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool random-uuid 2>>"$KAFKA_LOG" | tail -n 1)"
	[[ -n "$uuid" ]] || die "StorageTool random-uuid printed nothing; see $KAFKA_LOG"
	if $KAFKA_CLUSTER; then
		echo "$uuid" >"$KAFKA_CLUSTER_ID_FILE"
	fi
	echo "$uuid"
}

# format_storage: format the KRaft data dir only when it has never been
# formatted. Restarts (also after SIGKILL) reuse it as it is.
format_storage() {
	if [[ -f "$KAFKA_DATA/meta.properties" ]]; then
		return 0
	fi
	local uuid
	local -a extra=()
	if $KAFKA_SECURE; then
		mapfile -t extra < <(secure_format_args)
	fi
	uuid="$(storage_id)"
	log "formatting KRaft storage in $KAFKA_DATA (cluster id $uuid)"
	mkdir -p "$KAFKA_DATA"
	java -Dlog4j2.configurationFile="file:$KAFKA_LOG4J" -cp "$KAFKA_LIBS/*" \
		kafka.tools.StorageTool format -t "$uuid" -c "$KAFKA_PROPS" -g "${extra[@]}" 2>&1 |
		# The tool prints the bootstrap records, SCRAM credentials (salt, keys) included.
		sed 's/^Bootstrap metadata: .*UserScramCredentialRecord.*/Bootstrap metadata: (not logged: it holds SCRAM credentials)/' >>"$KAFKA_LOG" ||
		die "formatting failed; see $KAFKA_LOG"
	[[ -f "$KAFKA_DATA/meta.properties" ]] || die "formatting wrote no meta.properties; see $KAFKA_LOG"
	grep -h 'Formatting' "$KAFKA_LOG" | tail -n 1 >&2 || true
}

# wait_ready PIDS RELEASE [BROKERS NODES]: kafkacheck until BROKERS (default:
# the selected broker) answer and, with NODES, their metadata lists that many
# brokers. PIDS is comma separated: it gives up at once when one is gone.
wait_ready() {
	local pid_list="$1" release="$2" brokers="${3:-$KAFKA_HOST:$KAFKA_PORT}" nodes="${4:-1}" rc=0
	local -a how=("-brokers=$brokers")
	if $KAFKA_SECURE; then
		mapfile -t how < <(kafkacheck_tls_args)
	fi
	"$KAFKACHECK" "${how[@]}" -min-brokers "$nodes" -timeout "$KAFKA_READY_TIMEOUT" \
		-pid "$pid_list" -release "$release" -quiet >&2 || rc=$?
	return "$rc"
}

# secure_ready: the secured broker's ACLs and the files tests read.
secure_ready() {
	$KAFKA_SECURE || return 0
	provision_acls
	write_secure_env
}

# release_of_running: the Kafka release of the jars under a running broker,
# which are never swapped under it.
release_of_running() {
	kafka_release || die "no kafka_2.13-*.jar in $KAFKA_LIBS"
	if ! libs_current; then
		log "WARNING: pom.xml changed since the running broker's jars were fetched; restart to use it (kafka-down.sh, then kafka-up.sh)"
	fi
}

# launch_broker RELEASE: writes the selected broker's configuration, formats
# its storage if it is new and starts it in the background; sets LAUNCHED_PID.
launch_broker() {
	local release="$1" p
	rm -f "$KAFKA_PORTS_FILE" # a dead broker's: this start's ports come from the variables
	for p in $(ports); do
		port_in_use "$KAFKA_HOST" "$p" && die "port $KAFKA_HOST:$p is already in use by another process (set STREAMSCORE_DEV_KAFKA_PORT / STREAMSCORE_DEV_KAFKA_CONTROLLER_PORT, STREAMSCORE_DEV_KAFKA_SECURE_PORT with --secure, STREAMSCORE_DEV_KAFKA_CLUSTER_PORT with --cluster)"
	done
	mkdir -p "$KAFKA_RUN"
	write_config
	printf '\n===== %s kafka-up: starting Apache Kafka %s =====\n' "$(date -u +%FT%TZ)" "$release" >>"$KAFKA_LOG"
	format_storage

	# setsid: the broker gets its own session, so it outlives this script and is
	# not hit by signals sent to the caller's process group. 9>&- keeps the lock
	# file descriptor out of the broker (else the lock would be held while it runs).
	setsid java "-Xms$KAFKA_HEAP_MIN" "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
		"-Dlog4j2.configurationFile=file:$KAFKA_LOG4J" "-Dkafka.logs.dir=$KAFKA_RUN" \
		-cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_PROPS" \
		>>"$KAFKA_LOG" 2>&1 </dev/null 9>&- &
	LAUNCHED_PID=$!
	echo "$LAUNCHED_PID" >"$KAFKA_PIDFILE"
	ports >"$KAFKA_PORTS_FILE.tmp" && mv "$KAFKA_PORTS_FILE.tmp" "$KAFKA_PORTS_FILE"
}

# single_up: the single (plain or secured) broker.
single_up() {
	local pid release
	if pid="$(running_pid)"; then
		release="$(release_of_running)"
		resume_if_paused "$pid"
		log "broker already running (pid $pid), checking it answers"
		wait_ready "$pid" "$release" || die "running broker pid $pid does not answer; see $KAFKA_LOG (stop it with kafka-down.sh)"
		secure_ready
		cat "$KAFKA_BOOTSTRAP_FILE" 2>/dev/null || echo "$KAFKA_HOST:$KAFKA_PORT" | tee "$KAFKA_BOOTSTRAP_FILE"
		return 0
	fi

	fetch_libs
	release="$(kafka_release)" || die "no kafka_2.13-*.jar in $KAFKA_LIBS"
	if $KAFKA_SECURE; then
		if acls_stale; then
			log "$(basename "$KAFKA_ACLS_SPEC") changed since the ACLs were made: formatting $KAFKA_DATA anew"
			rm -rf "$KAFKA_DATA" "$KAFKA_ACLS_APPLIED"
		fi
		make_certs
		make_passwords
		write_admin_properties
	fi
	launch_broker "$release"
	pid=$LAUNCHED_PID
	log "started Apache Kafka $release (pid $pid), waiting up to $KAFKA_READY_TIMEOUT for it to answer"

	if ! wait_ready "$pid" "$release"; then
		log "broker did not become ready; last lines of $KAFKA_LOG:"
		tail -n 40 "$KAFKA_LOG" >&2 || true
		stop_broker TERM || true
		exit 1
	fi
	secure_ready
	echo "$KAFKA_HOST:$KAFKA_PORT" >"$KAFKA_BOOTSTRAP_FILE"
	log "ready: bootstrap $KAFKA_HOST:$KAFKA_PORT, pid $pid, data $KAFKA_DATA, log $KAFKA_LOG"
	cat "$KAFKA_BOOTSTRAP_FILE"
}

# cluster_up: starts every cluster node that does not run (with --node, that
# node alone), resumes a paused one, and waits until the started ones answer
# and list all nodes. Nodes start together: none is ready before a quorum of
# controllers (two of three) runs.
cluster_up() {
	local n pid release running=false
	local -a nodes=("${KAFKA_NODES[@]}") pids=() addrs=() launched=()
	[[ -z "$only_node" ]] || nodes=("$only_node")
	for n in "${KAFKA_NODES[@]}"; do
		use_node "$n"
		if running_pid >/dev/null; then
			running=true
		fi
	done
	if $running; then
		release="$(release_of_running)"
	else
		fetch_libs
		release="$(kafka_release)" || die "no kafka_2.13-*.jar in $KAFKA_LIBS"
	fi
	for n in "${nodes[@]}"; do
		use_node "$n"
		if pid="$(running_pid)"; then
			resume_if_paused "$pid"
			log "node $n already running (pid $pid)"
		else
			launch_broker "$release"
			pid=$LAUNCHED_PID
			launched+=("$n")
			log "node $n: started Apache Kafka $release (pid $pid) on $KAFKA_HOST:$KAFKA_PORT, log $KAFKA_LOG"
		fi
		pids+=("$pid")
		addrs+=("$KAFKA_HOST:$KAFKA_PORT")
	done
	log "waiting up to $KAFKA_READY_TIMEOUT for node(s) ${nodes[*]} to answer in a cluster of ${#KAFKA_NODES[@]}"
	if ! wait_ready "$(IFS=,; echo "${pids[*]}")" "$release" "$(IFS=,; echo "${addrs[*]}")" "${#KAFKA_NODES[@]}"; then
		for n in "${nodes[@]}"; do
			use_node "$n"
			log "node $n did not become ready; last lines of $KAFKA_LOG:"
			tail -n 20 "$KAFKA_LOG" >&2 || true
		done
		[[ ${#launched[@]} -eq 0 ]] || stop_nodes TERM "${launched[@]}" || true
		exit 1
	fi
	cluster_bootstrap >"$KAFKA_CLUSTER_BOOTSTRAP_FILE"
	log "ready: bootstrap $(cat "$KAFKA_CLUSTER_BOOTSTRAP_FILE"), data and logs in $KAFKA_CACHE/node{$(IFS=,; echo "${KAFKA_NODES[*]}")}"
	cat "$KAFKA_CLUSTER_BOOTSTRAP_FILE"
}

main() {
	mkdir -p "$KAFKA_CACHE" "$KAFKA_RUN"
	take_lock "$KAFKA_LOCK"

	local major
	major="$(java_major)"
	[[ "$major" =~ ^[0-9]+$ && "$major" -ge 17 ]] || die "Kafka 4.x needs Java 17 or newer, found '${major:-?}'"

	build_kafkacheck
	if $KAFKA_CLUSTER; then
		cluster_up
	else
		single_up
	fi
}

main "$@"
