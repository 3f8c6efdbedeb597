#!/usr/bin/env bash
# bench-cost.sh: the cost table of docs/BENCHMARKS.md: for every example
# bundle and delivery mode, the service's process CPU time per prediction
# (scripts/bench-service.sh, real broker), predictions per core-second, and
# the cores implied for 1 billion predictions a day and for 100k/s.
#
#   bash scripts/bench-cost.sh [--events N] [--rounds R] [example ...]
#
# Defaults: 500000 events, 2 rounds, every directory of examples/ with a
# bundle.json. Prints a Markdown table on stdout (progress on stderr).
set -euo pipefail
cd "$(dirname "$0")/.."
events=500000 rounds=2 examples=()
while [[ $# -gt 0 ]]; do
  case "$1" in
  --events) events=$2; shift 2 ;;
  --rounds) rounds=$2; shift 2 ;;
  -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) examples+=("$1"); shift ;;
  esac
done
if [[ ${#examples[@]} -eq 0 ]]; then
  for d in examples/*/bundle.json; do examples+=("$(basename "$(dirname "$d")")"); done
fi
echo "| example | model | delivery | CPU us / prediction | predictions / core-second | cores for 1e9 / day | cores for 100k/s |"
echo "|---|---|---|---:|---:|---:|---:|"
for ex in "${examples[@]}"; do
  kind=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["model"]["kind"])' "examples/$ex/bundle.json")
  for mode in at-least-once exactly-once; do
    echo "bench-cost: $ex $mode" >&2
    us=$(bash scripts/bench-service.sh --bundle "examples/$ex" --events "$events" --rounds "$rounds" --delivery "$mode" |
      awk '/^head / {v = $2} END {print v}')  # the last head line holds the medians
    awk -v ex="$ex" -v k="$kind" -v m="$mode" -v us="$us" 'BEGIN {
      printf "| %s | %s | %s | %.2f | %.0f | %.2f | %.2f |\n", ex, k, m, us, 1e6 / us, 1e9 / 86400 * us / 1e6, 1e5 * us / 1e6 }'
  done
done
