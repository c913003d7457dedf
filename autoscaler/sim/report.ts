// From replays to the report: per-policy figures, normalised to the baselines, as markdown tables or JSON.
import { formatDurationMs } from "../../api/duration.js";
import type { FunctionOutcome, PlatformModel, PolicyUnderTest, Replay } from "./simulate.js";
import { replay } from "./simulate.js";
import type { Workload } from "./workload.js";

/** The fixed keep-alive wasted memory-time is normalised to (= 100 %), as in Shahrad et al. */
export const NORMALISING_POLICY = "fixed-keepalive:10m";

/** One policy on one workload. */
export interface PolicyReport {
  readonly workload: string;
  readonly policy: string;
  readonly startupMs: number;
  readonly functions: number;
  readonly requests: number;
  /** Requests that had to wait for a replica to start. */
  readonly coldStarts: number;
  /** coldStarts / requests. */
  readonly coldStartRate: number;
  /** Per-function cold-start percentage (functions with requests) at the 25th … 99th percentile function. */
  readonly functionColdPct: {
    readonly p25: number;
    readonly p50: number;
    readonly p75: number;
    readonly p90: number;
    readonly p99: number;
  };
  /** Functions whose every request was a cold start. */
  readonly functionsAlwaysCold: number;
  /** Replica-seconds with no request running: wasted memory-time. */
  readonly idleReplicaSeconds: number;
  /** idleReplicaSeconds as a percentage of fixed 10-minute keep-alive's on the same run, when it ran. */
  readonly idleVsFixed10mPct: number | null;
  /** Idle replica-seconds weighted by each function's memory, GB·s, when the workload gives memory. */
  readonly idleGbSeconds: number | null;
  /** Request latency including queueing, ms (completed requests). */
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly dropped: number;
  readonly timedOut: number;
  readonly replicaSeconds: number;
  readonly scaleChanges: number;
  /** Wall-clock time of the replay, ms. */
  readonly replayMs: number;
  /** CPU time the replay took (user + system), ms: steadier than wall time on a shared machine. */
  readonly replayCpuMs: number;
}

/** Replays `workload` through each policy and reports them side by side, normalised to fixed 10 minutes. */
export function comparePolicies(
  workload: Workload,
  policies: readonly PolicyUnderTest[],
  model: PlatformModel,
): PolicyReport[] {
  const reports = policies.map((policy) => {
    const startedMs = performance.now();
    const started = process.cpuUsage();
    const result = replay(workload, policy, model);
    const used = process.cpuUsage(started);
    return summarise(workload, policy.name, model, result, {
      replayMs: performance.now() - startedMs,
      replayCpuMs: (used.user + used.system) / 1000,
    });
  });
  return normalise(reports);
}

/** The figures for one replay. */
export function summarise(
  workload: Workload,
  policy: string,
  model: PlatformModel,
  result: Replay,
  timing: { replayMs: number; replayCpuMs: number },
): PolicyReport {
  const outcomes = result.functions;
  const sum = (pick: (o: FunctionOutcome) => number): number =>
    outcomes.reduce((total, o) => total + pick(o), 0);
  const requests = sum((o) => o.requests);
  const coldStarts = sum((o) => o.coldStarts);
  const coldPct = outcomes
    .filter((o) => o.requests > 0)
    .map((o) => (100 * o.coldStarts) / o.requests)
    .sort((a, b) => a - b);
  const memoryKnown = workload.functions.every((fn) => fn.memoryMb !== undefined);
  const idleGbSeconds = memoryKnown
    ? outcomes.reduce(
        (total, o, i) => total + (o.idleReplicaMs / 1000) * ((workload.functions[i]?.memoryMb ?? 0) / 1024),
        0,
      )
    : null;
  return {
    workload: workload.name,
    policy,
    startupMs: model.startupMs,
    functions: outcomes.length,
    requests,
    coldStarts,
    coldStartRate: requests === 0 ? 0 : coldStarts / requests,
    functionColdPct: {
      p25: nearestRank(coldPct, 25),
      p50: nearestRank(coldPct, 50),
      p75: nearestRank(coldPct, 75),
      p90: nearestRank(coldPct, 90),
      p99: nearestRank(coldPct, 99),
    },
    functionsAlwaysCold: outcomes.filter((o) => o.requests > 0 && o.coldStarts === o.requests).length,
    idleReplicaSeconds: sum((o) => o.idleReplicaMs) / 1000,
    idleVsFixed10mPct: null,
    idleGbSeconds,
    latencyP50Ms: result.latencies.percentile(50),
    latencyP99Ms: result.latencies.percentile(99),
    dropped: sum((o) => o.dropped),
    timedOut: sum((o) => o.timedOut),
    replicaSeconds: sum((o) => o.replicaMs) / 1000,
    scaleChanges: sum((o) => o.scaleChanges),
    ...timing,
  };
}

/** Fills `idleVsFixed10mPct` from the fixed 10-minute report of the same workload and start-up, if any. */
export function normalise(reports: readonly PolicyReport[]): PolicyReport[] {
  return reports.map((report) => {
    const base = reports.find(
      (r) =>
        r.policy === NORMALISING_POLICY && r.workload === report.workload && r.startupMs === report.startupMs,
    );
    const idleVsFixed10mPct =
      base === undefined || base.idleReplicaSeconds === 0
        ? null
        : (100 * report.idleReplicaSeconds) / base.idleReplicaSeconds;
    return { ...report, idleVsFixed10mPct };
  });
}

/** The nearest-rank percentile of sorted values (0 when empty). */
export function nearestRank(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1] as number;
}

/** The main table: one row per policy. */
export function reportTable(reports: readonly PolicyReport[]): string {
  return markdownTable(
    [
      "policy",
      "cold starts",
      "cold %",
      "p75 fn cold %",
      "idle replica-s",
      "idle vs 10m",
      "p50 ms",
      "p99 ms",
      "dropped / timed out",
      "replica-s",
      "scale changes",
    ],
    reports.map((r) => [
      r.policy,
      integer(r.coldStarts),
      percent(100 * r.coldStartRate),
      percent(r.functionColdPct.p75),
      integer(r.idleReplicaSeconds),
      r.idleVsFixed10mPct === null ? "–" : percent(r.idleVsFixed10mPct),
      milliseconds(r.latencyP50Ms),
      milliseconds(r.latencyP99Ms),
      `${r.dropped} / ${r.timedOut}`,
      integer(r.replicaSeconds),
      integer(r.scaleChanges),
    ]),
  );
}

/** Each policy's figures divided by the baselines' (kpa and fixed 10-minute keep-alive) in the same run. */
export function ratioTable(
  reports: readonly PolicyReport[],
  baselines: readonly string[] = ["kpa", NORMALISING_POLICY],
): string {
  const present = baselines
    .map((name) => reports.find((r) => r.policy === name))
    .filter((r): r is PolicyReport => r !== undefined);
  const figures: [string, (r: PolicyReport) => number][] = [
    ["cold starts", (r) => r.coldStarts],
    ["idle replica-s", (r) => r.idleReplicaSeconds],
    ["p99 latency", (r) => r.latencyP99Ms],
    ["replica-s", (r) => r.replicaSeconds],
  ];
  const header = ["policy"];
  for (const base of present) for (const [figure] of figures) header.push(`${figure} ÷ ${base.policy}`);
  return markdownTable(
    header,
    reports.map((r) => {
      const row = [r.policy];
      for (const base of present) for (const [, pick] of figures) row.push(ratio(pick(r), pick(base)));
      return row;
    }),
  );
}

/** The spread of cold-start percentages over functions, per policy. */
export function distributionTable(reports: readonly PolicyReport[]): string {
  return markdownTable(
    ["policy", "p25 fn", "p50 fn", "p75 fn", "p90 fn", "p99 fn", "functions always cold"],
    reports.map((r) => [
      r.policy,
      percent(r.functionColdPct.p25),
      percent(r.functionColdPct.p50),
      percent(r.functionColdPct.p75),
      percent(r.functionColdPct.p90),
      percent(r.functionColdPct.p99),
      `${r.functionsAlwaysCold} of ${r.functions}`,
    ]),
  );
}

/** A one-line title for a workload's tables. */
export function reportTitle(reports: readonly PolicyReport[]): string {
  const first = reports[0];
  if (first === undefined) return "";
  return `${first.workload} — ${first.functions} functions, ${integer(first.requests)} requests, start-up ${formatDurationMs(first.startupMs)}`;
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

function integer(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

function percent(value: number): string {
  return `${value < 10 ? value.toFixed(2) : value.toFixed(1)} %`;
}

function milliseconds(value: number): string {
  return value < 100 ? value.toFixed(1) : Math.round(value).toLocaleString("en-US");
}

function ratio(value: number, base: number): string {
  if (base === 0) return value === 0 ? "1.00" : "∞";
  return (value / base).toFixed(2);
}
