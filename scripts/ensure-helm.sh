#!/usr/bin/env bash
# Builds helm from its Go module once and caches it; prints the binary's path as the last line.
# Used by the chart tests (charts/chart.test.ts) and CI: no prebuilt download, only the Go module proxy.
#
#   scripts/ensure-helm.sh             build helm unless it is built; print its path
#   scripts/ensure-helm.sh --no-build  print its path if it is built, else say how to build it and exit 3
#
#   FLINT_CACHE_DIR     cache root (default ~/.cache/flint); helm lands in helm-<version>/bin/helm
#   FLINT_HELM_VERSION  override the pinned release (a helm.sh/helm/v3 module version)
set -euo pipefail

version="${FLINT_HELM_VERSION:-v3.22.0}"
cache="${FLINT_CACHE_DIR:-${HOME:-/root}/.cache/flint}/helm-${version}"
helm="${cache}/bin/helm"

if [ -x "${helm}" ]; then
  echo "${helm}"
  exit 0
fi
if [ "${1:-}" = "--no-build" ]; then
  echo "ensure-helm: helm ${version} is not built yet (${helm}); run scripts/ensure-helm.sh first (a cold build takes minutes)" >&2
  exit 3
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
# The -X flags are what helm's own Makefile sets: the full version `helm version` reports, and the
# Kubernetes version `helm template` and `helm lint` assume (that of the client-go helm is built
# with; a plain go install says v1.20, which fails any chart with a newer kubeVersion).
gomod="$(go mod download -json "helm.sh/helm/v3@${version}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
kube_minor="$(awk '$1 == "k8s.io/client-go" { split($2, v, "."); print v[2] }' "${gomod}")"
if [ -z "${kube_minor}" ]; then
  echo "ensure-helm: cannot read the client-go version from helm's go.mod (${gomod})" >&2
  exit 1
fi
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${version}"
for pkg in pkg/chartutil pkg/lint/rules; do
  ldflags+=" -X helm.sh/helm/v3/${pkg}.k8sVersionMajor=1 -X helm.sh/helm/v3/${pkg}.k8sVersionMinor=${kube_minor}"
done
GOBIN="${tmp}" GOFLAGS="${GOFLAGS:-} -trimpath" CGO_ENABLED=0 \
  nice -n 10 go install -ldflags "${ldflags}" "helm.sh/helm/v3/cmd/helm@${version}" >&2
mkdir -p "${cache}/bin"
mv "${tmp}/helm" "${helm}"
echo "ensure-helm: built helm ${version} in $(( $(date +%s) - started ))s" >&2
echo "${helm}"
