#!/usr/bin/env bash
# Regenerate the vendored schemas in this folder (not run by tests; the tests
# read the committed files, so they need no network). Needs python3 with PyYAML,
# pip and go. See SOURCES.md for what comes from where.
set -euo pipefail

K8S_VALIDATE_VERSION=1.37.0   # PyPI kubernetes-validate: schemas for Kubernetes 1.25 .. 1.37
K8S_VERSION=v1.34.0           # the Kubernetes API the manifests are checked against
KEDA_VERSION=v2.21.0          # Go module github.com/kedacore/keda/v2 (its CRDs)
PROM_OPERATOR_VERSION=v0.85.0 # Go module github.com/prometheus-operator/prometheus-operator (its CRDs)

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

pip download --quiet --no-deps --dest "$work" "kubernetes-validate==${K8S_VALIDATE_VERSION}"
python3 -m zipfile -e "$work"/kubernetes_validate-"${K8S_VALIDATE_VERSION}"-py3-none-any.whl "$work/kv"
module_dir() {
	(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
}
keda_dir="$(module_dir "github.com/kedacore/keda/v2@${KEDA_VERSION}")"
prom_dir="$(module_dir "github.com/prometheus-operator/prometheus-operator@${PROM_OPERATOR_VERSION}")"

rm -rf "$here/${K8S_VERSION}-standalone-strict" "$here/crds"
python3 "$here/generate.py" \
	--k8s-dir "$work/kv/kubernetes_validate/kubernetes-json-schema/${K8S_VERSION}-local-strict" \
	--k8s-version "$K8S_VERSION" \
	--crd "$keda_dir/config/crd/bases/keda.sh_scaledobjects.yaml" \
	--crd "$keda_dir/config/crd/bases/keda.sh_triggerauthentications.yaml" \
	--crd "$prom_dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
	--out "$here"
