// Test support for the chart tests: the helm that scripts/ensure-helm.sh built, run with its own
// config and cache folders so the tests neither read nor change the user's helm setup.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const CHART = join(REPO_ROOT, "charts", "flint");

export interface Helm {
  /** Runs helm with `args`; throws (with helm's stderr) on a non-zero exit. */
  run(args: readonly string[], extraEnv?: Readonly<Record<string, string>>): string;
  /** A scratch folder for values files and chart copies, removed by `close`. */
  readonly workdir: string;
  close(): void;
}

/**
 * The helm built by scripts/ensure-helm.sh. Does not build it (that takes minutes): throws an error
 * naming the script when it is missing, so a run without it fails instead of skipping.
 */
export function openHelm(): Helm {
  let path: string;
  try {
    path =
      execFileSync("bash", [join(REPO_ROOT, "scripts", "ensure-helm.sh"), "--no-build"], { encoding: "utf8" })
        .trim()
        .split("\n")
        .at(-1) ?? "";
  } catch (error) {
    throw new Error(
      "helm is not built: run scripts/ensure-helm.sh before the tests (.ci/run does; the first build takes minutes)",
      { cause: error },
    );
  }
  const workdir = mkdtempSync(join(tmpdir(), "flint-helm-"));
  const homes = { HELM_CACHE_HOME: workdir, HELM_CONFIG_HOME: workdir, HELM_DATA_HOME: workdir };
  return {
    workdir,
    run: (args, extraEnv = {}) =>
      execFileSync(path, args, { encoding: "utf8", env: { ...process.env, ...homes, ...extraEnv } }),
    close: () => rmSync(workdir, { recursive: true, force: true }),
  };
}
