#!/usr/bin/env bash
# Retrain the example bundles and check Go scoring against the training libraries.
#
#   train/parity.sh        (what `make parity` runs)
#
# 1. ensure the pinned Python venv (train/venv.sh; $STREAMSCORE_DEV_VENV to move it)
# 2. pytest train/tests: the exporter's own tests
# 3. python train/make_examples.py --out .cache/parity/examples: retrain (seeded) beside the
#    committed examples/ (which it leaves as they are), and name the ones that differ
# 4. python train/drift_golden.py: numpy's PSI of fixed windows of the committed fraud
#    example's reference events against its drift statistics, drift/testdata/psi_golden.json
# 5. go test ./predict/ -run Parity on the retrained examples, and ./drift/: every reference
#    event, as bytes through the stream's decoder, features, model and encoder, must give the
#    training library's outputs, and the service's drift counts and PSI must equal numpy's
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

venv="$("$here/venv.sh" | tail -n 1)"
echo "parity: venv $venv" >&2

echo "parity: pytest train/tests (the exporter's own tests)" >&2
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$here/tests" >&2

# Retrained into the cache, not over examples/: the last digits of a float
# can differ across CPUs and BLAS builds, and a test run must not rewrite
# the committed examples (the integration layer checks those as they are).
out="$root/.cache/parity/examples"
rm -rf "$out"
mkdir -p "$out"
echo "parity: python train/make_examples.py --out $out" >&2
"$venv/bin/python" "$here/make_examples.py" --out "$out"

differ=()
for d in "$out"/*/; do
  name="$(basename "$d")"
  diff -rq "$d" "$root/examples/$name" >/dev/null 2>&1 || differ+=("$name")
done
if [[ ${#differ[@]} -gt 0 ]]; then
  echo "parity: note: retrained ${differ[*]} differ from the committed examples/ (float digits vary across machines; both are checked)" >&2
fi

echo "parity: python train/drift_golden.py" >&2
"$venv/bin/python" "$here/drift_golden.py" >/dev/null

echo "parity: go test ./predict/ -run Parity -count=1 (retrained examples); go test ./drift/ -count=1" >&2
STREAMSCORE_PARITY_EXAMPLES="$out" go test ./predict/ -run Parity -count=1
exec go test ./drift/ -count=1
