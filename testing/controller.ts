// Test support for the controller's pure parts: Functions as the API server returns them, and a config.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseFunction, type FunctionResource } from "../api/index.js";
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { startControlPlane, type ControlPlane } from "./control-plane.js";
import { loadConfig, type ControllerConfig } from "../controller/config.js";

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

/** A control plane with the Function CRD established and one namespace for the test's objects. */
export interface ApiServerWithCrd {
  readonly cp: ControlPlane;
  readonly kubeConfig: KubeConfig;
  readonly apps: AppsV1Api;
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
}

/**
 * Starts etcd + kube-apiserver + kube-controller-manager (garbage collection, Deployment status),
 * applies crds/function.yaml as written, waits for it to be established and creates `namespace`.
 * Throws (failing the suite's beforeAll) if the CRD is refused.
 */
export async function startApiServerWithCrd(namespace: string): Promise<ApiServerWithCrd> {
  // (testing/cluster.ts's step() needs Jest's globals, and this file is also built by tsc.)
  const cp = await startControlPlane({
    controllerManager: true,
    log: (line) => process.stderr.write(`[api-server] ${line}\n`),
  });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(cp.kubeconfigPath);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const applied = await cp.kubectl(["apply", "--server-side", "-f", "-"], crdYaml());
  if (applied.code !== 0) throw new Error(`the API server refused crds/function.yaml: ${applied.stderr}`);
  const established = await cp.kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/functions.flint.dev",
  ]);
  if (established.code !== 0) throw new Error(`the Function CRD was not established: ${established.stderr}`);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  return {
    cp,
    kubeConfig,
    core,
    apps: kubeConfig.makeApiClient(AppsV1Api),
    custom: kubeConfig.makeApiClient(CustomObjectsApi),
  };
}
