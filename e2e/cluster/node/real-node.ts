// A real Kubernetes node for the cluster tier: kubelet, containerd, runc, the CNI bridge, kube-proxy
// and CoreDNS, built from their Go modules by e2e/cluster/build.sh and started by node.sh inside
// the network namespace e2e/cluster/run.sh made. Pods run from real images (npm run images) with
// the runtime enforcing their security context, as on a kind node.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";

import { addLoopbackAddress, currentNetns } from "../../../testing/network.js";
import {
  forgetOnExit,
  logTail,
  readLog,
  removeOnExit,
  startProcess,
  type HarnessProcess,
} from "../../../testing/processes.js";
import { REPO_ROOT } from "../../../testing/watchdog.js";
import { defaultLayout, podLogsDir, writeNodeFiles, type NodeLayout } from "./config.js";

/** The binaries node.sh runs, all from e2e/cluster/build.sh's bin dir. */
export const NODE_BINARIES = [
  "containerd",
  "containerd-shim-runc-v2",
  "ctr",
  "runc",
  "kubelet",
  "kube-proxy",
  "coredns",
  "cni/bridge",
  "cni/host-local",
  "cni/loopback",
  "cni/portmap",
] as const;

export interface RealNodeOptions {
  /** The control plane's admin kubeconfig (kubelet, kube-proxy and CoreDNS use it). */
  kubeconfigPath: string;
  binDir: string;
  /** Image archives (docker-archive or OCI) imported into containerd before kubelet starts. */
  archives: readonly string[];
  /** How long until the Node is Ready, in ms. Default 90 s. */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface RealNode {
  readonly nodeName: string;
  readonly nodeIP: string;
  readonly layout: NodeLayout;
  /** A container's log as it wrote it (every restart, oldest first); "" before it has started. */
  readLog(namespace: string, pod: string, container: string): string;
  /** The node's own processes' logs (containerd, kubelet, kube-proxy, coredns), for a failure. */
  diagnosis(): string;
  /** containerd's and kubelet's logs so far, for {@link kubeletMilestones}. */
  runtimeLogs(): { containerd: string; kubelet: string };
  /** Kills every pod, stops the node's processes and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** The node did not come up: the message carries the log tails. */
export class RealNodeStartError extends Error {
  readonly code = "REAL_NODE_START";
}

/** Which of the node's binaries are missing from `binDir`. */
export function missingNodeBinaries(binDir: string): string[] {
  return NODE_BINARIES.filter((name) => !existsSync(join(binDir, name)));
}

/**
 * Starts the node and resolves once its Node is Ready (images imported, CNI configured). Runs only
 * inside the namespace named by FLINT_E2E_NETNS: it adds the node's addresses to that `lo`, makes
 * the bridge cni0 and changes iptables there.
 */
export async function startRealNode(options: RealNodeOptions): Promise<RealNode> {
  const netns = process.env["FLINT_E2E_NETNS"] ?? "";
  if (netns === "" || (await currentNetns()) !== netns) {
    throw new Error(
      `the real node changes the network (bridge, iptables), so it runs only inside the namespace ` +
        `e2e/cluster/run.sh makes (FLINT_E2E_NETNS=${JSON.stringify(netns)})`,
    );
  }
  const missing = missingNodeBinaries(options.binDir);
  if (missing.length > 0) {
    throw new RealNodeStartError(
      `missing ${missing.join(", ")} in ${options.binDir}: run e2e/cluster/build.sh`,
    );
  }
  const log = options.log ?? ((): void => undefined);
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), "flint-node-"));
  removeOnExit(dir);
  const runId = `${netns}-${dir.slice(-6)}`;
  const layout = defaultLayout(dir, options.binDir, join(dir, "kubeconfig"), runId);
  copyFileSync(options.kubeconfigPath, layout.kubeconfigPath);
  writeNodeFiles(layout, options.archives);
  await addLoopbackAddress(layout.nodeIP);
  await addLoopbackAddress(layout.dnsIP);

  const script = join(REPO_ROOT, "e2e", "cluster", "node", "node.sh");
  const node: HarnessProcess = startProcess(
    "node",
    "unshare",
    ["--mount", "--propagation", "slave", "--", "bash", script, dir, options.binDir, layout.cgroupRoot],
    {
      cwd: dir,
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: dir },
      logPath: join(dir, "node.log"),
    },
  );
  let stopped = false;
  const diagnosis = (): string =>
    ["node", "containerd", "images", "kubelet", "kube-proxy", "coredns"]
      .map((name) => `--- ${name}.log\n${logTail(join(dir, `${name}.log`), 25)}`)
      .join("\n");
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await node.stop(30_000);
    rmSync(dir, { recursive: true, force: true });
    forgetOnExit(dir);
  };

  try {
    await waitForNodeReady(layout, node, options.readyTimeoutMs ?? 90_000);
  } catch (error) {
    const text = `${error instanceof Error ? error.message : String(error)}\n${diagnosis()}`;
    await stop();
    throw new RealNodeStartError(text);
  }
  log(`real node ${layout.nodeName} Ready after ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return {
    nodeName: layout.nodeName,
    nodeIP: layout.nodeIP,
    layout,
    readLog: (namespace, pod, container) => readContainerLog(layout, namespace, pod, container),
    diagnosis,
    runtimeLogs: () => ({
      containerd: readLog(join(dir, "containerd.log")),
      kubelet: readLog(join(dir, "kubelet.log")),
    }),
    stop,
  };
}

async function waitForNodeReady(layout: NodeLayout, node: HarnessProcess, timeoutMs: number): Promise<void> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(layout.kubeconfigPath);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  let last = "not registered";
  while (Date.now() < deadline) {
    if (node.exited())
      throw new Error(`node.sh exited (${JSON.stringify(await node.exit)}) before the Node was Ready`);
    try {
      const found = await core.readNode({ name: layout.nodeName });
      const ready = found.status?.conditions?.find((c) => c.type === "Ready");
      if (ready?.status === "True") return;
      last = `Ready=${ready?.status ?? "?"} (${ready?.reason ?? ""}: ${ready?.message ?? ""})`;
    } catch {
      // not registered yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`Node ${layout.nodeName} not Ready after ${timeoutMs / 1000}s: ${last}`);
}

/**
 * kubelet's log files of one container, CRI format (`<time> <stream> <P|F> <text>`, P a partial
 * line), back to the text the container wrote.
 */
export function readContainerLog(
  layout: NodeLayout,
  namespace: string,
  pod: string,
  container: string,
): string {
  const root = podLogsDir(layout);
  let podDirs: string[];
  try {
    podDirs = readdirSync(root).filter((name) => name.startsWith(`${namespace}_${pod}_`));
  } catch {
    return "";
  }
  const files: string[] = [];
  for (const podDir of podDirs) {
    const containerDir = join(root, podDir, container);
    if (!existsSync(containerDir)) continue;
    const logs = readdirSync(containerDir)
      .filter((name) => /^\d+\.log$/.test(name))
      .sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10));
    files.push(...logs.map((name) => join(containerDir, name)));
  }
  return files.map((file) => criToText(readFileSync(file, "utf8"))).join("");
}

/** CRI log lines to the container's own output. */
export function criToText(cri: string): string {
  let out = "";
  for (const line of cri.split("\n")) {
    const match = /^\S+ (?:stdout|stderr) ([PF]) ?(.*)$/.exec(line);
    if (match === null) continue;
    out += match[2]! + (match[1] === "F" ? "\n" : "");
  }
  return out;
}

/** One pod's milestone on the node, in the words the cold-start breakdown looks for. */
export interface NodeMilestone {
  readonly atMs: number;
  /** `<namespace>/<pod>: starting`, `…: sandbox ready`, `…: started pid <container>`, `…: readiness probe passed`. */
  readonly line: string;
}

/**
 * The pods' milestones from containerd's CRI log (nanosecond times: sandbox asked for and ready,
 * each container started) and kubelet's (the readiness probe passing), oldest first.
 */
export function kubeletMilestones(logs: { containerd: string; kubelet: string }): NodeMilestone[] {
  const milestones: NodeMilestone[] = [];
  const sandboxes = new Map<string, string>(); // sandbox id → ns/pod
  const containers = new Map<string, string>(); // container id → "ns/pod name"
  for (const raw of logs.containerd.split("\n")) {
    const time = /^time="([^"]+)"/.exec(raw)?.[1];
    const msg = /msg="((?:[^"\\]|\\.)*)"/.exec(raw)?.[1]?.replace(/\\"/g, '"');
    if (time === undefined || msg === undefined) continue;
    const atMs = Date.parse(time);
    // containerd prints the CRI metadata as protobuf text: name:"hello-x" uid:"…" namespace:"team".
    const field = (key: string): string | undefined =>
      new RegExp(`(?:^|[\\s{,])${key}:"?([^",\\s}]+)`, "i").exec(msg)?.[1];
    if (msg.startsWith("RunPodSandbox for ")) {
      const key = `${field("namespace") ?? "?"}/${field("name") ?? "?"}`;
      const id = /returns sandbox id "([0-9a-f]+)"/.exec(msg)?.[1];
      if (id === undefined) milestones.push({ atMs, line: `${key}: starting` });
      else {
        sandboxes.set(id, key);
        milestones.push({ atMs, line: `${key}: sandbox ready` });
      }
      continue;
    }
    const created =
      /^CreateContainer within sandbox "([0-9a-f]+)" for (.*) returns container id "([0-9a-f]+)"/.exec(msg);
    if (created !== null) {
      const key = sandboxes.get(created[1]!);
      const name = new RegExp(`(?:^|[\\s{,&])(?:ContainerMetadata\\{)?name:"?([^",\\s}]+)`, "i").exec(
        created[2]!,
      )?.[1];
      if (key !== undefined) containers.set(created[3]!, `${key} ${name ?? "?"}`);
      continue;
    }
    const started = /^StartContainer for "([0-9a-f]+)" returns successfully/.exec(msg);
    if (started !== null) {
      const container = containers.get(started[1]!);
      if (container !== undefined) {
        const [key, name] = container.split(" ");
        milestones.push({ atMs, line: `${key}: started pid (container ${name})` });
      }
    }
  }
  const year = new Date().getUTCFullYear();
  for (const raw of logs.kubelet.split("\n")) {
    // klog: I1206 18:56:36.123456   1234 file.go:12] "SyncLoop (probe)" probe="readiness" status="ready" pod="ns/p"
    const klog =
      /^[IWE](\d\d)(\d\d) (\d\d:\d\d:\d\d\.\d+)\s+\d+ [^\]]+\] "SyncLoop \(probe\)" probe="readiness" status="ready" pod="([^"]+)"/.exec(
        raw,
      );
    if (klog === null) continue;
    const atMs = Date.parse(`${year}-${klog[1]}-${klog[2]}T${klog[3]}Z`);
    milestones.push({ atMs, line: `${klog[4]}: readiness probe passed` });
  }
  return milestones.sort((a, b) => a.atMs - b.atMs);
}
