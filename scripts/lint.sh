#!/usr/bin/env bash
# The static checks of `make test` (and `make lint`): go.mod tidy, gofmt, go vet and
# staticcheck, over the default build and the `faults` build tag, and the
# tracked shell scripts through shellcheck at warning level (a Debian
# package: scripts/install-deps.sh installs it).
#
#   bash scripts/lint.sh
#
# staticcheck is pinned here and installed with `go install` into the
# project's own .cache/bin (gitignored) when it is missing there or is
# another version; nothing is installed outside the repository. Exits
# non-zero on the first check that fails, after printing its findings.
set -euo pipefail

# 2026.2.2: the first release line built for Go 1.26 (go.mod says go 1.26).
STATICCHECK_VERSION=v0.8.2

log() { printf 'lint: %s\n' "$*" >&2; }

cd "$(dirname "$0")/.."
GO="${GO:-go}"
BIN_DIR="$PWD/.cache/bin"
STATICCHECK="$BIN_DIR/staticcheck"

# `staticcheck -version` prints "staticcheck 2026.2.2 (0.8.2)".
installed_version() {
	"$STATICCHECK" -version 2>/dev/null | sed -n 's/.*(\([^)]*\)).*/v\1/p'
}

if [[ ! -x "$STATICCHECK" || "$(installed_version)" != "$STATICCHECK_VERSION" ]]; then
	log "installing staticcheck $STATICCHECK_VERSION into $BIN_DIR"
	mkdir -p "$BIN_DIR"
	GOBIN="$BIN_DIR" "$GO" install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
log "ok: staticcheck $(installed_version) ($STATICCHECK)"

status=0
run() {
	log "$*"
	if ! "$@"; then
		log "FAILED: $*"
		status=1
	fi
}

run "$GO" mod tidy -diff
# gofmt -l lists the tracked Go files it would change; none may be listed.
gofmt_clean() {
	local unformatted
	unformatted="$(git ls-files -z '*.go' | xargs -0 gofmt -l)"
	[[ -z "$unformatted" ]] || { printf 'not gofmt-ed:\n%s\n' "$unformatted" >&2; return 1; }
}
run gofmt_clean
run "$GO" vet ./...
run "$GO" vet -tags faults ./test/faults/
run "$STATICCHECK" ./...
run "$STATICCHECK" -tags faults ./test/faults/
if command -v shellcheck >/dev/null 2>&1; then
	mapfile -t scripts < <(git ls-files '*.sh')
	run shellcheck -x --severity=warning "${scripts[@]}"
else
	log "FAILED: shellcheck not found (run scripts/install-deps.sh)"
	status=1
fi

if [[ $status -eq 0 ]]; then
	log "all checks passed"
fi
exit "$status"
