#!/usr/bin/env bash
# The static checks of `make test` (and `make lint`): go.mod tidy, gofmt,
# goimports' grouping (standard library, other modules, this module), go vet
# and staticcheck, over the default build and the `faults` build tag, and the
# tracked shell scripts through shellcheck at warning level (a Debian
# package: scripts/install-deps.sh installs it).
#
#   bash scripts/lint.sh
#
# staticcheck and goimports are pinned here and installed with `go install`
# into the project's own .cache/bin (gitignored) when missing there or of
# another version (what `go version -m` says the binary was built from);
# nothing is installed outside the repository. Exits non-zero after printing
# the findings of every check that fails.
set -euo pipefail

# 2026.2.2: the first release line built for Go 1.26 (go.mod says go 1.26).
STATICCHECK_VERSION=v0.8.2
GOIMPORTS_VERSION=v0.52.0 # golang.org/x/tools
LOCAL_MODULE=github.com/streamscore/streamscore

log() { printf 'lint: %s\n' "$*" >&2; }

cd "$(dirname "$0")/.."
GO="${GO:-go}"
BIN_DIR="$PWD/.cache/bin"
STATICCHECK="$BIN_DIR/staticcheck"
GOIMPORTS="$BIN_DIR/goimports"

# tool BINARY PACKAGE MODULE VERSION: install PACKAGE@VERSION into BIN_DIR
# unless BINARY is already built from MODULE at VERSION.
tool() {
	local bin=$1 pkg=$2 mod=$3 version=$4 have
	have="$("$GO" version -m "$bin" 2>/dev/null | awk -v m="$mod" '$1 == "mod" && $2 == m { print $3 }' || true)"
	if [[ "$have" != "$version" ]]; then
		log "installing $pkg@$version into $BIN_DIR"
		mkdir -p "$BIN_DIR"
		GOBIN="$BIN_DIR" "$GO" install "$pkg@$version"
	fi
	log "ok: $pkg $version ($bin)"
}
tool "$STATICCHECK" honnef.co/go/tools/cmd/staticcheck honnef.co/go/tools "$STATICCHECK_VERSION"
tool "$GOIMPORTS" golang.org/x/tools/cmd/goimports golang.org/x/tools "$GOIMPORTS_VERSION"

status=0
run() {
	log "$*"
	if ! "$@"; then
		log "FAILED: $*"
		status=1
	fi
}

run "$GO" mod tidy -diff
# gofmt -l and goimports -l list the tracked Go files they would change;
# none may be listed.
unchanged_by() {
	local listed
	listed="$(git ls-files -z '*.go' | xargs -0 "$@" -l)"
	[[ -z "$listed" ]] || { printf '%s would change:\n%s\n' "$1" "$listed" >&2; return 1; }
}
run unchanged_by gofmt
run unchanged_by "$GOIMPORTS" -local "$LOCAL_MODULE"
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
