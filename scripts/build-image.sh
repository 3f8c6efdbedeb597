#!/usr/bin/env bash
# Build the streamscore container image without a container engine: the
# image deploy/Dockerfile describes (a static binary on an empty base, CA
# certificates, a non-root user, the example bundles, the licences), put
# together by umoci (Debian package umoci) as an OCI image layout.
#
#   bash scripts/build-image.sh [OUT]     # default OUT: .cache/image
#
# Writes OUT/oci (an OCI image layout, tag streamscore:<version>) and
# OUT/streamscore.oci.tar (that layout as an OCI archive, which
# `skopeo copy oci-archive:OUT/streamscore.oci.tar docker://...`, `podman load`
# and `docker load` take). Prints the tag. VERSION and COMMIT default to
# `git describe` and the HEAD commit, as the Makefile's build.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mkdir -p "${1:-$repo/.cache/image}" && cd "${1:-$repo/.cache/image}" && pwd)"
cd "$repo"
command -v umoci >/dev/null || { echo "build-image.sh: umoci not found (run scripts/install-deps.sh)" >&2; exit 1; }
[[ -f /etc/ssl/certs/ca-certificates.crt ]] || { echo "build-image.sh: no /etc/ssl/certs/ca-certificates.crt (Debian package ca-certificates)" >&2; exit 1; }
VERSION="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
COMMIT="${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
tag="${VERSION//[^A-Za-z0-9._-]/_}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/tmp" "$rootfs/licenses"
# The same build as `make build`, stripped: static (no cgo), paths trimmed.
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath \
	-ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT" -o "$rootfs/streamscore" ./cmd/streamscore
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' >"$rootfs/etc/passwd"
echo 'nonroot:x:65532:' >"$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"
cp -r examples "$rootfs/examples"
cp LICENSE THIRD_PARTY_LICENSES "$rootfs/licenses/"
chmod -R a+rX "$rootfs"

rootless=()
[[ "$(id -u)" -eq 0 ]] || rootless=(--rootless)
layout="$out/oci"
rm -rf "$layout"
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci insert "${rootless[@]}" --image "$layout:$tag" --history.created_by "scripts/build-image.sh" "$rootfs" /
# As deploy/Dockerfile: USER, ENV, EXPOSE, ENTRYPOINT, CMD.
umoci config --image "$layout:$tag" --os linux --architecture amd64 \
	--config.user 65532:65532 --config.entrypoint /streamscore --config.cmd run \
	--config.env STREAMSCORE_HTTP_LISTEN=0.0.0.0:9464 --config.exposedports 9464/tcp \
	--config.label "org.opencontainers.image.title=streamscore" \
	--config.label "org.opencontainers.image.version=$VERSION" \
	--config.label "org.opencontainers.image.revision=$COMMIT" \
	--config.label "org.opencontainers.image.licenses=Apache-2.0"
umoci gc --layout "$layout"
tar -C "$layout" -cf "$out/streamscore.oci.tar" .
echo "build-image.sh: image $layout:$tag, archive $out/streamscore.oci.tar ($(du -h "$out/streamscore.oci.tar" | cut -f1))" >&2
echo "streamscore:$tag"
