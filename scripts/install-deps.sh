#!/usr/bin/env bash
# Install what a fresh Debian machine lacks for `make test`, and nothing else.
#
#   bash scripts/install-deps.sh
#
# Checks java (17+, for the Apache Kafka 4.x broker), mvn (fetches the broker
# jars), kcat (third-party client for interop tests), promtool (Debian
# package `prometheus`, for alert rule tests and scrape tests), the
# PostgreSQL server (package `postgresql`, for the sink tests; its initdb is
# in /usr/lib/postgresql/<v>/bin, not in PATH), openssl (the secured test
# broker's CA and certificates), umoci (builds the container image without a
# container engine), runc (runs it once) and shellcheck (scripts/lint.sh
# checks the shell scripts with it). Only missing
# tools are installed, with apt-get, non-interactively; a machine that has
# them all is left untouched (no apt-get update either). Runs as root or
# through sudo. Prints what it installed.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

log() { printf 'install-deps: %s\n' "$*" >&2; }

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo -n)
	else
		log "ERROR: not root and no sudo; install the packages listed below by hand"
	fi
fi

java_major() {
	java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit}'
}

# tool -> Debian package providing it
declare -A PKG=(
	[java]=openjdk-17-jre-headless
	[mvn]=maven
	[kcat]=kcat
	[promtool]=prometheus
	[initdb]=postgresql
	[openssl]=openssl
	[umoci]=umoci
	[runc]=runc
	[shellcheck]=shellcheck
)
TOOLS=(java mvn kcat promtool initdb openssl umoci runc shellcheck)

# have TOOL: the tool is installed (initdb: Debian keeps it out of PATH).
have() {
	if [[ "$1" == initdb ]]; then
		compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
	else
		command -v "$1" >/dev/null 2>&1
	fi
}

missing=()
for tool in "${TOOLS[@]}"; do
	if have "$tool"; then
		if [[ "$tool" == java ]]; then
			major="$(java_major)"
			if [[ ! "$major" =~ ^[0-9]+$ || "$major" -lt 17 ]]; then
				log "java is version '${major:-?}', Kafka 4.x needs 17+"
				missing+=("${PKG[$tool]}")
				continue
			fi
		fi
		log "ok: $tool ($(command -v "$tool" || compgen -G "/usr/lib/postgresql/*/bin/$tool" | tail -n 1))"
	else
		log "missing: $tool (Debian package ${PKG[$tool]})"
		missing+=("${PKG[$tool]}")
	fi
done
# LightGBM's wheel (train/requirements.txt) links the system OpenMP runtime
if ldconfig -p 2>/dev/null | grep -q 'libgomp\.so\.1'; then
	log "ok: libgomp.so.1"
else
	log "missing: libgomp.so.1 (Debian package libgomp1, for LightGBM)"
	missing+=(libgomp1)
fi

if [[ ${#missing[@]} -eq 0 ]]; then
	log "nothing to install"
	exit 0
fi

if [[ "$(id -u)" -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
	log "ERROR: missing packages: ${missing[*]}"
	exit 1
fi

log "installing: ${missing[*]}"
"${SUDO[@]}" apt-get update -q </dev/null >&2
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >&2

# The prometheus package starts a server through the init system where there
# is one; tests start their own Prometheus on 127.0.0.1, so stop the packaged
# service if it came up (no-op in containers without an init system).
if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
	"${SUDO[@]}" systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
fi
# Same for the postgresql package's default cluster: the tests run their own
# (deploy/postgres/pg-up.sh).
if [[ " ${missing[*]} " == *" postgresql "* ]] && command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
	"${SUDO[@]}" systemctl disable --now postgresql >/dev/null 2>&1 || true
fi

status=0
for tool in "${TOOLS[@]}"; do
	if ! have "$tool"; then
		log "ERROR: $tool still missing after install"
		status=1
	fi
done
for pkg in "${missing[@]}"; do
	ver="$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || echo '?')"
	echo "installed: $pkg $ver"
done
exit "$status"
