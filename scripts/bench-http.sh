#!/usr/bin/env bash
# HTTP door benchmark (docs/BENCHMARKS.md, "HTTP door"): `streamscore serve`
# against the tutorial's stack, FastAPI + uvicorn serving the same sklearn
# iris model (train/bench/iris_app.py), one prediction per request, same
# machine, same run, same load generators:
#
#   1. throughput at saturation: wrk (Debian) with a Lua script that POSTs the
#      event, closed loop, $CONNS connections, $DUR;
#   2. latency at a fixed rate: scripts/httpload (open loop, wrk2-style: the
#      latency of a request counts from its due time; exact percentiles), at
#      $LOW_RATE req/s for both servers and at $RATE req/s for streamscore.
#
#   bash scripts/bench-http.sh                 # DUR=10s CONNS=64 RATE=5000 LOW_RATE=500
#   DUR=30s RATE=5000 bash scripts/bench-http.sh
#
# Installs wrk with apt-get when missing, makes .cache/bench-venv from
# train/requirements-bench.txt (once), builds bin/streamscore and the load
# generator. Everything listens on 127.0.0.1; every run is bounded by $DUR.
# Prints the figures with the commit and the load average before and after.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
DUR="${DUR:-10s}"
CONNS="${CONNS:-64}"
RATE="${RATE:-5000}"
LOW_RATE="${LOW_RATE:-500}"
UVICORN_WORKERS="${UVICORN_WORKERS:-1}"
cache="$root/.cache"
mkdir -p "$cache"

if ! command -v wrk >/dev/null; then
  echo "bench-http: installing wrk (Debian)" >&2
  apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >&2
fi

venv="$cache/bench-venv"
req="$root/train/requirements-bench.txt"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || "$(cat "$venv/.stamp" 2>/dev/null)" != "$want" ]]; then
  echo "bench-http: making $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --disable-pip-version-check -q --only-binary=:all: -r "$req" >&2
  echo "$want" >"$venv/.stamp"
fi

go build -o bin/streamscore ./cmd/streamscore
go build -o "$cache/httpload" ./scripts/httpload

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ss_port="$(free_port)"
py_port="$(free_port)"
event='{"sepal_length":6.6,"sepal_width":3.0,"petal_length":4.4,"petal_width":1.4}'
body="$cache/bench-iris-event.json"
printf '%s' "$event" >"$body"
lua="$cache/bench-post.lua"
cat >"$lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$event'
EOF

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

bin/streamscore serve --model.bundle examples/iris --http.listen "127.0.0.1:$ss_port" \
  --http.max_concurrent 1024 --log.format json --log.level warn 2>"$cache/bench-serve.log" &
pids+=($!)
"$venv/bin/uvicorn" --app-dir train/bench iris_app:app --host 127.0.0.1 --port "$py_port" \
  --workers "$UVICORN_WORKERS" --log-level warning 2>"$cache/bench-uvicorn.log" &
pids+=($!)

wait_up() { # url
  for _ in $(seq 1 300); do
    if curl -sf -o /dev/null -H 'Content-Type: application/json' -d "$event" "$1"; then return 0; fi
    sleep 0.1
  done
  echo "bench-http: $1 did not come up" >&2
  return 1
}
ss_url="http://127.0.0.1:$ss_port/v1/predict"
py_url="http://127.0.0.1:$py_port/predict"
wait_up "$ss_url"
wait_up "$py_url"

# Same model: the answers agree.
ss_ans="$(curl -s -H 'Content-Type: application/json' -d "$event" "$ss_url")"
py_ans="$(curl -s -H 'Content-Type: application/json' -d "$event" "$py_url")"
python3 - "$ss_ans" "$py_ans" <<'EOF'
import json, sys
ss, py = json.loads(sys.argv[1]), json.loads(sys.argv[2])
got = {p["class"]: p["probability"] for p in ss["probabilities"]}
assert ss["label"] == py["prediction"], (ss, py)
assert all(abs(got[c] - p) < 1e-9 for c, p in py["probabilities"].items()), (got, py)
print("bench-http: both servers answer %s %s" % (ss["label"], got), file=sys.stderr)
EOF

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty'), $(nproc) cores, load average before: $(load)"
echo "wrk -t2 -c$CONNS -d$DUR --latency -s post.lua; httpload -conns $CONNS -duration $DUR (1s warm-up)"

wrk_run() { # name url
  local out rps p50 p99
  out="$(wrk -t2 -c"$CONNS" -d"$DUR" --latency -s "$lua" "$2")"
  rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
  p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
  non2xx="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
  printf 'saturation  %-22s %10s req/s  p50 %8s  p99 %8s  non-2xx %s  (load %s)\n' "$1" "$rps" "$p50" "$p99" "${non2xx:-0}" "$(load)"
  echo "$rps" >"$cache/bench-$1.rps"
}
fixed_run() { # name url rate
  local out
  out="$("$cache/httpload" -url "$2" -body "$body" -rate "$3" -duration "$DUR" -conns "$CONNS")"
  printf 'fixed rate  %-22s %s  (load %s)\n' "$1" "$out" "$(load)"
}

wrk_run streamscore "$ss_url"
wrk_run "fastapi-uvicorn-w$UVICORN_WORKERS" "$py_url"
fixed_run streamscore "$ss_url" "$LOW_RATE"
fixed_run "fastapi-uvicorn-w$UVICORN_WORKERS" "$py_url" "$LOW_RATE"
fixed_run streamscore "$ss_url" "$RATE"
python3 -c "import sys; a,b=float(open(sys.argv[1]).read()),float(open(sys.argv[2]).read()); print('throughput ratio streamscore / fastapi: %.1fx' % (a/b))" \
  "$cache/bench-streamscore.rps" "$cache/bench-fastapi-uvicorn-w$UVICORN_WORKERS.rps"
echo "load average after: $(load)"
