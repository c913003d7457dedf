#!/usr/bin/env bash
# Builds, once per version, the binaries of the e2e cluster harness from their Go modules:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd and helm.
#
#   e2e/cluster/build.sh              build what is missing, print the bin dir as the last line
#   e2e/cluster/build.sh helm kubectl build only the named binaries
#
# The cache is ${FLINT_CACHE_DIR:-$HOME/.cache/flint}/k8s-<kube>-etcd-<etcd>/bin. Each binary has a
# stamp file holding what it was built from (module versions, Go version, flags); a binary whose
# stamp matches is not rebuilt, so a warm run builds nothing. Progress goes to stderr, the bin dir
# to stdout, so `bin=$(e2e/cluster/build.sh)` works. Versions come from the wrapper modules'
# go.mod files (kube, etcd) and HELM_VERSION below: change them there. helm itself is built by
# scripts/ensure-helm.sh at HELM_VERSION.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HELM_VERSION=v3.22.0
KUBE_VERSION="$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" { print $3 }' "$here/build/kube/go.mod")"
ETCD_VERSION="$(awk '$1 == "require" && $2 == "go.etcd.io/etcd/server/v3" { print $3 }' "$here/build/etcd/go.mod")"
[[ -n $KUBE_VERSION && -n $ETCD_VERSION ]] || {
  echo "build.sh: cannot read the kube or etcd version from $here/build/*/go.mod" >&2
  exit 1
}

cache_dir="${FLINT_CACHE_DIR:-$HOME/.cache/flint}/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION"
bin_dir="$cache_dir/bin"
mkdir -p "$bin_dir"

all=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd helm)
wanted=("$@")
[[ ${#wanted[@]} -gt 0 ]] || wanted=("${all[@]}")
for name in "${wanted[@]}"; do
  [[ " ${all[*]} " == *" $name "* ]] || {
    echo "build.sh: unknown binary '$name' (known: ${all[*]})" >&2
    exit 2
  }
done

command -v go > /dev/null || {
  echo "build.sh: needs Go (https://go.dev/dl, or apt-get install golang) on PATH" >&2
  exit 1
}

# Another run (a second test suite, another engineer's chart tests) may build into the same cache
# at the same time; one at a time, the second then finds the binaries built.
exec 9> "$cache_dir/.lock"
if ! flock -n 9; then
  echo "build.sh: another build holds $cache_dir/.lock; waiting for it" >&2
  flock 9
fi

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
go_version="$(go env GOVERSION)"
# Version variables kube binaries report (kubectl version, /version); unset, they say v0.0.0-master.
minor="${KUBE_VERSION#v1.}"
minor="${minor%%.*}"
kube_x=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_x+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done

built=0
failed=()

# build NAME INDEX STAMP DIR COMMAND...: in DIR, run COMMAND (which writes $bin_dir/.NAME.tmp)
# unless NAME's stamp already matches.
build() {
  local name=$1 index=$2 stamp=$3 dir=$4
  shift 4
  local target="$bin_dir/$name" stamp_file="$bin_dir/.$name.stamp"
  if [[ -x $target && -f $stamp_file && "$(cat "$stamp_file")" == "$stamp" ]]; then
    echo "up to date: $name ($index/${#wanted[@]})" >&2
    return 0
  fi
  echo "building $name ($index/${#wanted[@]})... [${SECONDS}s elapsed]" >&2
  local t0=$SECONDS log="$cache_dir/build-$name.log"
  rm -f "$stamp_file"
  if (cd "$dir" && "$@") > "$log" 2>&1; then
    mv -f "$bin_dir/.$name.tmp" "$target"
    echo "$stamp" > "$stamp_file"
    built=$((built + 1))
    echo "built $name in $((SECONDS - t0))s [${SECONDS}s elapsed]" >&2
  else
    echo "FAILED $name after $((SECONDS - t0))s; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    failed+=("$name")
  fi
}

# helm is scripts/ensure-helm.sh's (the chart tests' build, with the version flags helm's Makefile
# sets); copied here so the bin dir holds every tool. One build serves both.
install_helm() {
  local helm
  helm="$(FLINT_HELM_VERSION="$HELM_VERSION" "$here/../../scripts/ensure-helm.sh" | tail -n 1)" \
    && cp -f "$helm" "$bin_dir/.helm.tmp"
}

index=0
for name in "${wanted[@]}"; do
  index=$((index + 1))
  # What the binary is built from: only its own module's version, so a helm bump rebuilds no kube.
  flags="$go_version $GOFLAGS cgo=$CGO_ENABLED"
  case $name in
    kube-apiserver | kube-controller-manager | kube-scheduler | kubectl)
      stamp="$name kube=$KUBE_VERSION $flags"
      build "$name" $index "$stamp" "$here/build/kube" \
        nice -n 10 go build -trimpath -ldflags="-s -w$kube_x" -o "$bin_dir/.$name.tmp" "k8s.io/kubernetes/cmd/$name"
      ;;
    etcd)
      stamp="etcd etcd=$ETCD_VERSION $flags"
      build etcd $index "$stamp" "$here/build/etcd" \
        nice -n 10 go build -trimpath -ldflags="-s -w" -o "$bin_dir/.etcd.tmp" .
      ;;
    helm)
      stamp="helm helm=$HELM_VERSION via scripts/ensure-helm.sh"
      build helm $index "$stamp" "$here" install_helm
      ;;
  esac
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "build.sh: failed to build: ${failed[*]} (logs in $cache_dir/build-*.log)" >&2
  exit 1
fi
if [[ $built -eq 0 ]]; then
  echo "build.sh: all ${#wanted[@]} binaries up to date in $bin_dir, nothing built" >&2
else
  echo "build.sh: built $built of ${#wanted[@]} in ${SECONDS}s" >&2
fi
echo "$bin_dir"
