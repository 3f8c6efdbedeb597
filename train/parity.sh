#!/usr/bin/env bash
# Regenerate the example bundles and check Go scoring against them.
#
#   train/parity.sh        (what `make parity` runs)
#
# 1. ensure the pinned Python venv (train/venv.sh; $STREAMSCORE_DEV_VENV to move it)
# 2. pytest train/tests: the exporter's own tests
# 3. python train/make_examples.py: retrain (seeded) and rewrite examples/*/
# 4. python train/drift_golden.py: numpy's PSI of fixed windows of the fraud reference
#    events against its (regenerated) drift statistics, drift/testdata/psi_golden.json
# 5. go test ./predict/ -run Parity and ./drift/: every reference event, as bytes through the
#    stream's decoder, features, model and encoder, must give the reference outputs, and the
#    service's drift counts and PSI must equal numpy's
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

venv="$("$here/venv.sh" | tail -n 1)"
echo "parity: venv $venv" >&2

echo "parity: pytest train/tests (the exporter's own tests)" >&2
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$here/tests" >&2

echo "parity: python train/make_examples.py" >&2
"$venv/bin/python" "$here/make_examples.py"

if command -v git >/dev/null 2>&1 && git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  changed="$(git -C "$root" status --porcelain -- examples | wc -l)"
  if [[ "$changed" -gt 0 ]]; then
    echo "parity: note: $changed path(s) under examples/ differ from git (regenerated output changed)" >&2
  fi
fi

echo "parity: python train/drift_golden.py" >&2
"$venv/bin/python" "$here/drift_golden.py" >/dev/null

echo "parity: go test ./predict/ -run Parity -count=1; go test ./drift/ -count=1" >&2
go test ./predict/ -run Parity -count=1
exec go test ./drift/ -count=1
