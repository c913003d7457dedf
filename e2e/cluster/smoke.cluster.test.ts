// Smoke test of the whole harness: a real control plane in the run's network namespace and the
// process kubelet run a Deployment of the hello example as pods with their own addresses.
// Runs only through e2e/cluster/run.sh (root, a network namespace); elsewhere it is skipped, loudly.
import { readFileSync } from "node:fs";
import { join } from "node:path";

import {
  AppsV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Container,
  type V1Pod,
} from "@kubernetes/client-node";

import { call, processGone, waitFor } from "../../testing/watchdog.js";
import { startControlPlane, type ControlPlane } from "../../testing/control-plane.js";
import { startKubelet, type Kubelet } from "./kubelet.js";
import { NETWORK } from "../../testing/network.js";
import { describeUnless, namespaceSkipReason, step, uniqueName } from "../../testing/cluster.js";

const HELLO_IMAGE = "ghcr.io/flint-dev/flint-example-hello:e2e";

/** A container of the hello example as the controller would make it, plus `extra`. */
function helloContainer(extra: Partial<V1Container> = {}): V1Container {
  return {
    name: "function",
    image: HELLO_IMAGE,
    ports: [{ name: "http", containerPort: 8080 }],
    ...extra,
    env: [
      { name: "FLINT_MODE", value: "module" },
      { name: "FLINT_ENTRY", value: "handler.js" },
      { name: "FLINT_PORT", value: "8080" },
      ...(extra.env ?? []),
    ],
  };
}

describeUnless(namespaceSkipReason())("process kubelet on a real control plane (network namespace)", () => {
  let cp: ControlPlane | undefined;
  let kubelet: Kubelet | undefined;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let discovery: DiscoveryV1Api;
  const namespace = uniqueName("smoke");

  afterAll(async () => {
    await kubelet?.stop();
    await cp?.stop();
  }, 60_000);

  beforeAll(async () => {
    const started = performance.now();
    cp = await startControlPlane({ network: "namespace", log: step });
    step(`control plane ready in ${((performance.now() - started) / 1000).toFixed(1)}s at ${cp.url}`);
    kubelet = await startKubelet({ kubeconfigPath: cp.kubeconfigPath, caPem: cp.caPem, log: step });
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cp.kubeconfigPath);
    core = kubeConfig.makeApiClient(CoreV1Api);
    apps = kubeConfig.makeApiClient(AppsV1Api);
    discovery = kubeConfig.makeApiClient(DiscoveryV1Api);
    step(`creating namespace ${namespace}`);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    // The ServiceAccount admission plugin refuses pods until kube-controller-manager made "default".
    await waitFor(
      "the default ServiceAccount",
      async () => {
        await core.readNamespacedServiceAccount({ name: "default", namespace });
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  }, 120_000);

  /** On a failure, the pods' logs say why; printed by the test that failed. */
  const podLogs = (pods: V1Pod[]): string =>
    pods
      .flatMap((pod) =>
        (pod.spec?.containers ?? []).map((container) => {
          const path = kubelet!.logPath(namespace, pod.metadata!.name!, container.name);
          let text = "";
          try {
            text = readFileSync(path, "utf8");
          } catch {
            text = "(no log)";
          }
          return `--- ${pod.metadata!.name}/${container.name}\n${text}`;
        }),
      )
      .join("\n");

  const helloPods = async (): Promise<V1Pod[]> =>
    (await core.listNamespacedPod({ namespace, labelSelector: "app=hello" })).items;
  const isReady = (pod: V1Pod): boolean =>
    pod.status?.phase === "Running" &&
    pod.status.conditions?.some((condition) => condition.type === "Ready" && condition.status === "True") ===
      true;
  const pidOf = (pod: V1Pod): number =>
    Number(/^process:\/\/(\d+)$/.exec(pod.status?.containerStatuses?.[0]?.containerID ?? "")?.[1]);

  it("runs a 2-replica Deployment behind a Service, restarts a killed container, scales to 0 and garbage-collects", async () => {
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: "creds" }, stringData: { password: "s3cret" } },
    });

    step("creating Deployment hello (2 replicas) and Service hello");
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: "hello" },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: "hello" } },
          template: {
            metadata: { labels: { app: "hello" } },
            spec: {
              terminationGracePeriodSeconds: 5,
              containers: [
                helloContainer({
                  env: [
                    { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
                    { name: "PASSWORD", valueFrom: { secretKeyRef: { name: "creds", key: "password" } } },
                  ],
                  volumeMounts: [{ name: "creds", mountPath: "/var/flint/secrets/creds", readOnly: true }],
                  readinessProbe: { httpGet: { path: "/_/ready", port: "http" }, periodSeconds: 1 },
                }),
              ],
              volumes: [{ name: "creds", secret: { secretName: "creds" } }],
            },
          },
        },
      },
    });
    await core.createNamespacedService({
      namespace,
      body: {
        metadata: { name: "hello" },
        spec: { selector: { app: "hello" }, ports: [{ port: 80, targetPort: "http" }] },
      },
    });

    step("waiting for 2 pods Running and Ready");
    let pods: V1Pod[] = [];
    await waitFor(
      "2 ready hello pods",
      async () => {
        pods = await helloPods();
        return pods.length === 2 && pods.every(isReady);
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    ).catch(async (error: unknown) => {
      throw new Error(
        `${String(error)}\npods: ${JSON.stringify(pods.map((pod) => pod.status))}\n${podLogs(await helloPods())}`,
      );
    });
    const ips = pods.map((pod) => pod.status!.podIP!).sort();
    step(`pods ready at ${ips.join(", ")}`);
    expect(new Set(ips).size).toBe(2);
    for (const ip of ips) {
      expect(ip.startsWith("10.88.1.")).toBe(true);
      expect(ip.startsWith("127.")).toBe(false);
    }
    for (const pod of pods) {
      expect(pod.status?.hostIP).toBe(NETWORK.nodeIP);
      expect(pod.spec?.nodeName).toBe(kubelet!.nodeName);
      const statuses = pod.status?.containerStatuses ?? [];
      expect(statuses).toEqual([expect.objectContaining({ name: "function", ready: true, restartCount: 0 })]);
    }

    step("checking a pod's env and mounted secret");
    const environ = readFileSync(`/proc/${pidOf(pods[0]!)}/environ`, "utf8").split("\0");
    const variable = (name: string): string | undefined =>
      environ.find((entry) => entry.startsWith(`${name}=`))?.slice(name.length + 1);
    expect(variable("POD_IP")).toBe(pods[0]!.status!.podIP);
    expect(variable("FLINT_HOST")).toBe(pods[0]!.status!.podIP);
    expect(variable("PASSWORD")).toBe("s3cret");
    expect(readFileSync(join(variable("FLINT_SECRETS_DIR")!, "creds", "password"), "utf8")).toBe("s3cret");
    expect(readFileSync(variable("KUBECONFIG")!, "utf8")).toContain(cp!.url);

    step("checking the EndpointSlice of Service hello");
    await waitFor(
      "an EndpointSlice with both ready addresses",
      async () => {
        const slices = await discovery.listNamespacedEndpointSlice({
          namespace,
          labelSelector: "kubernetes.io/service-name=hello",
        });
        const ready = slices.items
          .flatMap((slice) => slice.endpoints)
          .filter((endpoint) => endpoint.conditions?.ready === true)
          .flatMap((endpoint) => endpoint.addresses)
          .sort();
        return JSON.stringify(ready) === JSON.stringify(ips);
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );

    step("calling each pod over HTTP");
    for (const ip of ips) {
      const reply = await call(`http://${ip}:8080/?name=${ip}`);
      expect(reply).toMatchObject({ status: 200, body: `Hello, ${ip}!\n` });
    }

    step("calling Service hello by name (namespace hosts file → ClusterIP → service proxy)");
    await waitFor(
      "an answer through the Service",
      async () => {
        const reply = await call(`http://hello.${namespace}.svc/?name=service`);
        return reply.status === 200 && reply.body === "Hello, service!\n";
      },
      { timeoutMs: 15_000, intervalMs: 250 },
    );

    step("killing one pod's process: restartPolicy Always restarts it");
    const victim = pods[0]!;
    const victimPid = pidOf(victim);
    process.kill(victimPid, "SIGKILL");
    await waitFor(
      "the container restarted and ready again",
      async () => {
        const pod = await core.readNamespacedPod({ name: victim.metadata!.name!, namespace });
        const status = pod.status?.containerStatuses?.[0];
        return status?.restartCount === 1 && status.ready && pidOf(pod) !== victimPid;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect((await call(`http://${victim.status!.podIP}:8080/`)).body).toBe("Hello, world!\n");

    step("scaling to 0");
    const pidsBefore = (await helloPods()).map(pidOf);
    await apps.patchNamespacedDeploymentScale(
      { name: "hello", namespace, body: { spec: { replicas: 0 } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    await waitFor("no hello pods", async () => (await helloPods()).length === 0, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    expect(pidsBefore.filter((pid) => !processGone(pid))).toEqual([]);
    await expect(call(`http://${ips[0]}:8080/`)).rejects.toThrow(); // the address is gone from lo

    step("deleting the Deployment: its ReplicaSet is garbage-collected");
    expect((await apps.listNamespacedReplicaSet({ namespace })).items.length).toBe(1);
    await apps.deleteNamespacedDeployment({ name: "hello", namespace, propagationPolicy: "Background" });
    await waitFor(
      "no ReplicaSets",
      async () => (await apps.listNamespacedReplicaSet({ namespace })).items.length === 0,
      {
        timeoutMs: 30_000,
        intervalMs: 250,
      },
    );
  }, 180_000);

  it("runs two http-mode replicas side by side: each upstream server gets a port of its own", async () => {
    step("creating Deployment counter (http-counter example, 2 replicas)");
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: "counter" },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: "counter" } },
          template: {
            metadata: { labels: { app: "counter" } },
            spec: {
              automountServiceAccountToken: false,
              terminationGracePeriodSeconds: 5,
              containers: [
                {
                  name: "function",
                  image: "ghcr.io/flint-dev/flint-example-http-counter:e2e",
                  ports: [{ name: "http", containerPort: 8080 }],
                  env: [
                    { name: "FLINT_MODE", value: "http" },
                    { name: "FLINT_COMMAND", value: '["node","server.js"]' },
                    // What the controller sets; the kubelet overrides it per pod.
                    { name: "FLINT_UPSTREAM_PORT", value: "8081" },
                    { name: "FLINT_PORT", value: "8080" },
                  ],
                  readinessProbe: { httpGet: { path: "/_/ready", port: "http" }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      },
    });
    let pods: V1Pod[] = [];
    const counterPods = async (): Promise<V1Pod[]> =>
      (await core.listNamespacedPod({ namespace, labelSelector: "app=counter" })).items;
    await waitFor(
      "2 ready counter pods",
      async () => {
        pods = await counterPods();
        return pods.length === 2 && pods.every(isReady);
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    ).catch(async (error: unknown) => {
      throw new Error(`${String(error)}\n${podLogs(await counterPods())}`);
    });
    for (const pod of pods) {
      const reply = await call(`http://${pod.status!.podIP}:8080/`);
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body)).toMatchObject({ count: 1 });
    }
    await apps.deleteNamespacedDeployment({ name: "counter", namespace });
    await waitFor("no counter pods", async () => (await counterPods()).length === 0, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
  }, 120_000);

  it("restarts a container whose liveness probe fails", async () => {
    const name = uniqueName("unhealthy");
    step(`creating pod ${name} whose liveness probe asks for a path the watchdog answers 404`);
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name },
        spec: {
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 2,
          containers: [
            helloContainer({
              livenessProbe: {
                httpGet: { path: "/_/missing", port: "http" },
                periodSeconds: 1,
                failureThreshold: 2,
              },
            }),
          ],
        },
      },
    });
    await waitFor(
      "a restart with the killed container in lastState",
      async () => {
        const status = (await core.readNamespacedPod({ name, namespace })).status?.containerStatuses?.[0];
        return (status?.restartCount ?? 0) >= 1 && status?.lastState?.terminated !== undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    await core.deleteNamespacedPod({ name, namespace });
  }, 60_000);

  it("leaves a container with an unknown image Waiting with ErrImagePull, and deletes its pod", async () => {
    const name = uniqueName("unknown");
    step(`creating pod ${name} with an image that has no local command`);
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name },
        spec: {
          automountServiceAccountToken: false,
          containers: [{ name: "main", image: "example.com/nothing:1" }],
        },
      },
    });
    let waiting: { reason?: string; message?: string } | undefined;
    await waitFor(
      "the container Waiting",
      async () => {
        const pod = await core.readNamespacedPod({ name, namespace });
        waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
        return waiting?.reason === "ErrImagePull" && pod.status?.phase === "Pending";
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(waiting?.message).toContain("example.com/nothing:1 has no local command");
    await core.deleteNamespacedPod({ name, namespace });
    await waitFor(
      "the pod gone",
      async () =>
        (await core.listNamespacedPod({ namespace, fieldSelector: `metadata.name=${name}` })).items.length ===
        0,
      {
        timeoutMs: 15_000,
        intervalMs: 250,
      },
    );
  }, 60_000);
});
