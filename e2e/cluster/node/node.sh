#!/usr/bin/env bash
# Runs a real Kubernetes node: containerd (with runc and the CNI plugins), kubelet, kube-proxy and
# CoreDNS, in the network namespace of its caller (e2e/cluster/run.sh's) and in a mount namespace of
# its own, so that nothing it mounts is seen outside it. Started by real-node.ts:
#
#   unshare --mount --propagation slave -- node.sh DIR BIN_DIR CGROUP_ROOT
#
# DIR holds the configuration real-node.ts wrote (containerd.toml, kubelet.yaml, kube-proxy.yaml,
# Corefile) and gets one log per process; BIN_DIR is e2e/cluster/build.sh's. It ends (and ends
# every process it started, pods included) on SIGTERM, or when any of its processes exits.
set -euo pipefail

dir=$1
bin=$2
cgroup_root=$3
export PATH="$bin:$PATH"
sock="$dir/containerd/containerd.sock"

log() { echo "node.sh: $*" >&2; }

[[ $(findmnt -n -o PROPAGATION /) != shared ]] || {
  log "refusing to run in a shared mount namespace: start me under unshare --mount --propagation slave"
  exit 2
}

# kubelet sets these three sysctls when they differ from what it wants; they are the machine's,
# not this namespace's. It finds them as it wants them: files with its values, bound over the
# entries in this mount namespace only.
mkdir -p "$dir/sysctl"
for entry in vm/overcommit_memory=1 kernel/panic=10 kernel/panic_on_oops=1; do
  key=${entry%%=*}
  file="$dir/sysctl/${key//\//.}"
  echo "${entry#*=}" > "$file"
  mount --bind "$file" "/proc/sys/$key"
done

# Pods live under one cgroup subtree per node (kubelet's cgroupRoot), in every v1 hierarchy, so
# that stopping the node can find and kill every process of every pod.
cgroup_dirs=()
for hierarchy in /sys/fs/cgroup/*/; do
  hierarchy=${hierarchy%/}
  [[ -f $hierarchy/cgroup.procs ]] || continue
  [[ $hierarchy == */unified ]] && continue
  mkdir -p "$hierarchy$cgroup_root"
  if [[ -f $hierarchy/cpuset.cpus ]]; then
    # A new cpuset cgroup is empty; fill each level from its parent so tasks can join it.
    path=""
    IFS=/ read -ra parts <<< "${cgroup_root#/}"
    for part in "${parts[@]}"; do
      parent="$hierarchy$path"
      path="$path/$part"
      cat "$parent/cpuset.cpus" > "$hierarchy$path/cpuset.cpus"
      cat "$parent/cpuset.mems" > "$hierarchy$path/cpuset.mems"
    done
  fi
  cgroup_dirs+=("$hierarchy$cgroup_root")
done

pids=()
stopping=0
stop_all() {
  [[ $stopping -eq 0 ]] || return 0
  stopping=1
  trap '' TERM INT
  log "stopping"
  # kubelet first, so that it restarts nothing; then every pod process, by cgroup; then the rest.
  [[ ${#pids[@]} -gt 1 ]] && kill -TERM "${pids[1]}" 2> /dev/null || true
  for _ in 1 2 3; do
    for cgroup in "${cgroup_dirs[@]}"; do
      find "$cgroup" -name cgroup.procs -exec cat {} + 2> /dev/null | xargs -r kill -KILL 2> /dev/null || true
    done
  done
  # The shims lead their own process groups; each names this node's containerd socket.
  pkill -KILL -f -- "-address $sock" 2> /dev/null || true
  kill -TERM "${pids[@]}" 2> /dev/null || true
  wait 2> /dev/null || true
  for cgroup in "${cgroup_dirs[@]}"; do
    find "$cgroup" -depth -type d -exec rmdir {} + 2> /dev/null || true
  done
  kube-proxy --cleanup > /dev/null 2>&1 || true
  ip link delete cni0 2> /dev/null || true
  log "stopped"
}
trap 'stop_all; exit 0' TERM INT
trap stop_all EXIT

containerd --config "$dir/containerd.toml" > "$dir/containerd.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  [[ -S $sock ]] && ctr --address "$sock" version > /dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2> /dev/null || {
    log "containerd exited; its log:"
    tail -n 30 "$dir/containerd.log" >&2
    exit 1
  }
  sleep 0.1
done
log "containerd ready"
# Images first (real-node.ts lists the archives), so that no pod waits on a pull that cannot work.
if [[ -f $dir/images.txt ]]; then
  while read -r archive; do
    [[ -n $archive ]] || continue
    ctr --address "$sock" -n k8s.io images import "$archive" > /dev/null 2>> "$dir/images.log" \
      || { log "cannot import $archive:"; tail -n 5 "$dir/images.log" >&2; exit 1; }
  done < "$dir/images.txt"
  log "images imported"
fi

kubelet --config "$dir/kubelet.yaml" --kubeconfig "$dir/kubeconfig" --root-dir "$dir/kubelet" \
  --hostname-override "$(cat "$dir/node-name")" --node-ip "$(cat "$dir/node-ip")" --v=2 \
  > "$dir/kubelet.log" 2>&1 &
pids+=($!)
kube-proxy --config "$dir/kube-proxy.yaml" --v=1 > "$dir/kube-proxy.log" 2>&1 &
pids+=($!)
coredns -conf "$dir/Corefile" > "$dir/coredns.log" 2>&1 &
pids+=($!)
log "kubelet, kube-proxy and coredns started"
echo ready > "$dir/ready"

# Any process ending ends the node: real-node.ts sees it and says which.
set +e
wait -n "${pids[@]}"
status=$?
for i in "${!pids[@]}"; do
  kill -0 "${pids[$i]}" 2> /dev/null || log "$(echo containerd kubelet kube-proxy coredns | cut -d' ' -f$((i + 1))) exited"
done
exit "$status"
