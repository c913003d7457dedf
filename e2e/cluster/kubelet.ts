// The process kubelet: registers a Node, renews its Lease, and runs the pods the scheduler binds to
// it as local processes (one PodRunner each). Must run inside the network namespace run.sh makes.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import {
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  ListWatch,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type V1Node,
  type V1Pod,
} from "@kubernetes/client-node";

import { REPO_ROOT } from "../../testing/watchdog.js";
import { addLoopbackAddress, currentNetns, NETWORK, PodAddressPool } from "../../testing/network.js";
import type { PodSources } from "./pod-config.js";
import { isStatus, PodRunner } from "./pod-runner.js";
import { forgetOnExit, removeOnExit } from "../../testing/processes.js";
import { startServiceProxy, type ServiceProxy } from "./service-proxy.js";

export interface KubeletOptions {
  /** Admin credentials of the control plane (the kubelet does not use a node identity). */
  kubeconfigPath: string;
  /** PEM of the API server's CA, for the pods' in-cluster kubeconfig. */
  caPem: string;
  /** Default `flint-node`. */
  nodeName?: string;
  /** Default {@link NETWORK.nodeIP}; added to `lo`. */
  nodeIP?: string;
  /** Default {@link NETWORK.podCidr}. */
  podCidr?: string;
  /** Where Flint's dist/ and examples/ are. Default: this checkout. */
  repoRoot?: string;
  /** Lease renewal period in ms. Default 10 s (the lease lasts 40 s). */
  leaseRenewMs?: number;
  /** Base container restart back-off in ms, doubled per restart up to 32×. Default 1 s. */
  restartBackoffMs?: number;
  /** Proxy Service ClusterIPs and write Service names to the namespace's hosts file. Default true. */
  serviceProxy?: boolean;
  /** Progress lines. Default: none. */
  log?: (line: string) => void;
}

export interface Kubelet {
  readonly nodeName: string;
  readonly nodeIP: string;
  /** Directory of container logs (`<namespace>_<pod>_<container>.log`), kept until stop(). */
  readonly logDir: string;
  logPath(namespace: string, pod: string, container: string): string;
  /** Stops watching, kills every pod's processes at once and removes the work dir. */
  stop(): Promise<void>;
}

/**
 * Starts a process kubelet: the Node is registered and Ready when this resolves. Refuses to run
 * outside the network namespace named by FLINT_E2E_NETNS, since it adds addresses to `lo`.
 */
export async function startKubelet(options: KubeletOptions): Promise<Kubelet> {
  const expected = process.env["FLINT_E2E_NETNS"];
  const actual = await currentNetns();
  if (expected === undefined || expected === "" || actual !== expected) {
    throw new Error(
      `the process kubelet adds addresses to lo, so it runs only inside the namespace e2e/cluster/run.sh makes ` +
        `(FLINT_E2E_NETNS=${JSON.stringify(expected)}, current namespace ${JSON.stringify(actual)})`,
    );
  }
  const log = options.log ?? ((): void => undefined);
  const nodeName = options.nodeName ?? "flint-node";
  const nodeIP = options.nodeIP ?? NETWORK.nodeIP;
  await addLoopbackAddress(nodeIP);

  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(options.kubeconfigPath);
  const apiServerUrl = kubeConfig.getCurrentCluster()?.server ?? "";
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const coordination = kubeConfig.makeApiClient(CoordinationV1Api);
  const workDir = mkdtempSync(join(tmpdir(), "flint-kubelet-"));
  removeOnExit(workDir);
  const logDir = join(workDir, "logs");
  mkdirSync(logDir);
  const logPath = (namespace: string, pod: string, container: string): string =>
    join(logDir, `${namespace}_${pod}_${container}.log`);

  await registerNode(core, nodeName, nodeIP, options.podCidr ?? NETWORK.podCidr);
  const renewLease = leaseRenewer(coordination, nodeName);
  await renewLease();
  const leaseTimer = setInterval(
    () => void renewLease().catch((error: unknown) => log(`lease: ${String(error)}`)),
    options.leaseRenewMs ?? 10_000,
  );
  log(`node ${nodeName} (${nodeIP}) registered`);

  const sources: PodSources = {
    secret: (namespace, name) => readOrUndefined(() => core.readNamespacedSecret({ name, namespace })),
    configMap: (namespace, name) => readOrUndefined(() => core.readNamespacedConfigMap({ name, namespace })),
    async serviceAccountToken(pod, audience, expirationSeconds) {
      const reply = await core.createNamespacedServiceAccountToken({
        name: pod.spec?.serviceAccountName ?? "default",
        namespace: pod.metadata?.namespace ?? "default",
        body: {
          spec: {
            audiences: audience === undefined ? [] : [audience],
            expirationSeconds,
            boundObjectRef: {
              apiVersion: "v1",
              kind: "Pod",
              name: pod.metadata?.name,
              uid: pod.metadata?.uid,
            },
          },
        },
      });
      return reply.status?.token ?? "";
    },
  };
  const runners = new Map<string, PodRunner>();
  const context = {
    core,
    sources,
    addresses: new PodAddressPool(options.podCidr ?? NETWORK.podCidr),
    nodeIP,
    repoRoot: options.repoRoot ?? REPO_ROOT,
    workDir,
    logPath,
    apiServer: { url: apiServerUrl, caPem: options.caPem },
    restartBackoffMs: options.restartBackoffMs ?? 1000,
    log,
  };

  const onPod = (pod: V1Pod): void => {
    const uid = pod.metadata?.uid ?? "";
    const phase = pod.status?.phase;
    let runner = runners.get(uid);
    if (runner === undefined) {
      // A finished pod left over from earlier, or one deleted before it started: nothing to run.
      if (phase === "Succeeded" || phase === "Failed") return;
      runner = new PodRunner(pod, context);
      runners.set(uid, runner);
      runner.update(pod);
      void runner
        .start()
        .catch((error: unknown) =>
          log(`${pod.metadata?.namespace}/${pod.metadata?.name}: start failed: ${String(error)}`),
        );
      return;
    }
    runner.update(pod);
  };
  const onPodDeleted = (pod: V1Pod): void => {
    const uid = pod.metadata?.uid ?? "";
    const runner = runners.get(uid);
    runners.delete(uid);
    void runner?.forget();
  };

  const fieldSelector = `spec.nodeName=${nodeName}`;
  const informer = new ListWatch<V1Pod>(
    "/api/v1/pods",
    new Watch(kubeConfig),
    () => core.listPodForAllNamespaces({ fieldSelector }),
    false,
    undefined,
    fieldSelector,
  );
  informer.on("add", onPod);
  informer.on("update", onPod);
  informer.on("delete", onPodDeleted);
  let stopped = false;
  // An informer error stops it: restart with a capped back-off.
  let backoffMs = 200;
  informer.on("error", (error: unknown) => {
    if (stopped) return;
    log(`pod watch failed (${String(error)}); restarting in ${backoffMs}ms`);
    setTimeout(() => {
      if (!stopped) void informer.start().catch(() => undefined);
    }, backoffMs);
    backoffMs = Math.min(backoffMs * 2, 5000);
  });
  informer.on("connect", () => {
    backoffMs = 200;
  });
  await informer.start();
  const serviceProxy: ServiceProxy | undefined =
    options.serviceProxy === false
      ? undefined
      : await startServiceProxy({ kubeconfigPath: options.kubeconfigPath, log });

  return {
    nodeName,
    nodeIP,
    logDir,
    logPath,
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      clearInterval(leaseTimer);
      await informer.stop();
      await serviceProxy?.stop();
      await Promise.all([...runners.values()].map((runner) => runner.forget()));
      runners.clear();
      rmSync(workDir, { recursive: true, force: true });
      forgetOnExit(workDir);
    },
  };
}

async function readOrUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (isStatus(error, 404)) return undefined;
    throw error;
  }
}

/** Creates the Node, or, when it is left over from an earlier start, rewrites its status. */
async function registerNode(core: CoreV1Api, name: string, nodeIP: string, podCidr: string): Promise<void> {
  const resources = { cpu: "16", memory: "32Gi", pods: "110", "ephemeral-storage": "100Gi" };
  const heartbeat = new Date();
  const condition = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: heartbeat,
    lastTransitionTime: heartbeat,
  });
  const node: V1Node = {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": process.arch === "x64" ? "amd64" : process.arch,
        "flint.dev/process-kubelet": "true",
      },
    },
    spec: { podCIDR: podCidr, podCIDRs: [podCidr] },
    status: {
      capacity: resources,
      allocatable: resources,
      addresses: [
        { type: "InternalIP", address: nodeIP },
        { type: "Hostname", address: name },
      ],
      conditions: [
        condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "process kubelet"),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "process kubelet"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID", "process kubelet"),
        condition("Ready", "True", "KubeletReady", "process kubelet is posting ready status"),
      ],
      nodeInfo: {
        architecture: process.arch,
        bootID: "",
        containerRuntimeVersion: "process://flint",
        kernelVersion: "",
        kubeProxyVersion: "",
        kubeletVersion: "flint-process-kubelet",
        machineID: "",
        operatingSystem: "linux",
        osImage: "",
        systemUUID: "",
      },
    },
  };
  try {
    await core.createNode({ body: node });
  } catch (error) {
    if (!isStatus(error, 409)) throw error;
    await core.patchNodeStatus(
      { name, body: { status: node.status } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
  }
}

/** Lease times are MicroTime: exactly six fractional digits, which Date.toISOString lacks. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** Returns a function that creates or renews the node's Lease in kube-node-lease. */
function leaseRenewer(coordination: CoordinationV1Api, nodeName: string): () => Promise<void> {
  const namespace = "kube-node-lease";
  return async () => {
    const spec = { holderIdentity: nodeName, leaseDurationSeconds: 40, renewTime: microTime(new Date()) };
    try {
      await coordination.patchNamespacedLease(
        { name: nodeName, namespace, body: { spec } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    } catch (error) {
      if (!isStatus(error, 404)) throw error;
      // The typed create would serialise renewTime as a Date; create bare, then patch the time.
      await coordination.createNamespacedLease({
        namespace,
        body: {
          metadata: { name: nodeName, namespace },
          spec: { holderIdentity: nodeName, leaseDurationSeconds: 40 },
        },
      });
      await coordination.patchNamespacedLease(
        { name: nodeName, namespace, body: { spec } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    }
  };
}
