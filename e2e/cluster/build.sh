#!/usr/bin/env bash
# Builds, once per version, the binaries of the e2e cluster harness from their Go modules:
#   control plane  kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, helm
#   real node      kubelet, kube-proxy (k8s.io/kubernetes); containerd, containerd-shim-runc-v2, ctr
#                  (containerd/v2); runc (with seccomp: CGO and libseccomp-dev); coredns; and the
#                  CNI plugins bridge, host-local, loopback, portmap in <bin dir>/cni (containerd's
#                  CNI bin_dir)
#
#   e2e/cluster/build.sh              build what is missing, print the bin dir as the last line
#   e2e/cluster/build.sh helm kubectl build only the named binaries (a CNI plugin as cni/bridge or
#                                     bridge; cni alone names the four plugins)
#
# The cache is ${FLINT_CACHE_DIR:-$HOME/.cache/flint}/k8s-<kube>-etcd-<etcd>/bin. Each binary has a
# stamp file holding what it was built from (module versions, Go version, flags); a binary whose
# stamp matches is not rebuilt, so a warm run builds nothing. Progress goes to stderr, the bin dir
# to stdout, so `bin=$(e2e/cluster/build.sh)` works. Versions come from the wrapper modules'
# go.mod files (build/kube, etcd, containerd, runc, cni, coredns) and HELM_VERSION below: change
# them there. helm itself is built by scripts/ensure-helm.sh at HELM_VERSION.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HELM_VERSION=v3.22.0
# module_version WRAPPER MODULE: the version build/WRAPPER/go.mod requires of MODULE.
module_version() {
  awk -v m="$2" '$1 == "require" && $2 == m { print $3 }' "$here/build/$1/go.mod"
}
KUBE_VERSION="$(module_version kube k8s.io/kubernetes)"
ETCD_VERSION="$(module_version etcd go.etcd.io/etcd/server/v3)"
CONTAINERD_VERSION="$(module_version containerd github.com/containerd/containerd/v2)"
RUNC_VERSION="$(module_version runc github.com/opencontainers/runc)"
CNI_VERSION="$(module_version cni github.com/containernetworking/plugins)"
COREDNS_VERSION="$(module_version coredns github.com/coredns/coredns)"
[[ -n $KUBE_VERSION && -n $ETCD_VERSION && -n $CONTAINERD_VERSION && -n $RUNC_VERSION \
  && -n $CNI_VERSION && -n $COREDNS_VERSION ]] || {
  echo "build.sh: cannot read a version from $here/build/*/go.mod" >&2
  exit 1
}

# The directory name keeps only the kube and etcd versions, so binaries built before the node
# binaries were added stay valid; the stamps tell every other version.
cache_dir="${FLINT_CACHE_DIR:-$HOME/.cache/flint}/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION"
bin_dir="$cache_dir/bin"
mkdir -p "$bin_dir/cni"

cni_plugins=(cni/bridge cni/host-local cni/loopback cni/portmap)
all=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd helm
  kubelet kube-proxy containerd containerd-shim-runc-v2 ctr runc "${cni_plugins[@]}" coredns)
wanted=()
for name in "$@"; do
  case $name in
    cni) wanted+=("${cni_plugins[@]}") ;;
    bridge | host-local | loopback | portmap) wanted+=("cni/$name") ;;
    *) wanted+=("$name") ;;
  esac
done
[[ ${#wanted[@]} -gt 0 ]] || wanted=("${all[@]}")
for name in "${wanted[@]}"; do
  [[ " ${all[*]} " == *" $name "* ]] || {
    echo "build.sh: unknown binary '$name' (known: ${all[*]} cni)" >&2
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

# Everything but runc is pure Go; runc sets CGO_ENABLED=1 for its own build below.
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
go_version="$(go env GOVERSION)"
# Version variables kube binaries report (kubectl version, /version); unset, they say v0.0.0-master.
minor="${KUBE_VERSION#v1.}"
minor="${minor%%.*}"
kube_x=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_x+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
# What containerd, its shim and ctr report as their version (unset: "2.x.y+unknown").
containerd_pkg=github.com/containerd/containerd/v2
containerd_x="-X $containerd_pkg/version.Version=$CONTAINERD_VERSION -X $containerd_pkg/version.Package=$containerd_pkg"
# Build tags, as containerd's Makefile sets them: no CLI man pages; no btrfs, devmapper and zfs
# snapshotters (the node uses overlayfs; btrfs needs CGO and the btrfs headers); the shim speaks
# ttrpc only (no_grpc, as its Makefile builds it).
containerd_tags="urfave_cli_no_docs no_btrfs no_devmapper no_zfs"
shim_tags="urfave_cli_no_docs no_grpc"
# runc: seccomp needs CGO and libseccomp-dev (libseccomp.so at run time). Its Makefile also sets
# libpathrs, which needs the Rust libpathrs library; without it runc uses its Go pathrs-lite.
# runc takes its version from its embedded VERSION file; no -X needed.
runc_tags="seccomp urfave_cli_no_docs"
cni_x="-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_VERSION"

built=0
failed=()

# build NAME INDEX STAMP DIR COMMAND...: in DIR, run COMMAND (which writes the file tmp_of NAME
# prints) unless NAME's stamp already matches. NAME is a path under the bin dir (cni/bridge).
tmp_of() { echo "$bin_dir/$(dirname "$1")/.$(basename "$1").tmp"; }
build() {
  local name=$1 index=$2 stamp=$3 dir=$4
  shift 4
  local target="$bin_dir/$name" stamp_file tmp
  stamp_file="$bin_dir/$(dirname "$name")/.$(basename "$name").stamp"
  tmp="$(tmp_of "$name")"
  if [[ -x $target && -f $stamp_file && "$(cat "$stamp_file")" == "$stamp" ]]; then
    echo "up to date: $name ($index/${#wanted[@]})" >&2
    return 0
  fi
  echo "building $name ($index/${#wanted[@]})... [${SECONDS}s elapsed]" >&2
  local t0=$SECONDS log="$cache_dir/build-${name//\//-}.log"
  rm -f "$stamp_file"
  if (cd "$dir" && "$@") > "$log" 2>&1; then
    mv -f "$tmp" "$target"
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

# runc links libseccomp through CGO; say so plainly rather than with a compiler error.
build_runc() {
  if ! pkg-config --exists libseccomp 2> /dev/null && [[ ! -e /usr/include/seccomp.h ]]; then
    echo "runc needs libseccomp-dev (apt-get install libseccomp-dev) and a C compiler" >&2
    return 1
  fi
  CGO_ENABLED=1 nice -n 10 go build -trimpath -tags "$runc_tags" -ldflags="-s -w" \
    -o "$(tmp_of runc)" github.com/opencontainers/runc
}

index=0
for name in "${wanted[@]}"; do
  index=$((index + 1))
  # What the binary is built from: only its own module's version, so a helm bump rebuilds no kube.
  flags="$go_version $GOFLAGS cgo=$CGO_ENABLED"
  tmp="$(tmp_of "$name")"
  case $name in
    kube-apiserver | kube-controller-manager | kube-scheduler | kubectl | kubelet | kube-proxy)
      stamp="$name kube=$KUBE_VERSION $flags"
      build "$name" $index "$stamp" "$here/build/kube" \
        nice -n 10 go build -trimpath -ldflags="-s -w$kube_x" -o "$tmp" "k8s.io/kubernetes/cmd/$name"
      ;;
    etcd)
      stamp="etcd etcd=$ETCD_VERSION $flags"
      build etcd $index "$stamp" "$here/build/etcd" \
        nice -n 10 go build -trimpath -ldflags="-s -w" -o "$tmp" .
      ;;
    helm)
      stamp="helm helm=$HELM_VERSION via scripts/ensure-helm.sh"
      build helm $index "$stamp" "$here" install_helm
      ;;
    containerd | ctr)
      stamp="$name containerd=$CONTAINERD_VERSION $flags tags=$containerd_tags"
      build "$name" $index "$stamp" "$here/build/containerd" \
        nice -n 10 go build -trimpath -tags "$containerd_tags" -ldflags="-s -w $containerd_x" \
        -o "$tmp" "$containerd_pkg/cmd/$name"
      ;;
    containerd-shim-runc-v2)
      stamp="$name containerd=$CONTAINERD_VERSION $flags tags=$shim_tags"
      build "$name" $index "$stamp" "$here/build/containerd" \
        nice -n 10 go build -trimpath -tags "$shim_tags" -ldflags="-s -w $containerd_x" \
        -o "$tmp" "$containerd_pkg/cmd/$name"
      ;;
    runc)
      stamp="runc runc=$RUNC_VERSION $go_version $GOFLAGS cgo=1 tags=$runc_tags"
      build runc $index "$stamp" "$here/build/runc" build_runc
      ;;
    cni/*)
      plugin="${name#cni/}"
      case $plugin in
        host-local) pkg=ipam/$plugin ;;
        portmap) pkg=meta/$plugin ;;
        *) pkg=main/$plugin ;;
      esac
      stamp="$name cni=$CNI_VERSION $flags"
      build "$name" $index "$stamp" "$here/build/cni" \
        nice -n 10 go build -trimpath -ldflags="-s -w $cni_x" -o "$tmp" \
        "github.com/containernetworking/plugins/plugins/$pkg"
      ;;
    coredns)
      stamp="coredns coredns=$COREDNS_VERSION $flags"
      build coredns $index "$stamp" "$here/build/coredns" \
        nice -n 10 go build -trimpath -ldflags="-s -w" -o "$tmp" github.com/coredns/coredns
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
