// The loopback control plane (etcd + kube-apiserver on 127.0.0.1, no root, no pods) that the
// controller's integration tests use: it starts, serves the API with RBAC on, and stops cleanly.
import { existsSync } from "node:fs";

import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";

import { processGone, waitFor } from "../../testing/watchdog.js";
import { httpsGet, startControlPlane, type ControlPlane } from "../../testing/control-plane.js";
import { binariesSkipReason, describeUnless, step, uniqueName } from "../../testing/cluster.js";

describeUnless(binariesSkipReason())("control plane, loopback mode (API server only)", () => {
  let cp: ControlPlane | undefined;

  afterAll(async () => {
    await cp?.stop();
  }, 60_000);

  beforeAll(async () => {
    const started = performance.now();
    cp = await startControlPlane({ users: [{ name: "alice" }], log: step });
    step(`control plane ready in ${((performance.now() - started) / 1000).toFixed(1)}s at ${cp.url}`);
  }, 90_000);

  it("serves the API to the admin: a namespace and a ConfigMap in it", async () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cp!.kubeconfigPath);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const namespace = uniqueName("api");
    step(`creating namespace ${namespace} and a ConfigMap`);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: "settings" }, data: { greeting: "hello" } },
    });
    const read = await core.readNamespacedConfigMap({ name: "settings", namespace });
    expect(read.data).toEqual({ greeting: "hello" });
    expect(new URL(cp!.url).hostname).toBe("127.0.0.1");
  });

  it("authorises with RBAC: a user without bindings gets 403, then 200 once bound", async () => {
    const alice = cp!.tokens["alice"]!;
    const path = `${cp!.url}/api/v1/namespaces/default/configmaps`;
    const denied = await httpsGet(path, cp!.caPem, alice);
    expect(denied.status).toBe(403);
    expect(denied.body).toContain('User \\"alice\\" cannot list resource \\"configmaps\\"');
    expect((await httpsGet(path, cp!.caPem, "not-a-token")).status).toBe(401);

    // A Role of our own: the built-in view ClusterRole is aggregated, and the aggregation
    // controller (kube-controller-manager) does not run in this mode.
    step("granting alice list on configmaps in default");
    expect(
      await cp!.kubectl([
        "create",
        "role",
        "cm-reader",
        "--verb=list",
        "--resource=configmaps",
        "-n",
        "default",
      ]),
    ).toMatchObject({ code: 0 });
    expect(
      await cp!.kubectl([
        "create",
        "rolebinding",
        "alice-cm-reader",
        "--role=cm-reader",
        "--user=alice",
        "-n",
        "default",
      ]),
    ).toMatchObject({ code: 0 });
    // The authorizer learns of the binding through a watch: poll with a deadline.
    await waitFor("alice allowed", async () => (await httpsGet(path, cp!.caPem, alice)).status === 200, {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    const canI = await cp!.kubectl(["auth", "can-i", "list", "configmaps", "-n", "default", "--as=alice"]);
    expect(canI.stdout.trim()).toBe("yes");
    const cannot = await cp!.kubectl([
      "auth",
      "can-i",
      "delete",
      "configmaps",
      "-n",
      "default",
      "--as=alice",
    ]);
    expect(cannot.stdout.trim()).toBe("no");
  });

  it("stops every process and removes its directory", async () => {
    const dir = cp!.dir;
    const running = cp!.pids();
    expect(Object.keys(running).sort()).toEqual(["etcd", "kube-apiserver"]);
    const pids = Object.values(running);
    await cp!.stop();
    expect(pids.filter((pid) => !processGone(pid))).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });
});
