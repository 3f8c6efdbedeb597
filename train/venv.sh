#!/usr/bin/env bash
# Create (or reuse) the Python venv for train/ and install train/requirements.txt.
#
#   train/venv.sh            # venv at <repo>/.venv
#   STREAMSCORE_DEV_VENV=/x train/venv.sh
#
# Idempotent and fast when already done: a stamp file inside the venv holds the
# sha256 of requirements.txt plus the interpreter version; when it matches,
# nothing is installed. Prints the venv path on stdout (last line).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="${STREAMSCORE_DEV_VENV:-$root/.venv}"
req="$here/requirements.txt"
python="${STREAMSCORE_DEV_PYTHON:-}"

if [[ -z "$python" ]]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1; then python="$(command -v "$c")"; break; fi
  done
fi
if [[ -z "$python" ]]; then
  echo "venv.sh: no python3 found (set STREAMSCORE_DEV_PYTHON)" >&2
  exit 1
fi

pyver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
case "$pyver" in
  3.1[1-9]) ;;
  *) echo "venv.sh: need Python >= 3.11, $python is $pyver" >&2; exit 1 ;;
esac

want="$(sha256sum "$req" | cut -d' ' -f1) python$pyver"
stamp="$venv/.streamscore-requirements"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "$venv"
  exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
  echo "venv.sh: creating $venv with $python ($pyver)" >&2
  "$python" -m venv "$venv"
fi
venvver="$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ "$venvver" != "$pyver" ]]; then
  echo "venv.sh: $venv has Python $venvver, want $pyver: recreating" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi

echo "venv.sh: installing $req" >&2
rm -f "$stamp"
"$venv/bin/python" -m pip install --disable-pip-version-check -q --only-binary=:all: -r "$req" >&2
printf '%s\n' "$want" >"$stamp"
echo "$venv"
