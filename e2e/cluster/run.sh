#!/usr/bin/env bash
# Runs the cluster e2e tests (e2e/cluster) inside a network namespace made for this run, so every
# address they use (API server, node, pods) exists only there; the namespace and every process in
# it are removed at the end, also after a failure or Ctrl-C.
#
#   e2e/cluster/run.sh                 build binaries (cached) and dist/, run all of e2e/cluster
#   e2e/cluster/run.sh -t 'smoke'      extra arguments go to jest
#   e2e/cluster/run.sh e2e/cluster/scenario.cluster.test.ts    only the test files named
#   e2e/cluster/run.sh --all           every test of the repository, in one jest run (npm test)
#
# Needs root (ip netns, unshare, nsenter), iproute2, util-linux, openssl, Go (for the first build) and Node.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

fail() {
  echo "run.sh: $*" >&2
  exit 1
}
[[ $(id -u) -eq 0 ]] || fail "needs root to create a network namespace (ip netns add); run it as root"
command -v ip > /dev/null || fail "needs ip from iproute2 (apt-get install iproute2)"
command -v openssl > /dev/null || fail "needs openssl (apt-get install openssl)"

bin_dir="$(e2e/cluster/build.sh | tail -n 1)"
npm run build --silent
# Test fixtures that run as processes are compiled by build:dev into build/ (npm test has run it).
[[ -f build/testing/fixtures/gateway-process.js ]] || npm run build:dev --silent

ns="flint-e2e-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
cleanup() {
  local status=$?
  # Whatever still runs in the namespace (a pod process a crashed test left) was started by this
  # run; end it by pid, then delete the namespace.
  local pids
  pids="$(ip netns pids "$ns" 2> /dev/null || true)"
  if [[ -n $pids ]]; then
    echo "run.sh: killing processes left in $ns:" >&2
    # Named, so the test that left them can be found.
    # shellcheck disable=SC2086 # one pid a word
    ps -o pid=,args= -p $(echo $pids | tr ' ' ',') 2> /dev/null | cut -c1-200 | sed 's/^/  /' >&2 || true
    # shellcheck disable=SC2086 # one pid a word
    kill -KILL $pids 2> /dev/null || true
  fi
  # Pods of a real node (e2e/cluster/node) run in network namespaces of their own, under the
  # cgroup subtree /flint-e2e/<ns>-* that node.sh made: end them by cgroup, then remove it.
  local cgroup
  for cgroup in /sys/fs/cgroup/*/flint-e2e/"$ns"-*; do
    [[ -d $cgroup ]] || continue
    find "$cgroup" -name cgroup.procs -exec cat {} + 2> /dev/null | xargs -r kill -KILL 2> /dev/null || true
    find "$cgroup" -depth -type d -exec rmdir {} + 2> /dev/null || true
  done
  ip netns delete "$ns" 2> /dev/null || true
  rm -rf "/etc/netns/$ns"
  echo "run.sh: removed network namespace $ns" >&2
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
# The tests see /etc/netns/<ns>/hosts as /etc/hosts (bound below): the process kubelet's service
# proxy writes Service names there, so <service>.<namespace>.svc resolves inside the run only.
mkdir -p "/etc/netns/$ns"
cp /etc/hosts "/etc/netns/$ns/hosts"
scope=(e2e/cluster)
if [[ ${1:-} == --all ]]; then
  shift
  scope=()
elif [[ $# -gt 0 && $1 != -* ]]; then
  # Test paths given: they are the scope (with e2e/cluster as well, every cluster test would match).
  scope=()
fi
echo "run.sh: running ${scope[*]:-every test} in network namespace $ns (binaries: $bin_dir)" >&2

# The ignore pattern (one regex) replaces the config's, which leave *.cluster.test.ts out of the
# default run. It comes last: an array option swallows the positional arguments after it, so test
# paths given to run.sh would be taken for more ignore patterns.
# --runInBand: the tests share the namespace's pod address range and the machine has 2 cores.
# --forceExit: in one process, a handle some suite leaves open would keep Jest (and CI) waiting
# after the summary; each suite still cleans up its own processes in afterAll.
# Not `ip netns exec`: it mounts a /sys of the namespace's own, without /sys/fs/cgroup, which a
# real node's kubelet and runc need. A mount namespace of the run's own (slave: nothing mounted in
# it is seen outside) with the namespace's hosts file, entered network namespace, does the rest.
FLINT_E2E_CLUSTER=1 FLINT_E2E_NETNS="$ns" FLINT_K8S_BIN_DIR="$bin_dir" \
  unshare --mount --propagation slave -- nsenter --net="/run/netns/$ns" -- \
  bash -c 'mount --bind "/etc/netns/$FLINT_E2E_NETNS/hosts" /etc/hosts && exec "$@"' run.sh \
  node --experimental-vm-modules --no-warnings=ExperimentalWarning \
  node_modules/jest/bin/jest.js "${scope[@]}" "$@" --runInBand --forceExit --testPathIgnorePatterns='/node_modules/|/dist/|/build/'
