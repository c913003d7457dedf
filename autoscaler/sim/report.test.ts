import { resolveScaleSpec } from "../spec.js";
import { markdownTable, nearestRank, normalise, summarise, type PolicyReport } from "./report.js";
import { LatencyLog, PLATFORM_DEFAULTS, type FunctionOutcome } from "./simulate.js";
import { requestTrace, type Workload } from "./workload.js";

const outcome = (
  name: string,
  requests: number,
  coldStarts: number,
  idleReplicaMs: number,
): FunctionOutcome => ({
  name,
  requests,
  coldStarts,
  completed: requests,
  dropped: 0,
  timedOut: 0,
  replicaMs: idleReplicaMs + 1000,
  idleReplicaMs,
  scaleChanges: 2,
  peakReplicas: 1,
});

describe("nearestRank", () => {
  it.each([
    [[], 75, 0],
    [[10, 20, 30, 40], 75, 30],
    [[10, 20, 30, 40], 76, 40],
    [[10, 20, 30, 40], 100, 40],
    [[5], 1, 5],
  ])("%j at p%d → %d", (values, p, value) => {
    expect(nearestRank(values, p)).toBe(value);
  });
});

describe("summarise", () => {
  const fn = (name: string, memoryMb?: number): Workload["functions"][number] => ({
    name,
    spec: resolveScaleSpec(),
    requests: requestTrace([], []),
    memoryMb,
  });
  const workload: Workload = {
    name: "w",
    durationMs: 60_000,
    functions: [fn("a", 512), fn("b", 1024), fn("c", 256)],
  };

  it("adds up cold starts and idle time, and spreads cold-start percentages over functions with requests", () => {
    const latencies = new LatencyLog();
    [100, 200, 300, 400].forEach((ms) => latencies.push(ms));
    const report = summarise(
      workload,
      "p",
      PLATFORM_DEFAULTS,
      {
        functions: [outcome("a", 4, 1, 10_000), outcome("b", 2, 2, 20_000), outcome("c", 0, 0, 0)],
        latencies,
      },
      { replayMs: 12, replayCpuMs: 10 },
    );
    expect(report).toMatchObject({
      requests: 6,
      coldStarts: 3,
      coldStartRate: 0.5,
      functionColdPct: { p25: 25, p50: 25, p75: 100, p90: 100, p99: 100 },
      functionsAlwaysCold: 1,
      idleReplicaSeconds: 30,
      idleGbSeconds: 10 * 0.5 + 20 * 1,
      latencyP50Ms: 200,
      latencyP99Ms: 400,
      replicaSeconds: 33,
      scaleChanges: 6,
    });
  });

  it("normalises idle time to fixed 10-minute keep-alive in the same run", () => {
    const base = { workload: "w", startupMs: 1000 } as const;
    const reports = normalise([
      { ...base, policy: "flint", idleReplicaSeconds: 45 },
      { ...base, policy: "fixed-keepalive:10m", idleReplicaSeconds: 60 },
      { ...base, startupMs: 5000, policy: "kpa", idleReplicaSeconds: 10 },
    ] as PolicyReport[]);
    expect(reports.map((r) => r.idleVsFixed10mPct)).toEqual([75, 100, null]);
  });
});

describe("markdownTable", () => {
  it("aligns the first column left and the rest right", () => {
    expect(
      markdownTable(
        ["policy", "n"],
        [
          ["flint", "1"],
          ["kpa", "100"],
        ],
      ),
    ).toBe(["| policy |   n |", "|:-------|----:|", "| flint  |   1 |", "| kpa    | 100 |"].join("\n"));
  });
});
