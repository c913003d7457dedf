// The gateway's Kubernetes adapters against a real kube-apiserver and etcd (the e2e harness's
// loopback control plane): the Function store on custom resources, the EndpointSlice source (with
// hand-written slices), informers through an API-server outage, and a gateway — in process and as
// the main.ts process — routing a call to a real watchdog named by an EndpointSlice.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1EndpointSlice,
} from "@kubernetes/client-node";
import { pino } from "pino";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { FUNCTION_API, type FunctionResource } from "../../api/index.js";
import { startControlPlane, type ControlPlane } from "../../testing/control-plane.js";
import { binariesSkipReason, describeUnless, step, uniqueName } from "../../testing/cluster.js";
import { startNats, type TestServer } from "../../testing/servers.js";
import { loadConfig } from "../../gateway/config.js";
import {
  ConflictError,
  FunctionExistsError,
  FunctionNotFoundError,
  InvalidFunctionError,
  NamespaceNotWatchedError,
} from "../errors.js";
import { createGateway, type Gateway } from "../../gateway/gateway.js";
import { connectNatsBus, type NatsBus } from "../nats-bus.js";
import type { ConcurrencySample, Endpoint, FunctionEvent } from "../ports.js";
import {
  call,
  makeFunction,
  startReplica,
  TOKEN,
  waitFor,
  type ReplicaProcess,
} from "../../testing/gateway.js";
import { loadKubernetesConfig } from "./config.js";
import { EndpointSliceSource } from "./endpoints.js";
import { CustomResourceFunctionStore } from "./function-store.js";
import { openKubernetesPlatform, type KubernetesPlatform } from "./platform.js";
import {
  endpointSlice,
  kubeConfigVia,
  sliceableTestAddress,
  startApiProxy,
  type ApiProxy,
} from "../../testing/kubernetes.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const GATEWAY_MAIN = join(ROOT, "dist", "gateway", "main.js");
const logger = pino({ level: process.env["FLINT_TEST_LOG"] ?? "silent" });
/** Informer backoff in these tests: short, so an outage ends within a test's deadline. */
const BACKOFF = { initialBackoffMs: 50, maxBackoffMs: 1000 };

/**
 * crds/function.yaml with spec.timeout's rules removed: the API server then stores a Function the
 * gateway's validator rejects, as an older or newer CRD than the gateway's would.
 */
function crdLettingBadTimeoutsThrough(): string {
  const crd = parseYaml(readFileSync(join(ROOT, "crds", "function.yaml"), "utf8")) as {
    spec: { versions: { schema: { openAPIV3Schema: SchemaNode } }[] };
  };
  const spec = crd.spec.versions[0]!.schema.openAPIV3Schema.properties!["spec"]!;
  delete spec.properties!["timeout"]!["x-kubernetes-validations"];
  return stringifyYaml(crd);
}

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  "x-kubernetes-validations"?: unknown;
}

describeUnless(binariesSkipReason(["etcd", "kube-apiserver", "kubectl"]))(
  "the gateway's Kubernetes adapters on a real API server",
  () => {
    let cp: ControlPlane | undefined;
    let kubeConfig: KubeConfig;
    let custom: CustomObjectsApi;
    let discovery: DiscoveryV1Api;
    const closers: (() => Promise<unknown>)[] = [];

    beforeAll(async () => {
      cp = await startControlPlane({ log: step });
      kubeConfig = kubeConfigVia(cp.kubeconfigPath);
      custom = kubeConfig.makeApiClient(CustomObjectsApi);
      discovery = kubeConfig.makeApiClient(DiscoveryV1Api);
      const applied = await cp.kubectl(["apply", "--server-side", "-f", "-"], crdLettingBadTimeoutsThrough());
      expect(applied).toMatchObject({ code: 0, stderr: "" });
      const established = await cp.kubectl([
        ...["wait", "--for=condition=Established", "--timeout=60s"],
        "crd/functions.flint.dev",
      ]);
      expect(established).toMatchObject({ code: 0 });
    }, 120_000);

    afterAll(async () => {
      for (const close of closers.reverse()) await close().catch(() => undefined);
      await cp?.stop();
    }, 60_000);

    async function createNamespace(prefix: string): Promise<string> {
      const name = uniqueName(prefix);
      await kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
      return name;
    }

    /** A Function written straight to the API server (as kubectl would), bypassing the store. */
    async function applyRaw(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
      await custom.createNamespacedCustomObject({
        ...{ group: FUNCTION_API.group, version: FUNCTION_API.version, plural: FUNCTION_API.plural },
        namespace,
        body: {
          apiVersion: FUNCTION_API.apiVersion,
          kind: FUNCTION_API.kind,
          metadata: { name, namespace },
          spec,
        },
      });
    }

    function newStore(namespaces: "all" | string[]): CustomResourceFunctionStore {
      const store = new CustomResourceFunctionStore({ kubeConfig, namespaces, logger, ...BACKOFF });
      closers.push(() => store.close());
      return store;
    }

    /** Collects a store's watch events as "put ns/name@generation", "delete ns/name", "synced". */
    function watchEvents(store: CustomResourceFunctionStore): string[] {
      const events: string[] = [];
      const stop = store.watch((event: FunctionEvent) => {
        if (event.type === "synced") events.push("synced");
        else if (event.type === "delete") events.push(`delete ${event.ref.namespace}/${event.ref.name}`);
        else {
          const { namespace, name, generation } = event.function.metadata;
          events.push(`put ${namespace}/${name}@${generation}`);
        }
      });
      closers.push(() => Promise.resolve(stop()));
      return events;
    }

    describe("CustomResourceFunctionStore", () => {
      let ns: string;
      let other: string;
      let store: CustomResourceFunctionStore;

      beforeAll(async () => {
        // "store-a-…" sorts before "store-b-…" whatever the random suffixes.
        [ns, other] = await Promise.all([createNamespace("store-a"), createNamespace("store-b")]);
        store = newStore([ns, other]);
      });

      it("creates, reads and lists Functions (sorted by namespace, then name), with the CRD's defaults", async () => {
        await store.create(makeFunction("bravo", {}, ns));
        await store.create(makeFunction("alpha", { timeout: "5s" }, ns));
        await store.create(makeFunction("charlie", {}, other));
        const alpha = await store.get({ namespace: ns, name: "alpha" });
        expect(alpha).toMatchObject({
          apiVersion: "flint.dev/v1alpha1",
          kind: "Function",
          metadata: { name: "alpha", namespace: ns, generation: 1 },
          spec: { timeout: "5s", scale: { min: 0 } },
        });
        expect(alpha?.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
        expect(alpha?.metadata.resourceVersion).toMatch(/^\d+$/);
        expect(alpha?.metadata["managedFields"]).toBeUndefined();
        expect(await store.get({ namespace: ns, name: "nobody" })).toBeUndefined();

        const all = await store.list();
        expect(all.map((fn) => `${fn.metadata.namespace}/${fn.metadata.name}`)).toEqual([
          `${ns}/alpha`,
          `${ns}/bravo`,
          `${other}/charlie`,
        ]);
        expect((await store.list(other)).map((fn) => fn.metadata.name)).toEqual(["charlie"]);

        await expect(store.create(makeFunction("alpha", {}, ns))).rejects.toThrow(FunctionExistsError);
      });

      it("updates: a stale resourceVersion is a ConflictError, none means the latest; finalizers stay", async () => {
        const created = await store.create(makeFunction("updated", {}, ns));
        const name = created.metadata.name;
        // Someone else's finalizer: a replace must keep what the gateway does not own.
        await custom.patchNamespacedCustomObject(
          {
            ...{ group: FUNCTION_API.group, version: FUNCTION_API.version, plural: FUNCTION_API.plural },
            ...{ namespace: ns, name, body: { metadata: { finalizers: ["example.dev/keep"] } } },
          },
          setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
        );
        const current = (await store.get({ namespace: ns, name }))!;
        const changed: FunctionResource = {
          ...current,
          metadata: { ...current.metadata, labels: { team: "a" } },
          spec: { ...current.spec, timeout: "10s" },
        };
        const updated = await store.update(changed);
        expect(updated.metadata).toMatchObject({
          generation: 2,
          labels: { team: "a" },
          finalizers: ["example.dev/keep"],
        });
        expect(updated.spec.timeout).toBe("10s");

        step("an update based on the version before is refused");
        await expect(store.update({ ...changed, spec: { ...changed.spec, timeout: "20s" } })).rejects.toThrow(
          ConflictError,
        );
        step("an update without a resourceVersion applies to the latest");
        const { resourceVersion: _ignored, ...metadata } = changed.metadata;
        const latest = await store.update({
          ...changed,
          metadata,
          spec: { ...changed.spec, timeout: "20s" },
        });
        expect(latest.metadata.generation).toBe(3);
        expect(latest.spec.timeout).toBe("20s");
        await expect(store.update(makeFunction("never-made", {}, ns))).rejects.toThrow(FunctionNotFoundError);

        await custom.patchNamespacedCustomObject(
          {
            ...{ group: FUNCTION_API.group, version: FUNCTION_API.version, plural: FUNCTION_API.plural },
            ...{ namespace: ns, name, body: { metadata: { finalizers: null } } },
          },
          setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
        );
      });

      it("maps the API server's refusal (a CEL rule) to an InvalidFunctionError with its field details", async () => {
        const bad = makeFunction("crossed", {}, ns);
        bad.spec = { ...bad.spec, scale: { ...bad.spec.scale, min: 5, max: 1 } };
        const refused = await store.create(bad).then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(refused).toBeInstanceOf(InvalidFunctionError);
        expect((refused as InvalidFunctionError).details.map((d) => d.path)).toContainEqual(
          expect.stringMatching(/^spec\.scale/),
        );
      });

      it("deletes, and a second delete is FunctionNotFoundError", async () => {
        await store.create(makeFunction("doomed", {}, ns));
        await store.delete({ namespace: ns, name: "doomed" });
        expect(await store.get({ namespace: ns, name: "doomed" })).toBeUndefined();
        await expect(store.delete({ namespace: ns, name: "doomed" })).rejects.toThrow(FunctionNotFoundError);
      });

      it("neither reads nor writes namespaces outside its list", async () => {
        const outside = await createNamespace("store-outside");
        await applyRaw(outside, "hidden", { handler: { mode: "module", entry: "h.js" } });
        expect(await store.get({ namespace: outside, name: "hidden" })).toBeUndefined();
        expect(await store.list(outside)).toEqual([]);
        await expect(store.create(makeFunction("new", {}, outside))).rejects.toThrow(
          NamespaceNotWatchedError,
        );
        await expect(store.delete({ namespace: outside, name: "hidden" })).rejects.toThrow(
          FunctionNotFoundError,
        );
      });

      it("watch: every existing Function as put, then synced, then changes and deletes", async () => {
        const watched = await createNamespace("watch");
        const before = await newStore([watched]).create(makeFunction("before", {}, watched));
        const watcher = newStore([watched]);
        const events = watchEvents(watcher);
        await waitFor("the sync", () => events.includes("synced"), { timeoutMs: 30_000 });
        expect(events).toEqual([`put ${watched}/before@1`, "synced"]);

        await watcher.create(makeFunction("after", {}, watched));
        await watcher.update({ ...before, spec: { ...before.spec, timeout: "9s" } });
        await watcher.delete({ namespace: watched, name: "before" });
        await waitFor("three changes", () => events.length === 5, { timeoutMs: 30_000 });
        expect(events.slice(2)).toEqual([
          `put ${watched}/after@1`,
          `put ${watched}/before@2`,
          `delete ${watched}/before`,
        ]);

        step("a second watcher of the same store gets the current state at once");
        const late: string[] = [];
        watcher.watch((event) => late.push(event.type === "put" ? event.function.metadata.name : event.type));
        expect(late).toEqual(["after", "synced"]);
        expect(watcher.informers.healthy()).toBe(true);
      });

      it("skips a Function the API server stored but the gateway's validator rejects, keeping the last valid version", async () => {
        const skew = await createNamespace("skew");
        const watcher = newStore([skew]);
        const events = watchEvents(watcher);
        await waitFor("the sync", () => events.includes("synced"), { timeoutMs: 30_000 });
        const valid = await watcher.create(makeFunction("drifts", {}, skew));
        await waitFor("the valid version", () => events.includes(`put ${skew}/drifts@1`), {
          timeoutMs: 30_000,
        });

        step("a timeout the loosened CRD accepts and api/ validateFunction does not");
        await custom.replaceNamespacedCustomObject({
          ...{ group: FUNCTION_API.group, version: FUNCTION_API.version, plural: FUNCTION_API.plural },
          ...{ namespace: skew, name: "drifts" },
          body: { ...valid, spec: { ...valid.spec, timeout: "soon" } },
        });
        await applyRaw(skew, "never-valid", { handler: { mode: "module", entry: "h.js" }, timeout: "later" });
        await watcher.create(makeFunction("marker", {}, skew));
        await waitFor("the marker", () => events.includes(`put ${skew}/marker@1`), { timeoutMs: 30_000 });
        expect(events).toEqual(["synced", `put ${skew}/drifts@1`, `put ${skew}/marker@1`]);
        expect(await watcher.get({ namespace: skew, name: "never-valid" })).toBeUndefined();
        expect((await watcher.list(skew)).map((fn) => fn.metadata.name)).toEqual(["marker"]);
      });
    });

    describe("EndpointSliceSource", () => {
      let ns: string;

      beforeAll(async () => {
        ns = await createNamespace("slices");
      });

      function newSource(config: KubeConfig = kubeConfig): EndpointSliceSource {
        const source = new EndpointSliceSource({ kubeConfig: config, namespaces: [ns], logger, ...BACKOFF });
        source.start();
        closers.push(() => source.close());
        return source;
      }

      /** The sets a subscriber to `name` gets, as "id host:port state" lines. */
      function subscribe(source: EndpointSliceSource, name: string): string[][] {
        const sets: string[][] = [];
        source.subscribe({ namespace: ns, name }, (endpoints: readonly Endpoint[]) =>
          sets.push(endpoints.map((e) => `${e.id} ${e.host}:${e.port} ${e.state}`)),
        );
        return sets;
      }

      async function createSlice(slice: V1EndpointSlice): Promise<V1EndpointSlice> {
        return discovery.createNamespacedEndpointSlice({ namespace: ns, body: slice });
      }

      it("turns slices into replica sets: ready, terminating and not-ready endpoints, then updates and deletion", async () => {
        const source = newSource();
        const sets = subscribe(source, "hello");
        await source.informers.whenSynced();
        await waitFor("the empty set at sync", () => sets.length === 1);
        expect(sets).toEqual([[]]);

        const created = await createSlice(
          endpointSlice(
            "hello-abc",
            "hello",
            [
              {
                addresses: ["10.88.5.1"],
                pod: "hello-1",
                conditions: { ready: true, serving: true, terminating: false },
              },
              {
                addresses: ["10.88.5.2"],
                pod: "hello-2",
                conditions: { ready: false, serving: true, terminating: true },
              },
              {
                addresses: ["10.88.5.3"],
                pod: "hello-3",
                conditions: { ready: false, serving: false, terminating: false },
              },
            ],
            ns,
          ),
        );
        await waitFor("the three replicas", () => sets.length === 2, { timeoutMs: 30_000 });
        expect(sets[1]).toEqual([
          "hello-1 10.88.5.1:8080 ready",
          "hello-2 10.88.5.2:8080 draining",
          "hello-3 10.88.5.3:8080 starting",
        ]);

        step("hello-3 becomes ready, hello-2 is gone");
        await discovery.replaceNamespacedEndpointSlice({
          name: "hello-abc",
          namespace: ns,
          body: {
            ...created,
            endpoints: [
              {
                addresses: ["10.88.5.1"],
                targetRef: { kind: "Pod", name: "hello-1" },
                conditions: { ready: true },
              },
              {
                addresses: ["10.88.5.3"],
                targetRef: { kind: "Pod", name: "hello-3" },
                conditions: { ready: true },
              },
            ],
          },
        });
        await waitFor("the update", () => sets.length === 3, { timeoutMs: 30_000 });
        expect(sets[2]).toEqual(["hello-1 10.88.5.1:8080 ready", "hello-3 10.88.5.3:8080 ready"]);

        step("a second slice of the same Service adds to the set");
        await createSlice(
          endpointSlice("hello-def", "hello", [{ addresses: ["10.88.5.4"], pod: "hello-4" }], ns),
        );
        await waitFor("the second slice", () => sets.length === 4, { timeoutMs: 30_000 });
        expect(sets[3]).toHaveLength(3);

        await discovery.deleteNamespacedEndpointSlice({ name: "hello-abc", namespace: ns });
        await discovery.deleteNamespacedEndpointSlice({ name: "hello-def", namespace: ns });
        await waitFor("the empty set", () => sets.at(-1)?.length === 0, { timeoutMs: 30_000 });
        expect(source.informers.healthy()).toBe(true);
      });

      it("ignores the slices of Services that are not Flint's", async () => {
        const source = newSource();
        const foreign = endpointSlice("foreign-abc", "foreign", [{ addresses: ["10.88.6.1"], pod: "f" }], ns);
        delete foreign.metadata!.labels!["flint.dev/function"];
        await createSlice(foreign);
        const marker = endpointSlice("marker-abc", "marker", [{ addresses: ["10.88.6.2"], pod: "m" }], ns);
        await createSlice(marker);
        await source.informers.whenSynced();
        await waitFor("the marker", () => source.get({ namespace: ns, name: "marker" }).length === 1, {
          timeoutMs: 30_000,
        });
        expect(source.get({ namespace: ns, name: "foreign" })).toEqual([]);
      });

      it("keeps its sets through an API-server outage, reports it, and catches up afterwards (deletes too)", async () => {
        let proxy: ApiProxy | undefined = await startApiProxy(Number(new URL(cp!.url).port));
        closers.push(() => proxy?.close() ?? Promise.resolve());
        const source = newSource(kubeConfigVia(cp!.kubeconfigPath, proxy.url));
        const sets = subscribe(source, "outage");
        await createSlice(
          endpointSlice("outage-a", "outage", [{ addresses: ["10.88.7.1"], pod: "outage-1" }], ns),
        );
        await waitFor("the first replica", () => sets.at(-1)?.length === 1, { timeoutMs: 30_000 });
        expect(source.informers.healthy()).toBe(true);

        step("the API server becomes unreachable for the source");
        await proxy.cut();
        await waitFor("the informer to report failure", () => !source.informers.healthy(), {
          timeoutMs: 30_000,
        });
        expect(source.informers.failingSinceMs()).toBeDefined();
        expect(sets.at(-1)).toEqual(["outage-1 10.88.7.1:8080 ready"]);
        await discovery.deleteNamespacedEndpointSlice({ name: "outage-a", namespace: ns });
        await createSlice(
          endpointSlice("outage-b", "outage", [{ addresses: ["10.88.7.2"], pod: "outage-2" }], ns),
        );

        step("reachable again");
        await proxy.restore();
        await waitFor(
          "the changes made during the outage",
          () => sets.at(-1)?.join() === "outage-2 10.88.7.2:8080 ready",
          { timeoutMs: 30_000 },
        );
        await waitFor("health", () => source.informers.healthy(), { timeoutMs: 30_000 });
        await proxy.close();
        proxy = undefined;
      }, 90_000);
    });

    describe("a gateway on the Kubernetes adapters", () => {
      let ns: string;
      let nats: TestServer;
      let replica: ReplicaProcess | undefined;
      /** Where the watchdog listens: an address a slice may hold, inside the run's own namespace. */
      let host: string | undefined;

      beforeAll(async () => {
        ns = await createNamespace("gateway");
        nats = await startNats();
        closers.push(() => nats.close());
        const address = await sliceableTestAddress();
        if (address === undefined) {
          process.stderr.write(
            "\n*** NOTE: not inside the test run's network namespace (e2e/cluster/run.sh): the gateway tests check the replica reaches the pool but make no call through it\n\n",
          );
          return;
        }
        host = address.ip;
        closers.push(address.release);
        replica = await startReplica("kube-replica", { env: { FLINT_HOST: host } });
        closers.push(() => replica!.stop());
      }, 60_000);

      /** A slice naming the watchdog (or a placeholder address when it cannot be named). */
      function replicaSlice(service: string): V1EndpointSlice {
        return endpointSlice(
          `${service}-abc`,
          service,
          [{ addresses: [host ?? "10.88.8.1"], pod: `${service}-pod`, conditions: { ready: true } }],
          ns,
          replica?.port ?? 8080,
        );
      }

      it("routes a call to the replica an EndpointSlice names, and reports demand on NATS", async () => {
        const platform: KubernetesPlatform = await openKubernetesPlatform({
          kubeConfig,
          config: loadKubernetesConfig({ NATS_URL: nats.url, FLINT_NAMESPACES: ns }),
          logger,
          name: "gateway-test",
          ...BACKOFF,
        });
        closers.push(() => platform.close());
        const gateway: Gateway = createGateway(
          { ...platform, logger },
          loadConfig({ FLINT_GATEWAY_PORT: "0", FLINT_AUTH_TOKEN: TOKEN, FLINT_DEFAULT_NAMESPACE: ns }),
        );
        closers.push(() => gateway.close());
        const { port } = await gateway.listen();
        const url = `http://127.0.0.1:${port}`;
        await waitFor("the gateway to be ready", () => gateway.ready() && platform.ready(), {
          timeoutMs: 30_000,
        });

        const autoscaler: NatsBus = await connectNatsBus(nats.url, { logger, name: "autoscaler-test" });
        closers.push(() => autoscaler.close());
        const samples: ConcurrencySample[] = [];
        autoscaler.onConcurrency((sample) => samples.push(sample));

        step("POST /system/functions writes the Function CR");
        const manifest = makeFunction("routed", {}, ns);
        const created = await call(`${url}/system/functions`, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({
            apiVersion: manifest.apiVersion,
            kind: manifest.kind,
            metadata: manifest.metadata,
            spec: manifest.spec,
          }),
        });
        expect(created.status).toBe(201);
        const stored = (await custom.getNamespacedCustomObject({
          ...{ group: FUNCTION_API.group, version: FUNCTION_API.version, plural: FUNCTION_API.plural },
          ...{ namespace: ns, name: "routed" },
        })) as FunctionResource;
        expect(stored.spec.handler).toEqual(manifest.spec.handler);

        step("the slice naming the replica reaches the function's pool");
        await discovery.createNamespacedEndpointSlice({ namespace: ns, body: replicaSlice("routed") });
        const ref = { namespace: ns, name: "routed" };
        await waitFor("the replica in the pool", () => gateway.snapshot(ref)?.replicas.length === 1, {
          timeoutMs: 30_000,
        });
        expect(gateway.snapshot(ref)?.replicas[0]).toMatchObject({ id: "routed-pod", state: "ready" });

        if (host !== undefined) {
          const reply = await call(`${url}/function/routed.${ns}/hi`);
          expect(reply.status).toBe(200);
          expect(reply.headers["x-replica"]).toBe("kube-replica");
          await waitFor(
            "a sample for the call",
            () => samples.some((s) => s.function === `${ns}/routed` && s.requests > 0),
            { timeoutMs: 30_000 },
          );
        }

        step("deleting the Function CR removes the route");
        await custom.deleteNamespacedCustomObject({
          ...{ group: FUNCTION_API.group, version: FUNCTION_API.version, plural: FUNCTION_API.plural },
          ...{ namespace: ns, name: "routed" },
        });
        await waitFor("the route to go", () => gateway.snapshot(ref) === undefined, { timeoutMs: 30_000 });
        expect((await call(`${url}/function/routed.${ns}`)).status).toBe(404);
      }, 90_000);

      it("the gateway process: FLINT_PLATFORM=kubernetes becomes ready, routes, and exits 0 on SIGTERM", async () => {
        await applyRaw(ns, "main", { handler: { mode: "module", entry: "handler.mjs" } });
        await discovery.createNamespacedEndpointSlice({ namespace: ns, body: replicaSlice("main") });
        const child = spawn(process.execPath, [GATEWAY_MAIN], {
          env: {
            PATH: process.env["PATH"],
            FLINT_PLATFORM: "kubernetes",
            KUBECONFIG: cp!.kubeconfigPath,
            NATS_URL: nats.url,
            FLINT_NAMESPACES: ns,
            FLINT_GATEWAY_PORT: "0",
            FLINT_AUTH_TOKEN: TOKEN,
            FLINT_LOG_LEVEL: "info",
          },
          stdio: ["ignore", "pipe", "pipe"],
        });
        const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
        closers.push(async () => {
          child.kill("SIGKILL");
          await exited;
        });
        let stderr = "";
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        const port = await new Promise<number>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`no "listening" line within 30 s:\n${stderr}`)),
            30_000,
          );
          createInterface({ input: child.stdout }).on("line", (line) => {
            const entry = JSON.parse(line) as { msg?: string; port?: number };
            if (entry.msg === "listening" && entry.port !== undefined) {
              clearTimeout(timer);
              resolve(entry.port);
            }
          });
          void exited.then((code) => reject(new Error(`the gateway exited with ${code}:\n${stderr}`)));
        });
        const url = `http://127.0.0.1:${port}`;
        await waitFor("/readyz", async () => (await call(`${url}/readyz`)).status === 200, {
          timeoutMs: 30_000,
        });
        const info = JSON.parse(
          (await call(`${url}/system/info`, { headers: { authorization: `Bearer ${TOKEN}` } })).body,
        ) as {
          platform: string;
          functions: number;
        };
        expect(info).toMatchObject({ platform: "kubernetes", functions: 1 });
        if (host !== undefined) {
          const reply = await call(`${url}/function/main.${ns}`);
          expect(reply.status).toBe(200);
          expect(reply.headers["x-replica"]).toBe("kube-replica");
        }
        child.kill("SIGTERM");
        expect(await exited).toBe(0);
      }, 90_000);

      it("the gateway process refuses FLINT_PLATFORM=kubernetes without NATS_URL, naming it", async () => {
        const child = spawn(process.execPath, [GATEWAY_MAIN], {
          env: {
            ...{ PATH: process.env["PATH"], FLINT_PLATFORM: "kubernetes", KUBECONFIG: cp!.kubeconfigPath },
            FLINT_AUTH_TOKEN: TOKEN,
          },
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stderr = "";
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        expect(await new Promise((resolve) => child.once("exit", resolve))).toBe(1);
        expect(stderr).toMatch(/NATS_URL is required when FLINT_PLATFORM=kubernetes/);
      }, 30_000);
    });
  },
);
