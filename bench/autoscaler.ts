// `npm run bench -- autoscaler`: every policy on the Azure sample and the synthetic workloads, with the
// baselines (kpa, fixed 10-minute keep-alive) in the same run, the Pareto plot, and the cost of a decision.
import { mkdir, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { formatDurationMs } from "../api/duration.js";
import { flintPolicy } from "../autoscaler/flint.js";
import { KEEP_ALIVE_DEFAULTS } from "../autoscaler/keepalive.js";
import { kpaPolicy } from "../autoscaler/kpa.js";
import { loadWorkload } from "../autoscaler/sim/load.js";
import { plotSvg, type PlotPoint, type PlotSeries } from "../autoscaler/sim/plot.js";
import { policyUnderTest } from "../autoscaler/sim/policies.js";
import {
  comparePolicies,
  distributionTable,
  markdownTable,
  NORMALISING_POLICY,
  ratioTable,
  reportTable,
  reportTitle,
  type PolicyReport,
} from "../autoscaler/sim/report.js";
import { PLATFORM_DEFAULTS, type PlatformModel, type PolicyUnderTest } from "../autoscaler/sim/simulate.js";
import { SYNTHETIC_WORKLOADS } from "../autoscaler/sim/synthetic.js";
import { resolveScaleSpec } from "../autoscaler/spec.js";
import { decideAll, type FunctionTick } from "../autoscaler/tick.js";
import type { Observation, ScalingPolicy } from "../autoscaler/types.js";

const here = dirname(fileURLToPath(import.meta.url));
/** bench/out in the source tree (this file runs from build/bench). */
const outDir = join(here, "..", "..", "bench", "out");
const FIXED_CURVE = ["1m", "5m", "10m", "20m", "60m"] as const;
/** The policy names the curve's keep-alives get (60m is written 1h). */
const fixedName = (keepAlive: string): string => policyUnderTest(`fixed-keepalive:${keepAlive}`).name;
const FLINT_FALLBACKS = ["10m", "20m", "30m", "60m"] as const;
const STARTUPS_MS = [250, 1000, 5000] as const;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      trace: { type: "string", default: join(here, "..", "..", "..", "shared", "traces", "azure2019-200") },
      seed: { type: "string", default: "1" },
    },
  });
  const seed = Number(values.seed);
  console.log(
    `# Autoscaler policies (seed ${seed}; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")})\n`,
  );
  const results: PolicyReport[] = [];

  // The Azure sample at 1 s start-up: every policy, the fixed keep-alive curve, and flint's own curve.
  const azure = loadWorkload(values.trace, { seed });
  const azurePolicies: PolicyUnderTest[] = [
    policyUnderTest("flint"),
    policyUnderTest("kpa"),
    ...FIXED_CURVE.map((t) => policyUnderTest(`fixed-keepalive:${t}`)),
    policyUnderTest("oracle"),
    ...FLINT_FALLBACKS.map(flintWithFallback),
  ];
  const azureReports = comparePolicies(azure, azurePolicies, PLATFORM_DEFAULTS);
  results.push(...azureReports);
  printWorkload(azureReports);
  console.log(`\n${equalMemoryLine(azureReports)}\n`);

  // Every workload at each start-up latency: flint beside the baselines and the oracle.
  const compared = ["flint", "kpa", NORMALISING_POLICY, "oracle"].map(policyUnderTest);
  for (const startupMs of STARTUPS_MS) {
    const model: PlatformModel = { ...PLATFORM_DEFAULTS, startupMs };
    const rows: PolicyReport[] = [];
    if (startupMs !== 1000) rows.push(...comparePolicies(azure, compared, model));
    else rows.push(...azureReports.filter((r) => compared.some((p) => p.name === r.policy)));
    for (const generate of Object.values(SYNTHETIC_WORKLOADS))
      rows.push(...comparePolicies(generate(seed), compared, model));
    results.push(...rows.filter((r) => !results.includes(r)));
    console.log(`## All workloads, start-up ${formatDurationMs(startupMs)}\n\n${workloadsTable(rows)}\n`);
  }

  await mkdir(outDir, { recursive: true });
  const svgPath = join(outDir, "autoscaler-pareto.svg");
  await writeFile(svgPath, paretoPlot(azureReports));
  await writeFile(join(outDir, "autoscaler.json"), JSON.stringify(results, null, 2));
  console.log(`Plot: ${svgPath}\n`);

  console.log(`## Replay time of the Azure day (200 functions, 86,400 ticks each)\n`);
  console.log(
    markdownTable(
      ["policy", "CPU s", "wall s"],
      azureReports.map((r) => [r.policy, (r.replayCpuMs / 1000).toFixed(1), (r.replayMs / 1000).toFixed(1)]),
    ),
  );

  console.log(`\n## Decision cost (one tick over 10,000 functions on one core, median of 15)\n`);
  console.log(
    markdownTable(
      ["policy", "ms per 10k-function tick", "fastest ms", "µs per function per tick"],
      [decisionCost(flintPolicy()), decisionCost(kpaPolicy())].map((c) => [
        c.policy,
        c.medianMs.toFixed(2),
        c.fastestMs.toFixed(2),
        ((c.medianMs * 1000) / c.functions).toFixed(2),
      ]),
    ),
  );
}

function flintWithFallback(fallback: string): PolicyUnderTest {
  const policy = flintPolicy({
    keepAlive: {
      ...KEEP_ALIVE_DEFAULTS,
      fallbackKeepAliveMs: parseDurationMinutes(fallback),
      sparseFallbackKeepAliveMs: parseDurationMinutes(fallback),
    },
  });
  // One fallback for every function: what the sparse fallback is compared with.
  return { name: `flint (fallback ${fallback})`, forFunction: () => policy };
}

function parseDurationMinutes(text: string): number {
  return Number(text.replace("m", "")) * 60_000;
}

function printWorkload(reports: readonly PolicyReport[]): void {
  console.log(`## ${reportTitle(reports)}\n`);
  console.log(reportTable(reports));
  console.log(`\nRatios to the baselines in the same run:\n\n${ratioTable(reports)}`);
  console.log(`\nCold-start percentage across functions:\n\n${distributionTable(reports)}`);
}

/** Flint against the fixed keep-alive curve at flint's own idle time (linear between the curve's points). */
function equalMemoryLine(reports: readonly PolicyReport[]): string {
  const flint = reports.find((r) => r.policy === "flint");
  const curve = FIXED_CURVE.map((t) => reports.find((r) => r.policy === fixedName(t)))
    .filter((r): r is PolicyReport => r !== undefined)
    .sort((a, b) => a.idleReplicaSeconds - b.idleReplicaSeconds);
  if (flint === undefined) return "";
  const upper = curve.findIndex((r) => r.idleReplicaSeconds >= flint.idleReplicaSeconds);
  if (upper <= 0) return "flint's idle time is outside the fixed keep-alive curve.";
  const a = curve[upper - 1] as PolicyReport;
  const b = curve[upper] as PolicyReport;
  const share =
    (flint.idleReplicaSeconds - a.idleReplicaSeconds) / (b.idleReplicaSeconds - a.idleReplicaSeconds);
  const coldStarts = a.coldStarts + share * (b.coldStarts - a.coldStarts);
  return (
    `At flint's idle time (${Math.round(flint.idleReplicaSeconds).toLocaleString("en-US")} replica-s), a fixed keep-alive ` +
    `(between ${a.policy} and ${b.policy}) would have ≈ ${Math.round(coldStarts).toLocaleString("en-US")} cold starts; ` +
    `flint has ${flint.coldStarts.toLocaleString("en-US")} (${((100 * flint.coldStarts) / coldStarts).toFixed(0)} %).`
  );
}

/** One row per workload and policy, with the ratios to kpa and to fixed 10 minutes of that workload. */
function workloadsTable(reports: readonly PolicyReport[]): string {
  const base = (r: PolicyReport, policy: string): PolicyReport | undefined =>
    reports.find((b) => b.workload === r.workload && b.policy === policy);
  const ratio = (value: number, of: number | undefined): string =>
    of === undefined ? "–" : of === 0 ? (value === 0 ? "1.00" : "∞") : (value / of).toFixed(2);
  return markdownTable(
    [
      "workload",
      "policy",
      "cold starts",
      "p75 fn cold %",
      "idle vs 10m",
      "p99 ms",
      "p99 ÷ kpa",
      "replica-s",
      "replica-s ÷ kpa",
      "cold ÷ 10m",
      "dropped / timed out",
      "scale changes",
    ],
    reports.map((r) => [
      r.workload,
      r.policy,
      r.coldStarts.toLocaleString("en-US"),
      `${r.functionColdPct.p75.toFixed(1)} %`,
      r.idleVsFixed10mPct === null ? "–" : `${r.idleVsFixed10mPct.toFixed(1)} %`,
      Math.round(r.latencyP99Ms).toLocaleString("en-US"),
      ratio(r.latencyP99Ms, base(r, "kpa")?.latencyP99Ms),
      Math.round(r.replicaSeconds).toLocaleString("en-US"),
      ratio(r.replicaSeconds, base(r, "kpa")?.replicaSeconds),
      ratio(r.coldStarts, base(r, NORMALISING_POLICY)?.coldStarts),
      `${r.dropped} / ${r.timedOut}`,
      r.scaleChanges.toLocaleString("en-US"),
    ]),
  );
}

function paretoPlot(reports: readonly PolicyReport[]): string {
  const point = (policy: string, label?: string): PlotPoint[] => {
    const r = reports.find((candidate) => candidate.policy === policy);
    return r === undefined ? [] : [{ x: r.idleVsFixed10mPct ?? 0, y: 100 * r.coldStartRate, label }];
  };
  const series: PlotSeries[] = [
    {
      name: "fixed keep-alive",
      color: "#d62728",
      line: "solid",
      points: FIXED_CURVE.flatMap((t) => point(fixedName(t), t)),
    },
    {
      name: "flint, fallback 10…60m",
      color: "#1f77b4",
      line: "dashed",
      labels: "below",
      points: [...point("flint"), ...FLINT_FALLBACKS.flatMap((t) => point(`flint (fallback ${t})`, t))],
    },
    {
      name: "flint (default)",
      color: "#1f77b4",
      marker: "diamond",
      labels: "left",
      points: point("flint", "flint"),
    },
    { name: "kpa (Knative)", color: "#2ca02c", marker: "square", points: point("kpa", "kpa") },
    { name: "oracle (lower bound)", color: "#7f7f7f", marker: "square", points: point("oracle", "oracle") },
  ];
  return plotSvg({
    title: "Azure sample, 200 functions, 1 day, 1 s start-up",
    xLabel: "wasted memory-time (idle replica-seconds, fixed 10-minute keep-alive = 100 %)",
    yLabel: "cold starts, % of requests (log scale)",
    series,
    logY: true,
  });
}

interface DecisionCost {
  readonly policy: string;
  readonly functions: number;
  readonly medianMs: number;
  readonly fastestMs: number;
}

/**
 * One tick over 10,000 functions with realistic states: a fifth busy (10–200 in flight), a fifth with
 * light traffic, the rest idle with some history. States first run 10 minutes of ticks, so windows are
 * full and idle histograms have entries; then 15 ticks are timed, each continuing from the last.
 */
function decisionCost<S>(policy: ScalingPolicy<S>, functions = 10_000): DecisionCost {
  const spec = resolveScaleSpec({ max: 100 });
  const observe = (i: number, second: number): Observation => {
    const kind = i % 5;
    const concurrency =
      kind === 0
        ? 10 + ((i * 37 + second * 11) % 190)
        : kind === 1
          ? (second + i) % 7 === 0
            ? 1.5
            : 0
          : (second + i) % 600 === 0
            ? 0.2
            : 0;
    const ready = kind === 0 ? Math.ceil(concurrency / 10) : kind === 1 ? 1 : 0;
    return { concurrency, readyReplicas: ready, startingReplicas: 0, queueDepth: 0, activation: false };
  };
  const startMs = 1_700_000_000_000;
  let ticks: FunctionTick<S>[] = Array.from({ length: functions }, (_, i) => ({
    spec,
    observed: observe(i, 0),
    state: policy.initialState(startMs),
  }));
  const tick = (second: number): number => {
    const inputs = ticks.map((t, i) => ({ spec, observed: observe(i, second), state: t.state }));
    const began = performance.now();
    const decisions = decideAll(policy, inputs, startMs + second * 1000);
    const tookMs = performance.now() - began;
    ticks = inputs.map((t, i) => ({ ...t, state: (decisions[i] as { next: S }).next }));
    return tookMs;
  };
  for (let second = 1; second <= 600; second++) tick(second);
  const timings = Array.from({ length: 15 }, (_, k) => tick(601 + k)).sort((a, b) => a - b);
  return { policy: policy.name, functions, medianMs: timings[7] as number, fastestMs: timings[0] as number };
}
