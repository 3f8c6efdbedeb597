#!/usr/bin/env bash
# Run an Apache Kafka command-line tool from the cached broker jars (no
# Kafka installation needed). kafka-up.sh must have fetched the jars once.
#
#   bash deploy/kafka/kafka-tool.sh topics          --bootstrap-server 127.0.0.1:19092 --list
#   bash deploy/kafka/kafka-tool.sh consumer-groups --bootstrap-server 127.0.0.1:19092 --describe --group G
#   bash deploy/kafka/kafka-tool.sh transactions    --bootstrap-server 127.0.0.1:19092 list
#   bash deploy/kafka/kafka-tool.sh org.apache.kafka.tools.SomeOtherCommand ...
#   bash deploy/kafka/kafka-tool.sh --secure acls --list   # the secured broker, as its admin (mTLS);
#                                                          # --bootstrap-server and --command-config are added
#   bash deploy/kafka/kafka-tool.sh --cluster topics --describe --topic T   # the cluster; --bootstrap-server is added
#
# Tools log at WARN only, so stdout holds just the tool's answer.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if $KAFKA_SECURE || $KAFKA_CLUSTER; then
	shift
fi
[[ $# -ge 1 ]] || die "usage: kafka-tool.sh [--secure|--cluster] topics|consumer-groups|transactions|acls|configs|<main class> [args...]"
tool="$1"
shift
case "$tool" in
topics) class=org.apache.kafka.tools.TopicCommand ;;
consumer-groups) class=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
transactions) class=org.apache.kafka.tools.TransactionsCommand ;;
get-offsets) class=org.apache.kafka.tools.GetOffsetShell ;;
acls) class=org.apache.kafka.tools.AclCommand ;;
configs) class=kafka.admin.ConfigCommand ;;
*.*) class="$tool" ;;
*) die "unknown tool '$tool' (topics, consumer-groups, transactions, get-offsets, acls, configs, or a main class)" ;;
esac

if $KAFKA_SECURE; then
	[[ -f "$KAFKA_RUN/admin.properties" ]] || die "no $KAFKA_RUN/admin.properties; start the secured broker: bash deploy/kafka/kafka-up.sh --secure"
	set -- --bootstrap-server "$KAFKA_HOST:$((KAFKA_PORT + 1))" --command-config "$KAFKA_RUN/admin.properties" "$@"
elif $KAFKA_CLUSTER; then
	set -- --bootstrap-server "$(cluster_bootstrap)" "$@"
fi

compgen -G "$KAFKA_LIBS/kafka-tools-*.jar" >/dev/null || die "no Kafka jars in $KAFKA_LIBS; run deploy/kafka/kafka-up.sh once"

tools_log4j="$KAFKA_RUN/tools-log4j2.xml"
if [[ ! -f "$tools_log4j" ]]; then
	mkdir -p "$KAFKA_RUN"
	cat >"$tools_log4j" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="stderr" target="SYSTEM_ERR"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console>
  </Appenders>
  <Loggers><Root level="WARN"><AppenderRef ref="stderr"/></Root></Loggers>
</Configuration>
XML
fi

exec java -Xmx256m -XX:+UseSerialGC "-Dlog4j2.configurationFile=file:$tools_log4j" \
	-cp "$KAFKA_LIBS/*" "$class" "$@"
