#!/usr/bin/env bash
# Every test in one jest run (npm test runs this after build, typecheck and lint). As root it runs
# inside a network namespace made for the run (e2e/cluster/run.sh --all), so the cluster e2e tests
# run too; otherwise they are skipped with a printed reason and everything else runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools the tests need, built from their Go modules once and cached under ~/.cache/flint.
bash scripts/ensure-helm.sh > /dev/null
bash e2e/cluster/build.sh > /dev/null

if [[ $(id -u) -eq 0 ]] && command -v ip > /dev/null; then
  # The real node runs Flint's images: built with buildah (cached; a warm run builds nothing).
  bash scripts/images/build.sh > /dev/null
  exec bash e2e/cluster/run.sh --all "$@"
fi
echo "test.sh: not root (or no ip command): the cluster e2e tests that need a network namespace will be skipped" >&2
exec node --experimental-vm-modules --no-warnings=ExperimentalWarning node_modules/jest/bin/jest.js --forceExit "$@"
