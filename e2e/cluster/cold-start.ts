// Times one cold start on the cluster from every clock that saw it: watches on the function's
// Deployment, pods and EndpointSlices (this process), the process kubelet's log lines, and the pino
// logs of the gateway, the controller and the function's watchdog (all share the machine's clock).
import {
  Watch,
  type KubeConfig,
  type V1Deployment,
  type V1EndpointSlice,
  type V1Pod,
} from "@kubernetes/client-node";

/**
 * A kubelet milestone with when it happened (ms since the epoch): the process kubelet's own log
 * line, or the real node's containerd and kubelet lines in the same words (node/real-node.ts).
 */
export interface KubeletLine {
  readonly atMs: number;
  readonly line: string;
}

/** First times (ms since the epoch) that the watches saw each thing happen. */
interface WatchedMarks {
  scaleWritten?: number;
  podCreated?: number;
  podBound?: number;
  endpointListed?: number;
  endpointReady?: number;
  podReady?: number;
  pod?: string;
}

/** Watches a function's Deployment, pods and EndpointSlices from `fromMs` on. */
export class ColdStartWatch {
  readonly marks: WatchedMarks = {};
  private readonly aborts: AbortController[] = [];

  private constructor(private readonly fromMs: number) {}

  static async start(kubeConfig: KubeConfig, namespace: string, name: string): Promise<ColdStartWatch> {
    const watch = new Watch(kubeConfig);
    const self = new ColdStartWatch(Date.now());
    const { marks } = self;
    const first = (key: Exclude<keyof WatchedMarks, "pod">): void => {
      marks[key] ??= Date.now();
    };
    const ignore = (): void => undefined;
    self.aborts.push(
      await watch.watch(
        `/apis/apps/v1/namespaces/${namespace}/deployments`,
        { fieldSelector: `metadata.name=${name}` },
        (_type, deployment: V1Deployment) => {
          if ((deployment.spec?.replicas ?? 0) > 0) first("scaleWritten");
        },
        ignore,
      ),
      await watch.watch(
        `/api/v1/namespaces/${namespace}/pods`,
        { labelSelector: `flint.dev/function=${name}` },
        (type, pod: V1Pod) => {
          if (type === "DELETED" || pod.metadata?.deletionTimestamp !== undefined) return;
          // Pods left from before the call are listed first (ADDED) but were not created by it.
          if (Date.parse(String(pod.metadata?.creationTimestamp)) < self.fromMs - 1000) return;
          marks.pod ??= pod.metadata?.name;
          if (pod.metadata?.name !== marks.pod) return;
          first("podCreated");
          if (pod.spec?.nodeName !== undefined) first("podBound");
          if (pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
            first("podReady");
        },
        ignore,
      ),
      await watch.watch(
        `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
        { labelSelector: `kubernetes.io/service-name=${name}` },
        (type, slice: V1EndpointSlice) => {
          if (type === "DELETED") return;
          const endpoints = (slice.endpoints ?? []).filter(
            (endpoint) => marks.pod === undefined || endpoint.targetRef?.name === marks.pod,
          );
          if (marks.pod === undefined || endpoints.length === 0) return;
          first("endpointListed");
          if (endpoints.some((endpoint) => endpoint.conditions?.ready === true)) first("endpointReady");
        },
        ignore,
      ),
    );
    return self;
  }

  stop(): void {
    for (const abort of this.aborts.splice(0)) abort.abort();
  }
}

/** A pino log line: its time (ms since the epoch), message and fields. */
export type PinoLine = Record<string, unknown> & { time: number; msg: string };

/** The pino lines of a container's log `text` (other lines skipped). */
export function pinoLines(text: string): PinoLine[] {
  const lines: PinoLine[] = [];
  for (const raw of text.split("\n")) {
    if (!raw.startsWith("{")) continue;
    try {
      const line = JSON.parse(raw) as Record<string, unknown>;
      if (typeof line["time"] === "number" && typeof line["msg"] === "string") lines.push(line as PinoLine);
    } catch {
      // a line cut short while being written
    }
  }
  return lines;
}

/** Times (ms since the epoch) of the pino lines in `text` whose msg is `msg` and that match `where`. */
export function pinoTimes(
  text: string,
  msg: string,
  where: (line: PinoLine) => boolean = () => true,
): number[] {
  return pinoLines(text)
    .filter((line) => line.msg === msg && where(line))
    .map((line) => line.time);
}

/** The first time at or after `fromMs`, or undefined. */
export function firstFrom(times: readonly number[], fromMs: number): number | undefined {
  return times.filter((time) => time >= fromMs).sort((a, b) => a - b)[0];
}

/** One measured cold start: each milestone in ms after the call was sent (undefined: not seen). */
export interface ColdStart {
  readonly pod: string;
  /** X-Flint-Cold-Start: how long the gateway held the call, in ms. */
  readonly gatewayHeldMs: number;
  readonly milestones: readonly { readonly what: string; readonly source: string; readonly ms?: number }[];
  /** The phases the issue names, in ms each. */
  readonly phases: Readonly<Record<Phase, number | undefined>>;
  readonly totalMs: number;
}

export const PHASES = [
  "call → scale written",
  "scale written → pod created",
  "pod created → process started",
  "process started → process ready",
  "process ready → endpoint seen",
  "endpoint seen → response",
] as const;
export type Phase = (typeof PHASES)[number];

export interface ColdStartSources {
  readonly sentMs: number;
  readonly answeredMs: number;
  readonly gatewayHeldMs: number;
  readonly watched: WatchedMarks;
  readonly kubelet: readonly KubeletLine[];
  /** The pod's key as the kubelet logs it: `<namespace>/<pod>`. */
  readonly podKey: string;
  /** The logs' texts (not paths). */
  readonly gatewayLog: string;
  readonly controllerLog: string;
  readonly watchdogLog: string;
  /** `<namespace>/<name>` of the function. */
  readonly functionKey: string;
}

/** Puts one cold start's times from every source on one line of time. */
export function coldStartOf(s: ColdStartSources): ColdStart {
  const at = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms - s.sentMs);
  const kubeletAt = (suffix: string): number | undefined =>
    at(
      s.kubelet.find(
        (entry) => entry.atMs >= s.sentMs && entry.line.startsWith(s.podKey) && entry.line.includes(suffix),
      )?.atMs,
    );
  const ofFunction = (line: PinoLine): boolean => JSON.stringify(line).includes(s.functionKey);
  const activated = at(
    firstFrom(pinoTimes(s.gatewayLog, "no ready replica; activating", ofFunction), s.sentMs),
  );
  const decided = at(
    firstFrom(
      pinoTimes(s.controllerLog, "scaled", (line) => line["reason"] === "activation" && ofFunction(line)),
      s.sentMs,
    ),
  );
  const probed = at(
    firstFrom(pinoTimes(s.gatewayLog, "replica answered its readiness probe", ofFunction), s.sentMs),
  );
  const listening = at(firstFrom(pinoTimes(s.watchdogLog, "ready"), s.sentMs));
  const started = kubeletAt(": started pid");
  const w = s.watched;
  const milestones = [
    { what: "call sent", source: "test", ms: 0 },
    { what: "gateway asks for a replica (activation poke)", source: "gateway log", ms: activated },
    { what: "autoscaler decides 0 → 1", source: "controller log", ms: decided },
    { what: "Deployment replicas ≥ 1 (scale written)", source: "watch", ms: at(w.scaleWritten) },
    { what: "pod created (ReplicaSet controller)", source: "watch", ms: at(w.podCreated) },
    { what: "pod bound to the node (scheduler)", source: "watch", ms: at(w.podBound) },
    { what: "kubelet starts the pod", source: "kubelet", ms: kubeletAt(": starting") },
    {
      what: "pod sandbox ready (real node: network namespace, pause)",
      source: "kubelet",
      ms: kubeletAt(": sandbox ready"),
    },
    { what: "kubelet spawns the watchdog process", source: "kubelet", ms: started },
    { what: "watchdog listening and ready", source: "watchdog log", ms: listening },
    { what: "endpoint in the EndpointSlice (not ready)", source: "watch", ms: at(w.endpointListed) },
    { what: "gateway's own probe answered: replica in use", source: "gateway log", ms: probed },
    { what: "kubelet readiness probe passed", source: "kubelet", ms: kubeletAt("readiness probe passed") },
    { what: "pod Ready", source: "watch", ms: at(w.podReady) },
    { what: "endpoint ready in the EndpointSlice", source: "watch", ms: at(w.endpointReady) },
    { what: "response received", source: "test", ms: at(s.answeredMs) },
  ];
  const totalMs = s.answeredMs - s.sentMs;
  const between = (from: number | undefined, to: number | undefined): number | undefined =>
    from === undefined || to === undefined ? undefined : to - from;
  const scaleWritten = at(w.scaleWritten);
  const podCreated = at(w.podCreated);
  return {
    pod: w.pod ?? "?",
    gatewayHeldMs: s.gatewayHeldMs,
    milestones,
    phases: {
      "call → scale written": scaleWritten,
      "scale written → pod created": between(scaleWritten, podCreated),
      "pod created → process started": between(podCreated, started),
      "process started → process ready": between(started, listening),
      "process ready → endpoint seen": between(listening, probed),
      "endpoint seen → response": between(probed, totalMs),
    },
    totalMs,
  };
}

const ms = (value: number | undefined): string => (value === undefined ? "—" : `${Math.round(value)} ms`);

/** A Markdown table of one cold start's milestones. */
export function milestoneTable(coldStart: ColdStart): string {
  const rows = coldStart.milestones.map((m) => `| ${m.what} | ${m.source} | ${ms(m.ms)} |`);
  return ["| milestone | seen by | after the call |", "| --- | --- | ---: |", ...rows].join("\n");
}

/** The median of numbers (the mean of the middle two for an even count), or undefined for none. */
export function median(values: readonly (number | undefined)[]): number | undefined {
  const known = values.filter((value): value is number => value !== undefined).sort((a, b) => a - b);
  if (known.length === 0) return undefined;
  const middle = Math.floor(known.length / 2);
  return known.length % 2 === 1 ? known[middle] : ((known[middle - 1] ?? 0) + (known[middle] ?? 0)) / 2;
}

/**
 * The phases of every cold start and their medians, then the total beside Knative's published cold
 * starts (REFERENCE.md: about 0.8 s at best, 2–4 s typical).
 */
export function breakdownTable(coldStarts: readonly ColdStart[]): string {
  const header = `| phase | ${coldStarts.map((_, i) => `run ${i + 1}`).join(" | ")} | median |`;
  const rule = `| --- | ${coldStarts.map(() => "---:").join(" | ")} | ---: |`;
  const row = (label: string, values: (number | undefined)[]): string =>
    `| ${label} | ${values.map(ms).join(" | ")} | ${ms(median(values))} |`;
  const total = median(coldStarts.map((c) => c.totalMs)) ?? 0;
  return [
    header,
    rule,
    ...PHASES.map((phase) =>
      row(
        phase,
        coldStarts.map((c) => c.phases[phase]),
      ),
    ),
    row(
      "**total: call → response**",
      coldStarts.map((c) => c.totalMs),
    ),
    row(
      "gateway held the call (X-Flint-Cold-Start)",
      coldStarts.map((c) => c.gatewayHeldMs),
    ),
    "",
    `Knative Serving (REFERENCE.md): about 800 ms at best, 2000–4000 ms typical. ` +
      `Flint's median here: ${ms(total)}, ${(total / 800).toFixed(2)}× Knative's best and ` +
      `${(total / 4000).toFixed(2)}–${(total / 2000).toFixed(2)}× its typical.`,
  ].join("\n");
}
