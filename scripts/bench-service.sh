#!/usr/bin/env bash
# bench-service.sh: the process CPU time per record and the peak RSS of
# `streamscore run` working through a backlog on a real broker, for this
# checkout and (with --base) an older commit, alternated round by round in
# one run so that both see the same machine. CPU time per record is far
# steadier than a wall rate on a shared machine; the ratio head/base is the
# figure to quote (docs/BENCHMARKS.md).
#
#   bash scripts/bench-service.sh [--base REV] [--events N] [--rounds R]
#        [--delivery at-least-once|exactly-once] [--bundle DIR] [-- extra run flags]
#
# Defaults: no base, 1000000 fraud events (6 partitions), 3 rounds,
# at-least-once, examples/fraud, the service's defaults otherwise. The
# events are `streamscore produce BUNDLE`'s (clean events for any bundle). Needs a
# broker: STREAMSCORE_TEST_BROKERS, else the one `make kafka-up` starts.
# The CPU time counted is the service's own (utime+stime from /proc) from
# its first consumed record to its last, so start-up and model load are out.
# The base scores the bundle as it was at its commit (--bundle is a path in
# the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

base="" events=1000000 rounds=3 delivery=at-least-once bundle=examples/fraud extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
  --base) base=$2; shift 2 ;;
  --events) events=$2; shift 2 ;;
  --rounds) rounds=$2; shift 2 ;;
  --delivery) delivery=$2; shift 2 ;;
  --bundle) bundle=$2; shift 2 ;;
  --) shift; extra=("$@"); break ;;
  -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "bench-service.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

brokers=${STREAMSCORE_TEST_BROKERS:-$(bash deploy/kafka/kafka-up.sh)}
work="$root/.cache/bench-service"
mkdir -p "$work"
tool() { bash deploy/kafka/kafka-tool.sh "$@"; }

echo "building this checkout ($(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ', with uncommitted changes'))" >&2
go build -o "$work/head" ./cmd/streamscore
bins=(head)
if [[ -n "$base" ]]; then
  rev=$(git rev-parse --short "$base^{commit}")
  if [[ ! -x "$work/base-$rev" ]]; then
    echo "building base $rev" >&2
    rm -rf "$work/src-$rev"
    git worktree add -q --detach "$work/src-$rev" "$rev"
    (cd "$work/src-$rev" && go build -o "$work/base-$rev" ./cmd/streamscore)
    git worktree remove --force "$work/src-$rev"
  fi
  # the base reads the bundle as it was at its commit (the format has grown since)
  rm -rf "$work/bundle-$rev" && mkdir -p "$work/bundle-$rev"
  git archive "$rev" "$bundle" | tar -x -C "$work/bundle-$rev"
  bins=("base-$rev" head)
fi

run=bench-$(date +%s)
topics=("$run-in")
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; fi
  for t in "${topics[@]}"; do tool topics --bootstrap-server "$brokers" --delete --topic "$t" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
tool topics --bootstrap-server "$brokers" --create --topic "$run-in" --partitions 6 >/dev/null
echo "loading $events events into $run-in" >&2
"$work/head" produce "$bundle" --kafka.brokers "$brokers" --input.topic "$run-in" --rate 0 --count "$events" --seed 3 >/dev/null

ticks=$(getconf CLK_TCK)
# The broker's own CPU, when it is this checkout's (kafka-up.sh): on one
# machine the service and the broker share the cores.
kcache=${STREAMSCORE_DEV_KAFKA_CACHE:-$root/.cache/kafka}
bpid=""
if [[ -f "$kcache/run/kafka.pid" && "$(cat "$kcache/run/bootstrap" 2>/dev/null)" == "$brokers" ]]; then
  bpid=$(cat "$kcache/run/kafka.pid")
  kill -0 "$bpid" 2>/dev/null || bpid=""
fi
broker_ticks() { if [[ -n "$bpid" ]]; then cpu_ticks "$bpid"; else echo 0; fi; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
consumed() { # records consumed so far, from the service's own /metrics (0 until it answers)
  { curl -fs "http://$1/metrics" 2>/dev/null || true; } | awk '/^streamscore_records_consumed_total/ {s += $2} END {printf "%d\n", s}'
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

bundle_of() { if [[ $1 == head ]]; then echo "$bundle"; else echo "$work/bundle-$rev/$bundle"; fi; }

declare -A results
for ((r = 1; r <= rounds; r++)); do
  for b in "${bins[@]}"; do
    out="$run-$b-$r-out" dlq="$run-$b-$r-dlq"
    topics+=("$out" "$dlq")
    for t in "$out" "$dlq"; do tool topics --bootstrap-server "$brokers" --create --topic "$t" --partitions 6 >/dev/null; done
    addr="127.0.0.1:$(free_port)"
    "$work/$b" run --kafka.brokers "$brokers" --input.topic "$run-in" --output.topic "$out" --dlq.topic "$dlq" \
      --input.group "$run-$b-$r" --model.bundle "$(bundle_of "$b")" --processor.delivery "$delivery" \
      --http.listen "$addr" "${extra[@]}" 2>"$work/$b-$r.log" &
    pid=$!
    first="" t0="" deadline=$(($(date +%s) + 600))
    while :; do
      n=$(consumed "$addr")
      if [[ -z "$first" && ${n:-0} -gt 0 ]]; then first=$(cpu_ticks $pid) bfirst=$(broker_ticks) t0=$(date +%s.%N) n0=$n; fi
      if [[ ${n:-0} -ge $events ]]; then break; fi
      if ! kill -0 $pid 2>/dev/null; then echo "$b exited early; log: $work/$b-$r.log" >&2; exit 1; fi
      if (($(date +%s) > deadline)); then echo "$b: gave up after 600 s at $n records" >&2; kill $pid; exit 1; fi
      sleep 0.1
    done
    last=$(cpu_ticks $pid) blast=$(broker_ticks) t1=$(date +%s.%N)
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    kill -TERM $pid
    wait $pid || true
    pid=""
    line=$(awk -v c=$((last - first)) -v bc=$((blast - bfirst)) -v hz="$ticks" -v n=$((events - n0)) -v w0="$t0" -v w1="$t1" -v m="$hwm" \
      'BEGIN {cpu = c / hz; printf "%.3f %.2f %.0f %d %.2f", cpu * 1e6 / n, cpu / (w1 - w0), n / (w1 - w0), m / 1024, bc / hz / (w1 - w0)}')
    results[$b]+="$line;"
    read -r us cores rate rss bcores <<<"$line"
    printf '%-14s round %d: %s us CPU/record, %s cores, %s records/s, peak RSS %s MB, broker %s cores\n' "$b" "$r" "$us" "$cores" "$rate" "$rss" "$(if [[ -n "$bpid" ]]; then echo "$bcores"; else echo n/a; fi)"
  done
done

median() { tr ';' '\n' | awk -v f="$1" 'NF {print $f}' | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo "== medians of $rounds rounds, $events events, $delivery, $(basename "$bundle") =="
for b in "${bins[@]}"; do
  printf '%-14s %s us CPU/record, %s cores, %s records/s, peak RSS %s MB, broker %s cores\n' "$b" \
    "$(median 1 <<<"${results[$b]}")" "$(median 2 <<<"${results[$b]}")" "$(median 3 <<<"${results[$b]}")" "$(median 4 <<<"${results[$b]}")" "$(median 5 <<<"${results[$b]}")"
done
if [[ -n "$base" ]]; then
  h=$(median 1 <<<"${results[head]}") o=$(median 1 <<<"${results[base-$rev]}")
  awk -v h="$h" -v o="$o" -v rev="$rev" 'BEGIN {printf "CPU per record: head / base %s = %.2fx\n", rev, h / o}'
fi
