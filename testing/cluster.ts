// Test support for tests on the real control plane: when they can run (and why not), step logs.
import { missingBinaries, type ControlPlaneBinary } from "./control-plane.js";

/**
 * Why a test needing the control-plane binaries cannot run here, or undefined when it can. Under
 * run.sh (FLINT_E2E_CLUSTER=1) missing binaries are a failure, not a reason to skip.
 */
export function binariesSkipReason(
  names: readonly ControlPlaneBinary[] = ["etcd", "kube-apiserver", "kubectl"],
): string | undefined {
  const missing = missingBinaries(names);
  if (missing.length === 0 || process.env["FLINT_E2E_CLUSTER"] === "1") return undefined;
  return `the control-plane binaries are not built (missing ${missing.join(", ")}): run e2e/cluster/build.sh`;
}

/** Why a test needing the network namespace (pods) cannot run here, or undefined when it can. */
export function namespaceSkipReason(): string | undefined {
  if (process.env["FLINT_E2E_CLUSTER"] === "1" && (process.env["FLINT_E2E_NETNS"] ?? "") !== "")
    return undefined;
  return "it needs the network namespace that e2e/cluster/run.sh (as root) makes";
}

/**
 * `describe`, or `describe.skip` after printing why: a skipped suite must be visible in the run's
 * output, never a silent pass.
 */
export function describeUnless(reason: string | undefined): jest.Describe {
  if (reason === undefined) return describe;
  process.stderr.write(`\n*** SKIPPED (${expect.getState().testPath ?? "a cluster test"}): ${reason}\n\n`);
  return describe.skip;
}

/** One progress line of a test, with the seconds since the test file started. */
export function step(line: string): void {
  process.stderr.write(`[cluster +${(performance.now() / 1000).toFixed(1)}s] ${line}\n`);
}

/** A name no other run or test uses: `<prefix>-<6 random base36 chars>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
}
