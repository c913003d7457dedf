// Test support for the controller's pure parts: Functions as the API server returns them, and a config.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseFunction, type FunctionResource } from "../api/index.js";
import { loadConfig, type ControllerConfig } from "./config.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The uid every fixture Function carries (as one read from the API server would). */
export const FIXTURE_UID = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

/**
 * A Function named `hello` in namespace `team`, with the CRD's defaults applied, from the YAML lines
 * of its spec (indented by two spaces), plus a uid and generation.
 */
export function functionFixture(specYaml: string, generation = 1): FunctionResource {
  const fn = parseFunction(
    `apiVersion: flint.dev/v1alpha1\nkind: Function\nmetadata: { name: hello, namespace: team }\nspec:\n${specYaml}`,
  );
  return { ...fn, metadata: { ...fn.metadata, uid: FIXTURE_UID, generation } };
}

/** The controller's configuration as the Helm chart sets it, with `overrides` on top. */
export function configFixture(
  overrides: Readonly<Record<string, string | undefined>> = {},
): ControllerConfig {
  return loadConfig({
    NATS_URL: "nats://flint-nats.flint:4222",
    REDIS_URL: "redis://flint-redis.flint:6379",
    FLINT_POD_NAMESPACE: "flint",
    FLINT_POD_NAME: "flint-controller-0",
    ...overrides,
  });
}

/** crds/function.yaml, as tests apply it to a real API server (kubectl apply -f -). */
export function crdYaml(): string {
  return readFileSync(join(REPO_ROOT, "crds", "function.yaml"), "utf8");
}
