// The builders' and status logic's output against a real kube-apiserver (the e2e harness's loopback
// control plane, with kube-controller-manager for garbage collection): accepted as built, updates
// keep the autoscaler's replicas, status fits the CRD, and deleting a Function deletes its objects.
import {
  PatchStrategy,
  setHeaderOptions,
  type AppsV1Api,
  type CoreV1Api,
  type CustomObjectsApi,
} from "@kubernetes/client-node";
import type { V1Deployment } from "@kubernetes/client-node";
import { FUNCTION_API, SPEC_HASH_ANNOTATION, type FunctionResource } from "../api/index.js";
import type { ControlPlane } from "../testing/control-plane.js";
import { binariesSkipReason, describeUnless, step, uniqueName } from "../testing/cluster.js";
import { makeDeployment, makeService, mergeForUpdate, needsUpdate } from "./builders.js";
import { isStatus } from "./controller.js";
import { ImageMissingError } from "./errors.js";
import { computeStatus, statusChanged } from "./status.js";
import { configFixture, startApiServerWithCrd } from "../testing/controller.js";

const cfg = configFixture();

describeUnless(binariesSkipReason(["etcd", "kube-apiserver", "kube-controller-manager", "kubectl"]))(
  "builders and status on a real API server",
  () => {
    let cp: ControlPlane | undefined;
    let apps: AppsV1Api;
    let core: CoreV1Api;
    let custom: CustomObjectsApi;
    const namespace = uniqueName("builders");

    beforeAll(async () => {
      ({ cp, apps, core, custom } = await startApiServerWithCrd(namespace));
    }, 120_000);

    afterAll(async () => {
      await cp?.stop();
    }, 60_000);

    it.each([
      [
        "min above max",
        { handler: { mode: "module", entry: "h.js" }, scale: { min: 5, max: 2 } },
        "spec.scale.min: Invalid value: must be <= spec.scale.max",
      ],
      [
        "http without a command or an image",
        { handler: { mode: "http" } },
        "spec.handler.command: Invalid value: is required in http mode",
      ],
      [
        "a reserved env name",
        { handler: { mode: "module", entry: "h.js" }, env: [{ name: "FLINT_MODE", value: "x" }] },
        "must not start with FLINT_",
      ],
      [
        "backoff initial above max",
        { handler: { mode: "module", entry: "h.js" }, async: { backoff: { initial: "2m", max: "1m" } } },
        "must be <= spec.async.backoff.max",
      ],
    ])("rejects a Function with %s, with the CRD's message", async (_what, spec, message) => {
      const body = {
        apiVersion: FUNCTION_API.apiVersion,
        kind: FUNCTION_API.kind,
        metadata: { name: uniqueName("bad"), namespace },
        spec,
      };
      const applied = await cp!.kubectl(["apply", "-f", "-"], JSON.stringify(body));
      expect(applied.code).not.toBe(0);
      expect(applied.stderr).toContain(message);
    });

    /** Creates a Function and returns it as the API server has it: defaults applied, uid set. */
    async function createFunction(name: string, spec: Record<string, unknown>): Promise<FunctionResource> {
      const body = {
        apiVersion: FUNCTION_API.apiVersion,
        kind: FUNCTION_API.kind,
        metadata: { name, namespace },
        spec,
      };
      return (await custom.createNamespacedCustomObject({
        group: FUNCTION_API.group,
        version: FUNCTION_API.version,
        namespace,
        plural: FUNCTION_API.plural,
        body,
      })) as FunctionResource;
    }

    async function readFunction(name: string): Promise<FunctionResource> {
      return (await custom.getNamespacedCustomObject({
        group: FUNCTION_API.group,
        version: FUNCTION_API.version,
        namespace,
        plural: FUNCTION_API.plural,
        name,
      })) as FunctionResource;
    }

    /** A module-mode Function and the Deployment built for it, both created. */
    async function createWithDeployment(
      name: string,
    ): Promise<{ fn: FunctionResource; deployment: V1Deployment }> {
      const fn = await createFunction(name, {
        image: `registry.example/${name}:1`,
        handler: { mode: "module", entry: "h.js" },
      });
      return {
        fn,
        deployment: await apps.createNamespacedDeployment({ namespace, body: makeDeployment(fn, cfg) }),
      };
    }

    it.each([
      [
        "module",
        {
          image: "registry.example/hello:1",
          handler: { mode: "module", entry: "handler.js" },
          secrets: ["db"],
        },
      ],
      ["exec", { image: "registry.example/shout:1", handler: { mode: "exec", command: ["./shout.sh"] } }],
      [
        "http-command",
        { image: "registry.example/c:1", handler: { mode: "http", command: ["node", "s.js"] } },
      ],
      [
        "http-sidecar",
        {
          image: "registry.example/nginx:1",
          handler: { mode: "http", port: 9000 },
          env: [{ name: "A", value: "1" }],
        },
      ],
    ])("accepts the Deployment and Service built for a %s Function, as built", async (layout, spec) => {
      const fn = await createFunction(`fn-${layout}`, spec);
      step(`creating the Deployment and Service of ${namespace}/${fn.metadata.name}`);
      const desired = makeDeployment(fn, cfg);
      const deployment = await apps.createNamespacedDeployment({ namespace, body: desired });
      const service = await core.createNamespacedService({ namespace, body: makeService(fn) });
      expect(needsUpdate(deployment, desired)).toBe(false);
      expect(needsUpdate(service, makeService(fn))).toBe(false);
      // What the pod hardening and the selector rely on survived the API server's defaulting.
      expect(deployment.spec?.template.spec?.securityContext).toEqual(
        desired.spec?.template.spec?.securityContext,
      );
      expect(deployment.spec?.template.spec?.containers.map((c) => c.securityContext)).toEqual(
        desired.spec?.template.spec?.containers.map((c) => c.securityContext),
      );
      expect(deployment.spec?.replicas).toBe(1);
      expect(service.spec?.clusterIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    });

    it("refuses to build for a Function the API server accepts without an image", async () => {
      const fn = await createFunction("no-image", { handler: { mode: "module", entry: "h.js" } });
      expect(() => makeDeployment(fn, cfg)).toThrow(ImageMissingError);
    });

    it("updates a changed spec with mergeForUpdate and keeps the replicas the autoscaler set", async () => {
      const name = "scaled";
      const { fn } = await createWithDeployment(name);
      step("the autoscaler's merge patch of the scale subresource: 3 replicas");
      await apps.patchNamespacedDeploymentScale(
        { name, namespace, body: { spec: { replicas: 3 } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );

      const changed = { ...fn, spec: { ...fn.spec, env: [{ name: "GREETING", value: "hi" }] } };
      const desired = makeDeployment(changed, cfg);
      // kube-controller-manager writes the Deployment too (its status and revision annotation): an
      // update based on a read it has since overtaken is refused with 409, so read, merge, retry.
      let updated: V1Deployment | undefined;
      for (let attempt = 1; updated === undefined; attempt++) {
        const existing = await apps.readNamespacedDeployment({ name, namespace });
        expect(existing.spec?.replicas).toBe(3);
        expect(needsUpdate(existing, desired)).toBe(true);
        updated = await apps
          .replaceNamespacedDeployment({ name, namespace, body: mergeForUpdate(existing, desired) })
          .catch((error: unknown) => {
            if (attempt < 5 && isStatus(error, 409)) return undefined;
            throw error;
          });
      }
      expect(updated.spec?.replicas).toBe(3);
      expect(updated.metadata?.annotations?.[SPEC_HASH_ANNOTATION]).toBe(
        desired.metadata?.annotations?.[SPEC_HASH_ANNOTATION],
      );
      expect(needsUpdate(updated, desired)).toBe(false);
      expect(updated.spec?.template.spec?.containers[0]?.env).toContainEqual({
        name: "GREETING",
        value: "hi",
      });

      step("a Service update keeps the cluster IP the API server allocated");
      const service = await core.createNamespacedService({ namespace, body: makeService(fn) });
      const replaced = await core.replaceNamespacedService({
        name,
        namespace,
        body: mergeForUpdate(service, makeService(fn)),
      });
      expect(replaced.spec?.clusterIP).toBe(service.spec?.clusterIP);
    });

    it("writes a status the CRD's schema accepts, and reading it back shows no change", async () => {
      const name = "status";
      const { fn, deployment } = await createWithDeployment(name);
      const status = computeStatus({ fn, deployment, now: new Date() }, cfg);
      await custom.replaceNamespacedCustomObjectStatus({
        group: FUNCTION_API.group,
        version: FUNCTION_API.version,
        namespace,
        plural: FUNCTION_API.plural,
        name,
        body: { ...fn, status },
      });
      const read = await readFunction(name);
      expect(read.status).toEqual(status);
      const again = computeStatus({ fn: read, deployment, now: new Date(Date.now() + 60_000) }, cfg);
      expect(statusChanged(read.status, again)).toBe(false);
      // The printer columns: NAME READY REASON REPLICAS URL AGE.
      const ready = status.conditions?.find((condition) => condition.type === "Ready");
      const printed = await cp!.kubectl(["get", "functions", name, "-n", namespace, "--no-headers"]);
      expect(printed.stdout.trim().split(/\s+/).slice(0, 5)).toEqual([
        name,
        ready?.status,
        ready?.reason,
        "0",
        `http://flint-gateway.flint/function/${name}.${namespace}`,
      ]);
    });

    it("deletes a Function's Deployment and Service with it (owner references, garbage collector)", async () => {
      const name = "doomed";
      const { fn } = await createWithDeployment(name);
      await core.createNamespacedService({ namespace, body: makeService(fn) });
      step(`deleting Function ${namespace}/${name}; waiting for the garbage collector`);
      await custom.deleteNamespacedCustomObject({
        group: FUNCTION_API.group,
        version: FUNCTION_API.version,
        namespace,
        plural: FUNCTION_API.plural,
        name,
      });
      const deadline = Date.now() + 60_000;
      let left: string[] = ["Deployment", "Service"];
      while (left.length > 0 && Date.now() < deadline) {
        const [deployments, services] = await Promise.all([
          apps.listNamespacedDeployment({ namespace, fieldSelector: `metadata.name=${name}` }),
          core.listNamespacedService({ namespace, fieldSelector: `metadata.name=${name}` }),
        ]);
        left = [
          ...(deployments.items.length > 0 ? ["Deployment"] : []),
          ...(services.items.length > 0 ? ["Service"] : []),
        ];
        if (left.length > 0) await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(left).toEqual([]);
    }, 90_000);
  },
);
