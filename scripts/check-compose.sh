#!/usr/bin/env bash
# Validate a Compose file (default: docker-compose.yml at the repository root)
# without a Docker engine.
#
#   scripts/check-compose.sh [compose-file]
#
# Which check runs:
#   1. `docker compose config --quiet`, when the Docker Compose plugin is
#      installed: Compose's own loader (interpolation, schema, normalisation),
#      exactly what `docker compose up` would read. It needs no engine.
#   2. Otherwise a schema check in Python: the file is interpolated the way
#      Compose does it (${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err},
#      ${VAR:+alt}, $$), then validated against the Compose Specification JSON
#      schema that Docker Compose itself uses (vendored in
#      deploy/testdata/compose/compose-spec.json, source in
#      deploy/testdata/SOURCES.md); then what Compose's loader checks after
#      the schema: durations parse (healthcheck, stop_grace_period),
#      depends_on and volumes_from name defined services, build contexts,
#      Dockerfiles and bind-mount sources exist.
#      Needs python3 with jsonschema and PyYAML; when they are missing, a
#      venv with pinned versions is made under ${XDG_CACHE_HOME:-~/.cache}.
#
# The last line printed names the check that ran:
#   check-compose: ok (docker compose config) <file>
#   check-compose: ok (schema check, compose-spec from compose-go v2.16.2) <file>
# Exit status 0 when valid, 1 when not, 2 on a usage or setup error.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
file="${1:-$root/docker-compose.yml}"
schema="$root/deploy/testdata/compose/compose-spec.json"
JSONSCHEMA_VERSION=4.26.0
PYYAML_VERSION=6.0.3

log() { printf 'check-compose: %s\n' "$*" >&2; }

if [[ ! -f "$file" ]]; then
	log "no such file: $file"
	exit 2
fi

if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
	if docker compose -f "$file" config --quiet; then
		echo "check-compose: ok (docker compose config) $file"
		exit 0
	fi
	echo "check-compose: INVALID (docker compose config) $file"
	exit 1
fi
log "the Docker Compose plugin is not installed; falling back to the schema check"

if ! command -v python3 >/dev/null 2>&1; then
	log "python3 is needed for the schema check"
	exit 2
fi

# The checker exits 3 when jsonschema or PyYAML cannot be imported; then it
# runs again from a venv with pinned versions.
checker="$(mktemp)"
trap 'rm -f "$checker"' EXIT
cat > "$checker" <<'PY'
import os
import re
import sys

try:
    import jsonschema
    import yaml
except ImportError:
    sys.exit(3)

path, schema_path = sys.argv[1], sys.argv[2]
base = os.path.dirname(os.path.abspath(path))
problems = []

# --- interpolation, as the Compose specification defines it ----------------
VAR = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}|([A-Za-z_][A-Za-z0-9_]*)|(\{[^}]*\}?))")


def interpolate(s, where):
    def sub(m):
        escaped, name, op, arg, bare, bad = m.groups()
        if escaped:
            return "$"
        if bad is not None:
            problems.append(f"{where}: invalid interpolation format {m.group(0)!r}")
            return m.group(0)
        name = name or bare
        val = os.environ.get(name)
        if op is None:
            return val or ""
        arg = interpolate(arg or "", where)
        unset_or_empty = val is None or (op.startswith(":") and val == "")
        if op.endswith("-"):
            return arg if unset_or_empty else val
        if op.endswith("?"):
            if unset_or_empty:
                problems.append(f"{where}: required variable {name} is missing: {arg}")
                return ""
            return val
        if op.endswith("+"):
            return "" if unset_or_empty else arg
        return val or ""

    return VAR.sub(sub, s)


def walk(node, where):
    if isinstance(node, dict):
        return {k: walk(v, f"{where}.{k}") for k, v in node.items()}
    if isinstance(node, list):
        return [walk(v, f"{where}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, str):
        return interpolate(node, where)
    return node


with open(path) as f:
    raw = yaml.safe_load(f)
if not isinstance(raw, dict):
    print(f"check-compose: INVALID (schema check) {path}: top level is not a mapping")
    sys.exit(1)
doc = walk(raw, "")

# --- the Compose Specification schema ---------------------------------------
GO_DURATION = re.compile(r"^[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)$")
formats = jsonschema.FormatChecker(formats=())


@formats.checks("duration")
def is_duration(value):
    return not isinstance(value, str) or bool(GO_DURATION.match(value))


with open(schema_path) as f:
    schema = yaml.safe_load(f)
validator = jsonschema.Draft202012Validator(schema, format_checker=formats)
for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
    loc = "/".join(map(str, err.absolute_path)) or "(top level)"
    problems.append(f"{loc}: {err.message}")

# --- what the loader checks beyond the schema --------------------------------
services = doc.get("services") or {}
if not services:
    problems.append("services: none defined")
named_volumes = set((doc.get("volumes") or {}).keys())
for name, svc in services.items():
    svc = svc or {}
    deps = svc.get("depends_on") or []
    for dep in deps if isinstance(deps, list) else deps.keys():
        if dep not in services:
            problems.append(f"services.{name}.depends_on: undefined service {dep!r}")
    for vf in svc.get("volumes_from") or []:
        ref = vf.split(":")[0]
        if not ref.startswith("container") and ref not in services:
            problems.append(f"services.{name}.volumes_from: undefined service {ref!r}")
    durations = {"stop_grace_period": svc.get("stop_grace_period")}
    for k in ("interval", "timeout", "start_period", "start_interval"):
        durations["healthcheck." + k] = (svc.get("healthcheck") or {}).get(k)
    for k, v in durations.items():
        if v is not None and not (isinstance(v, str) and GO_DURATION.match(v)):
            problems.append(f"services.{name}.{k}: not a duration: {v!r}")
    build = svc.get("build")
    if build is not None:
        if isinstance(build, str):
            build = {"context": build}
        ctx = os.path.join(base, build.get("context", "."))
        if not os.path.isdir(ctx):
            problems.append(f"services.{name}.build.context: no directory {ctx}")
        dockerfile = build.get("dockerfile", "Dockerfile")
        if not os.path.isfile(os.path.join(ctx, dockerfile)):
            problems.append(f"services.{name}.build.dockerfile: no file {dockerfile} in {ctx}")
    elif not svc.get("image"):
        problems.append(f"services.{name}: neither image nor build")
    for v in svc.get("volumes") or []:
        if isinstance(v, str):
            src = v.split(":")[0] if ":" in v else None
        else:
            src = v.get("source") if v.get("type", "volume") in ("bind", "volume") else None
        if not src:
            continue
        if src.startswith((".", "/", "~")):
            full = os.path.join(base, os.path.expanduser(src))
            if not os.path.exists(full):
                problems.append(f"services.{name}.volumes: bind-mount source {src} does not exist")
        elif src not in named_volumes:
            problems.append(f"services.{name}.volumes: undefined volume {src!r}")

if problems:
    for p in problems:
        print(f"check-compose: {p}", file=sys.stderr)
    print(f"check-compose: INVALID (schema check) {path}: {len(problems)} problem(s)")
    sys.exit(1)
print(f"check-compose: ok (schema check, compose-spec from compose-go v2.16.2) {path}")
PY

status=0
python3 "$checker" "$file" "$schema" || status=$?
if [[ $status -eq 3 ]]; then
	venv="${XDG_CACHE_HOME:-$HOME/.cache}/streamscore/check-compose-venv"
	if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import jsonschema, yaml' >/dev/null 2>&1; then
		log "installing jsonschema==$JSONSCHEMA_VERSION PyYAML==$PYYAML_VERSION into $venv"
		python3 -m venv "$venv" >&2
		"$venv/bin/pip" install --quiet "jsonschema==$JSONSCHEMA_VERSION" "PyYAML==$PYYAML_VERSION" >&2
	fi
	status=0
	"$venv/bin/python" "$checker" "$file" "$schema" || status=$?
fi
exit "$status"
