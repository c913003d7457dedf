#!/usr/bin/env bash
# Builds helm from its Go module once and caches it; prints the binary's path as the last line.
# Used by the chart tests (charts/chart.test.ts) and CI: no prebuilt download, only the Go module proxy.
#
#   FLINT_CACHE_DIR   cache root (default ~/.cache/flint); helm lands in helm-<version>/bin/helm
#   FLINT_HELM_VERSION  override the pinned release (a helm.sh/helm/v3 module version)
set -euo pipefail

version="${FLINT_HELM_VERSION:-v3.21.4}"
cache="${FLINT_CACHE_DIR:-${HOME:-/root}/.cache/flint}/helm-${version}"
helm="${cache}/bin/helm"

if [ -x "${helm}" ]; then
  echo "${helm}"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "ensure-helm: go is not on PATH; helm is built from its Go module (go install helm.sh/helm/v3/cmd/helm@${version})" >&2
  exit 1
fi

echo "ensure-helm: building helm ${version} from its Go module into ${cache}/bin (a cold build takes minutes)" >&2
mkdir -p "${cache}"
started=$(date +%s)
# Build into a temporary folder and move the binary into place, so an interrupted build never leaves
# a half-written helm that the check above would take as done.
tmp="$(mktemp -d "${cache}/build.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT
# -X sets the full version `helm version` reports (a plain go install says only "v3.21").
GOBIN="${tmp}" GOFLAGS="${GOFLAGS:-} -trimpath" CGO_ENABLED=0 \
  nice -n 10 go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${version}" \
  "helm.sh/helm/v3/cmd/helm@${version}" >&2
mkdir -p "${cache}/bin"
mv "${tmp}/helm" "${helm}"
echo "ensure-helm: built helm ${version} in $(( $(date +%s) - started ))s" >&2
echo "${helm}"
