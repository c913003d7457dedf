// The real node itself, before Flint is on it: a pod from a local image becomes Ready, its log and
// `kubectl exec` work through the API server, kubelet and containerd, a Service name resolves in
// CoreDNS and its ClusterIP routes through kube-proxy, and stopping the node leaves no pod process.
// Runs only through e2e/cluster/run.sh (root, a network namespace); elsewhere it is skipped, loudly.
import { existsSync, readdirSync } from "node:fs";

import { CoreV1Api, KubeConfig, type V1Pod } from "@kubernetes/client-node";

import { describeUnless, namespaceSkipReason, step, uniqueName } from "../../../testing/cluster.js";
import { startControlPlane, type ControlPlane } from "../../../testing/control-plane.js";
import { waitFor } from "../../../testing/watchdog.js";
import { PAUSE_IMAGE } from "./config.js";
import { archivesOf } from "./images.js";
import { startRealNode, type RealNode } from "./real-node.js";

const REDIS = "localhost/flint-e2e/redis:7";

describeUnless(namespaceSkipReason())(
  "the real node: kubelet, containerd, runc, CNI, kube-proxy, CoreDNS",
  () => {
    let cp: ControlPlane | undefined;
    let node: RealNode | undefined;
    let core: CoreV1Api;
    const namespace = uniqueName("node");

    beforeAll(async () => {
      cp = await startControlPlane({ network: "namespace", log: step });
      node = await startRealNode({
        kubeconfigPath: cp.kubeconfigPath,
        binDir: cp.binDir,
        archives: archivesOf([PAUSE_IMAGE, REDIS]),
        log: step,
      });
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(cp.kubeconfigPath);
      core = kubeConfig.makeApiClient(CoreV1Api);
      await core.createNamespace({ body: { metadata: { name: namespace } } });
    }, 150_000);

    afterAll(async () => {
      await node?.stop();
      await cp?.stop();
    }, 60_000);

    const ready = (pod: V1Pod): boolean =>
      pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;

    it("runs a pod from a local image: Ready with an address on the bridge, its log readable", async () => {
      const created = Date.now();
      await core.createNamespacedPod({
        namespace,
        body: {
          metadata: { name: "redis", labels: { app: "redis" } },
          spec: {
            containers: [
              {
                name: "redis",
                image: REDIS,
                imagePullPolicy: "Never",
                command: ["redis-server"],
                args: ["--save", "", "--appendonly", "no"],
                ports: [{ containerPort: 6379, name: "redis" }],
                readinessProbe: { tcpSocket: { port: 6379 }, periodSeconds: 1 },
                securityContext: {
                  runAsUser: 999,
                  readOnlyRootFilesystem: true,
                  allowPrivilegeEscalation: false,
                },
              },
            ],
          },
        },
      });
      await core.createNamespacedService({
        namespace,
        body: {
          metadata: { name: "redis" },
          spec: { selector: { app: "redis" }, ports: [{ port: 6379, targetPort: 6379 }] },
        },
      });
      let pod: V1Pod | undefined;
      await waitFor(
        "the redis pod Ready",
        async () => {
          pod = await core.readNamespacedPod({ name: "redis", namespace });
          return ready(pod);
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}\n${JSON.stringify(pod?.status)}\n${node!.diagnosis()}`);
      });
      step(`redis pod Ready ${Date.now() - created} ms after it was created, at ${pod!.status!.podIP}`);
      expect(pod!.spec!.nodeName).toBe(node!.nodeName);
      expect(pod!.status!.podIP).toMatch(/^10\.88\.2\.\d+$/);
      expect(node!.readLog(namespace, "redis", "redis")).toMatch(/Ready to accept connections/);
    }, 90_000);

    it("kubectl exec runs in the container, as its user, with the cluster's DNS", async () => {
      const whoami = await cp!.kubectl([
        "exec",
        "-n",
        namespace,
        "redis",
        "--",
        "sh",
        "-c",
        "id -u; cat /etc/resolv.conf",
      ]);
      expect(whoami).toMatchObject({ code: 0 });
      const [uid, ...resolv] = whoami.stdout.split("\n");
      expect(uid).toBe("999");
      expect(resolv.join("\n")).toMatch(/^nameserver 10\.88\.0\.3$/m);
      expect(resolv.join("\n")).toMatch(new RegExp(`^search ${namespace}\\.svc\\.cluster\\.local `, "m"));
    }, 30_000);

    it("a Service name resolves in CoreDNS and its ClusterIP answers through kube-proxy", async () => {
      // redis-cli in the pod talks to the Service by name: DNS, then the iptables NAT to the pod itself
      // (a hairpin through the bridge).
      let reply = { code: -1, stdout: "", stderr: "" };
      await waitFor(
        "PING through the Service",
        async () => {
          reply = await cp!.kubectl([
            "exec",
            "-n",
            namespace,
            "redis",
            "--",
            "timeout",
            "3",
            "redis-cli",
            "-h",
            "redis",
            "ping",
          ]);
          return reply.code === 0 && reply.stdout.trim() === "PONG";
        },
        { timeoutMs: 20_000, intervalMs: 500 },
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}: ${JSON.stringify(reply)}\n${node!.diagnosis()}`);
      });
      const service = await core.readNamespacedService({ name: "redis", namespace });
      step(`redis.${namespace} → ${service.spec!.clusterIP} answered PONG`);
    }, 40_000);

    it("stopping the node ends every pod process and removes its cgroups", async () => {
      const { cgroupRoot } = node!.layout;
      const pidsCgroup = `/sys/fs/cgroup/pids${cgroupRoot}`;
      expect(existsSync(pidsCgroup)).toBe(true);
      await node!.stop();
      expect(
        existsSync(pidsCgroup) ? readdirSync(pidsCgroup).filter((name) => !name.includes(".")) : [],
      ).toEqual([]);
      expect(existsSync(pidsCgroup)).toBe(false);
    }, 60_000);
  },
);
