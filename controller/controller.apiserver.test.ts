// The controller against a real kube-apiserver (+ kube-controller-manager for garbage collection):
// Functions become Deployments and Services with status, changes roll, replicas stay the autoscaler's,
// problems show in status, unchanged Functions are not rewritten, deletion cascades.
import {
  PatchStrategy,
  setHeaderOptions,
  type AppsV1Api,
  type CoreV1Api,
  type CustomObjectsApi,
  type KubeConfig,
} from "@kubernetes/client-node";
import { pino } from "pino";
import { FUNCTION_API, type Condition, type FunctionResource } from "../api/index.js";
import type { ControlPlane } from "../testing/control-plane.js";
import { binariesSkipReason, describeUnless, step, uniqueName } from "../testing/cluster.js";
import { systemClock } from "../platform/clock.js";
import { waitFor } from "../testing/gateway.js";
import { FunctionController, isStatus } from "./controller.js";
import { configFixture, startApiServerWithCrd } from "../testing/controller.js";

const crd = { group: FUNCTION_API.group, version: FUNCTION_API.version, plural: FUNCTION_API.plural };

describeUnless(binariesSkipReason(["etcd", "kube-apiserver", "kube-controller-manager", "kubectl"]))(
  "the Function controller on a real API server",
  () => {
    let cp: ControlPlane | undefined;
    let controller: FunctionController | undefined;
    let apps: AppsV1Api;
    let core: CoreV1Api;
    let custom: CustomObjectsApi;
    const namespace = uniqueName("ctl");

    beforeAll(async () => {
      let kubeConfig: KubeConfig;
      ({ cp, kubeConfig, apps, core, custom } = await startApiServerWithCrd(namespace));
      // Created at zero replicas: no pods need to run for these tests (there is no kubelet here).
      controller = new FunctionController({
        kubeConfig,
        config: configFixture({ FLINT_INITIAL_SCALE: "0", FLINT_GATEWAY_URL: "http://gw.test" }),
        clock: systemClock,
        logger: pino({ level: process.env["FLINT_TEST_LOG"] ?? "silent" }),
      });
      await controller.start();
    }, 180_000);

    afterAll(async () => {
      await controller?.stop();
      await cp?.stop();
    }, 60_000);

    async function createFunction(name: string, spec: Record<string, unknown>): Promise<void> {
      const body = {
        apiVersion: FUNCTION_API.apiVersion,
        kind: FUNCTION_API.kind,
        metadata: { name, namespace },
        spec,
      };
      await custom.createNamespacedCustomObject({ ...crd, namespace, body });
    }

    async function readFunction(name: string): Promise<FunctionResource> {
      return (await custom.getNamespacedCustomObject({ ...crd, namespace, name })) as FunctionResource;
    }

    const condition = (fn: FunctionResource, type: string): Condition | undefined =>
      fn.status?.conditions?.find((candidate) => candidate.type === type);

    async function waitForCondition(
      name: string,
      type: string,
      status: string,
      reason?: string,
    ): Promise<FunctionResource> {
      let fn: FunctionResource | undefined;
      await waitFor(
        `${name}: ${type}=${status}${reason === undefined ? "" : ` (${reason})`}`,
        async () => {
          fn = await readFunction(name);
          const found = condition(fn, type);
          return found?.status === status && (reason === undefined || found.reason === reason);
        },
        { timeoutMs: 60_000 },
      );
      return fn as FunctionResource;
    }

    it("makes the Deployment and Service of a new Function and reports it Ready at zero replicas", async () => {
      const name = "hello";
      step(`create ${namespace}/${name}`);
      await createFunction(name, {
        image: "registry.example/hello:1",
        handler: { mode: "module", entry: "handler.js" },
      });
      const fn = await waitForCondition(name, "Ready", "True");
      expect(fn.status).toMatchObject({
        observedGeneration: 1,
        replicas: 0,
        url: `http://gw.test/function/${name}.${namespace}`,
      });
      expect(condition(fn, "ConfigValid")).toMatchObject({ status: "True" });
      const deployment = await apps.readNamespacedDeployment({ namespace, name });
      expect(deployment.metadata?.ownerReferences?.[0]).toMatchObject({
        kind: "Function",
        name,
        controller: true,
      });
      expect(deployment.spec?.replicas).toBe(0);
      const service = await core.readNamespacedService({ namespace, name });
      expect(service.metadata?.ownerReferences?.[0]).toMatchObject({ kind: "Function", name });

      step("the printer columns show the status");
      const table = await cp!.kubectl(["get", "functions", "-n", namespace, name]);
      expect(table.stdout).toMatch(/READY\s+REASON\s+REPLICAS\s+URL/);
      expect(table.stdout).toMatch(new RegExp(`${name}\\s+True`));
    });

    it("rolls a changed spec into the Deployment and keeps the replicas the autoscaler set", async () => {
      const name = "rolling";
      await createFunction(name, {
        image: "registry.example/r:1",
        handler: { mode: "module", entry: "h.js" },
      });
      await waitForCondition(name, "Ready", "True");
      step("the autoscaler scales it to 2 (no kubelet: the pods stay pending)");
      await apps.patchNamespacedDeploymentScale(
        { namespace, name, body: { spec: { replicas: 2 } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      step("the user changes the image");
      await custom.patchNamespacedCustomObject(
        { ...crd, namespace, name, body: { spec: { image: "registry.example/r:2" } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      await waitFor(
        "the new image in the Deployment",
        async () =>
          (await apps.readNamespacedDeployment({ namespace, name })).spec?.template.spec?.containers[0]
            ?.image === "registry.example/r:2",
        { timeoutMs: 60_000 },
      );
      const deployment = await apps.readNamespacedDeployment({ namespace, name });
      expect(deployment.spec?.replicas).toBe(2);
      const fn = await readFunction(name);
      await waitFor(
        "observedGeneration 2",
        async () => (await readFunction(name)).status?.observedGeneration === 2,
        { timeoutMs: 60_000 },
      );
      expect(fn.metadata.generation).toBe(2);
    });

    it("reports a Function without an image as not valid, with a reason to act on", async () => {
      const name = "no-image";
      await createFunction(name, { handler: { mode: "module", entry: "h.js" } });
      const fn = await waitForCondition(name, "ConfigValid", "False", "ImageMissing");
      expect(condition(fn, "Ready")).toMatchObject({ status: "False", reason: "ImageMissing" });
      expect(condition(fn, "ConfigValid")?.message).toContain("spec.image is required on Kubernetes");
      const read = await apps.readNamespacedDeployment({ namespace, name }).then(
        () => "found",
        (error: unknown) => (isStatus(error, 404) ? "not found" : String(error)),
      );
      expect(read).toBe("not found");
    });

    it("leaves a Deployment it does not own alone and says so", async () => {
      const name = "taken";
      await apps.createNamespacedDeployment({
        namespace,
        body: {
          metadata: { name },
          spec: {
            replicas: 0,
            selector: { matchLabels: { app: name } },
            template: {
              metadata: { labels: { app: name } },
              spec: { containers: [{ name: "x", image: "other:1" }] },
            },
          },
        },
      });
      await createFunction(name, {
        image: "registry.example/t:1",
        handler: { mode: "module", entry: "h.js" },
      });
      const fn = await waitForCondition(name, "DeploymentReady", "False", "NotOwned");
      expect(condition(fn, "DeploymentReady")?.message).toContain(
        `kubectl -n ${namespace} delete deployment ${name}`,
      );
      expect(condition(fn, "Ready")?.status).toBe("False");
      const deployment = await apps.readNamespacedDeployment({ namespace, name });
      expect(deployment.spec?.template.spec?.containers[0]?.image).toBe("other:1");
    });

    it("writes nothing when a Function has not changed", async () => {
      const name = "steady";
      await createFunction(name, {
        image: "registry.example/s:1",
        handler: { mode: "module", entry: "h.js" },
      });
      await waitForCondition(name, "Ready", "True");
      await controller!.queue.idle();
      const before = await readFunction(name);
      const result = await controller!.reconciler.reconcile(`${namespace}/${name}`);
      expect(result).toMatchObject({ deployment: "unchanged", service: "unchanged", statusWritten: false });
      expect((await readFunction(name)).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    });

    it("deletes a Function's Deployment and Service with it", async () => {
      const name = "doomed";
      await createFunction(name, {
        image: "registry.example/d:1",
        handler: { mode: "module", entry: "h.js" },
      });
      await waitForCondition(name, "Ready", "True");
      await custom.deleteNamespacedCustomObject({ ...crd, namespace, name });
      await waitFor(
        "the garbage collector to delete the Deployment and Service",
        async () => {
          const gone = (promise: Promise<unknown>): Promise<boolean> =>
            promise.then(
              () => false,
              (error: unknown) => isStatus(error, 404),
            );
          return (
            (await gone(apps.readNamespacedDeployment({ namespace, name }))) &&
            (await gone(core.readNamespacedService({ namespace, name })))
          );
        },
        { timeoutMs: 110_000 },
      );
      // The garbage collector notices a new CRD on its next discovery pass (every 30 s).
    }, 120_000);

    it("reports its informers healthy", () => {
      expect(controller!.healthy()).toBe(true);
    });
  },
);
