#!/usr/bin/env bash
# backlog-rss.sh: the resident memory of `streamscore run` while it works
# through a large backlog, to show that in-flight limits bound memory.
#
#   bash scripts/backlog-rss.sh [events]      (default 5000000; needs `make kafka-up build`)
#
# It loads the backlog first (service stopped), then starts the service and
# samples its RSS every second until every event has an output, and prints
# the peak (VmHWM) and the time taken.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-5000000}
brokers=$(cat .cache/kafka/run/bootstrap)
bin=bin/streamscore
run=backlog-$(date +%s)
tool() { bash deploy/kafka/kafka-tool.sh "$@"; }
for t in in out dlq; do
  tool topics --bootstrap-server "$brokers" --create --topic "$run-$t" --partitions 6 --config max.message.bytes=4198400 >/dev/null
done
trap 'for t in in out dlq; do tool topics --bootstrap-server "$brokers" --delete --topic "$run-$t" >/dev/null 2>&1 || true; done' EXIT
echo "loading $events events into $run-in ..."
start=$(date +%s)
$bin produce --kafka.brokers "$brokers" --input.topic "$run-in" --rate 0 --count "$events" --seed 3
echo "loaded in $(( $(date +%s) - start ))s"
dir=$(mktemp -d)
$bin run --kafka.brokers "$brokers" --input.topic "$run-in" --output.topic "$run-out" --dlq.topic "$run-dlq" \
  --input.group "$run-g" --http.listen 127.0.0.1:0 --log.format json 2>"$dir/run.log" &
pid=$!
start=$(date +%s)
peak=0
while :; do
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  (( rss > peak )) && peak=$rss
  lag=$(tool consumer-groups --bootstrap-server "$brokers" --describe --group "$run-g" 2>/dev/null | awk '$2 ~ /-in$/ && $6 ~ /^[0-9]+$/ {s += $6; n++} END {if (n == 6) print s; else print -1}')
  if [ "$lag" = 0 ]; then break; fi
  if (( $(date +%s) - start > 1800 )); then echo "gave up after 30 min (lag $lag)"; break; fi
  sleep 2
done
hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
kill -TERM $pid; wait $pid || true
echo "processed $events events in $(( $(date +%s) - start ))s; peak RSS (VmHWM) ${hwm} kB; sampled max ${peak} kB"
