// The node a cluster test runs its pods on, whichever it is: the real node (kubelet, containerd,
// runc, with Flint's images) or the process kubelet (pod commands as local processes). Tests that
// hold for both read logs and kubelet milestones through this, and say which node they ran on.
import type { ControlPlane } from "../../../testing/control-plane.js";
import { readLog } from "../../../testing/processes.js";
import type { KubeletLine } from "../cold-start.js";
import { startKubelet } from "../kubelet.js";
import { PAUSE_IMAGE } from "./config.js";
import { archivesOf, SUPPORT_IMAGES, SUPPORT_IMAGE_VALUES } from "./images.js";
import { kubeletMilestones, startRealNode } from "./real-node.js";

export type NodeKind = "real" | "process";

export interface ClusterNode {
  readonly kind: NodeKind;
  readonly nodeName: string;
  /** What a container wrote ("" before it started). */
  readLog(namespace: string, pod: string, container: string): string;
  /**
   * The kubelet's milestones for pods, as `<namespace>/<pod>: starting`, `…: started pid`,
   * `…: readiness probe passed` with their times (the process kubelet's own words; the real
   * kubelet's log lines are translated to them).
   */
  kubeletLines(): readonly KubeletLine[];
  /** `--set` values the chart needs on this node (images of NATS and Redis). */
  readonly chartValues: readonly string[];
  /** The node's own logs, for a failure's message. */
  diagnosis(): string;
  stop(): Promise<void>;
}

/** `FLINT_E2E_NODE` (real or process); the real node unless told otherwise. */
export function nodeKind(env: NodeJS.ProcessEnv = process.env): NodeKind {
  const value = env["FLINT_E2E_NODE"] ?? "real";
  if (value !== "real" && value !== "process") {
    throw new Error(`FLINT_E2E_NODE must be real or process, was ${JSON.stringify(value)}`);
  }
  return value;
}

export interface ClusterNodeOptions {
  readonly kind: NodeKind;
  readonly controlPlane: ControlPlane;
  /** Images the real node loads before it starts (the pause, NATS and Redis images always are). */
  readonly images: readonly string[];
  readonly log: (line: string) => void;
}

export async function startClusterNode(options: ClusterNodeOptions): Promise<ClusterNode> {
  const { controlPlane: cp, log } = options;
  if (options.kind === "real") {
    const node = await startRealNode({
      kubeconfigPath: cp.kubeconfigPath,
      binDir: cp.binDir,
      archives: archivesOf([PAUSE_IMAGE, ...SUPPORT_IMAGES, ...options.images]),
      log,
    });
    return {
      kind: "real",
      nodeName: node.nodeName,
      readLog: node.readLog,
      kubeletLines: () => kubeletMilestones(node.runtimeLogs()),
      chartValues: SUPPORT_IMAGE_VALUES,
      diagnosis: node.diagnosis,
      stop: node.stop,
    };
  }
  const lines: KubeletLine[] = [];
  const kubelet = await startKubelet({
    kubeconfigPath: cp.kubeconfigPath,
    caPem: cp.caPem,
    log: (line) => {
      lines.push({ atMs: Date.now(), line });
      log(`kubelet: ${line}`);
    },
  });
  return {
    kind: "process",
    nodeName: kubelet.nodeName,
    readLog: (namespace, pod, container) => readLog(kubelet.logPath(namespace, pod, container)),
    kubeletLines: () => lines,
    chartValues: [],
    diagnosis: () => "",
    stop: () => kubelet.stop(),
  };
}
