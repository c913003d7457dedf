import { fixedKeepAlivePolicy } from "../flint.js";
import { resolveScaleSpec } from "../spec.js";
import type { ScaleSpec, ScalingPolicy } from "../types.js";
import { policyUnderTest } from "./policies.js";
import { LatencyLog, PLATFORM_DEFAULTS, replay, simulateFunction, type PlatformModel } from "./simulate.js";
import { requestTrace, type FunctionWorkload, type Workload } from "./workload.js";

function fn(
  requests: [atMs: number, durationMs: number][],
  scale: Partial<ScaleSpec> = {},
): FunctionWorkload {
  return {
    name: "f",
    spec: resolveScaleSpec(scale),
    requests: requestTrace(
      requests.map(([atMs]) => atMs),
      requests.map(([, durationMs]) => durationMs),
    ),
  };
}

function run(
  workload: FunctionWorkload,
  policy: ScalingPolicy,
  horizonMs: number,
  model: Partial<PlatformModel> = {},
): { outcome: ReturnType<typeof simulateFunction>; latencies: LatencyLog } {
  const latencies = new LatencyLog();
  const outcome = simulateFunction(
    workload,
    policy,
    { ...PLATFORM_DEFAULTS, ...model },
    horizonMs,
    latencies,
  );
  return { outcome, latencies };
}

describe("simulateFunction with a fixed keep-alive", () => {
  // Requests of 100 ms at 0.5 s, 30 s, 200 s, 230 s and 400 s; replicas take 1 s to start.
  const gaps = fn([
    [500, 100],
    [30_000, 100],
    [200_000, 100],
    [230_000, 100],
    [400_000, 100],
  ]);

  it("counts exactly the requests that found no replica, and the idle replica-time", () => {
    // Keep-alive 60 s, measured from the last tick that saw the function busy. The first replica is
    // asked for by the poke at 0.5 s, is ready at 1.5 s, and is kept by both the first-window rule
    // (no scale-down before 60.5 s) and the keep-alive after the request at 30 s (busy tick 31 s):
    // it goes at 91 s. The second: 200 s (cold) to 291 s, serving 200 s and 230 s. The third:
    // 400 s (cold) to 462 s. Alive 90.5 + 91 + 62 = 243.5 s, of which 0.5 s busy.
    const { outcome, latencies } = run(gaps, fixedKeepAlivePolicy(60_000), 600_000);
    expect(outcome).toEqual({
      name: "f",
      requests: 5,
      coldStarts: 3,
      completed: 5,
      dropped: 0,
      timedOut: 0,
      replicaMs: 243_500,
      idleReplicaMs: 243_000,
      scaleChanges: 6,
      peakReplicas: 1,
    });
    // A cold request waits the 1 s start-up, then runs 100 ms.
    expect(latencies.percentile(50)).toBe(1100);
    expect(latencies.percentile(20)).toBe(100);
  });

  it.each([
    // 20 s: only the first-window rule saves the request at 30 s; 230 s comes 28 s after 202 s.
    [20_000, 4],
    [60_000, 3],
    // 3 min: the 169 s gaps (31 s → 200 s, 231 s → 400 s) are covered too.
    [180_000, 1],
  ])("keep-alive %d ms → %d cold starts", (keepAliveMs, coldStarts) => {
    expect(run(gaps, fixedKeepAlivePolicy(keepAliveMs), 600_000).outcome.coldStarts).toBe(coldStarts);
  });
});

describe("simulateFunction's platform model", () => {
  const oneReplica = { min: 1, max: 1, concurrency: 1 };
  const keep = fixedKeepAlivePolicy(600_000);

  it("queues beyond the hard limit, first come first served", () => {
    const { outcome, latencies } = run(
      fn(
        [
          [0, 100],
          [0, 100],
          [0, 100],
        ],
        oneReplica,
      ),
      keep,
      10_000,
    );
    expect(outcome.coldStarts).toBe(0);
    expect([latencies.percentile(33), latencies.percentile(66), latencies.percentile(100)]).toEqual([
      100, 200, 300,
    ]);
  });

  it("drops a request when the queue is full", () => {
    const { outcome } = run(
      fn(
        [
          [0, 100],
          [0, 100],
          [0, 100],
        ],
        oneReplica,
      ),
      keep,
      10_000,
      { queueLimit: 1 },
    );
    expect([outcome.completed, outcome.dropped]).toEqual([2, 1]);
  });

  it("times out a request that waits longer than the queue timeout", () => {
    const { outcome } = run(
      fn(
        [
          [0, 1000],
          [10, 100],
        ],
        oneReplica,
      ),
      keep,
      10_000,
      { queueTimeoutMs: 150 },
    );
    expect([outcome.completed, outcome.timedOut]).toEqual([1, 1]);
  });

  it.each([250, 1000, 5000])("makes a cold request wait the start-up latency (%d ms)", (startupMs) => {
    const { latencies } = run(fn([[0, 40]]), keep, 10_000, { startupMs });
    expect(latencies.percentile(100)).toBe(startupMs + 40);
  });

  it("spreads requests over ready replicas, least busy first", () => {
    // Two replicas kept by min; four 1 s requests at once: two run, two wait for the first to finish.
    const { latencies } = run(
      fn(
        [
          [0, 1000],
          [0, 1000],
          [0, 1000],
          [0, 1000],
        ],
        { min: 2, max: 2, concurrency: 1 },
      ),
      keep,
      10_000,
    );
    expect([latencies.percentile(50), latencies.percentile(100)]).toEqual([1000, 2000]);
  });
});

describe("replay", () => {
  it("gives the same figures for the same workload, and the oracle avoids every avoidable cold start", () => {
    // Sparse requests; the oracle starts a replica just in time, except for one at 0.3 s (before the
    // first tick could act on it).
    const workload: Workload = {
      name: "sparse",
      durationMs: 3_600_000,
      functions: [
        fn([
          [300, 50],
          [120_500, 50],
          [1_000_200, 50],
          [1_000_900, 50],
          [2_500_000, 50],
        ]),
      ],
    };
    const oracle = replay(workload, policyUnderTest("oracle"), PLATFORM_DEFAULTS);
    expect(oracle.functions[0]!.coldStarts).toBe(1);
    expect(oracle.functions[0]!.completed).toBe(5);
    const again = replay(workload, policyUnderTest("oracle"), PLATFORM_DEFAULTS);
    expect(again.functions).toEqual(oracle.functions);
    const fixed = replay(workload, policyUnderTest("fixed-keepalive:10m"), PLATFORM_DEFAULTS);
    expect(fixed.functions[0]!.coldStarts).toBe(4);
    expect(oracle.functions[0]!.idleReplicaMs).toBeLessThan(fixed.functions[0]!.idleReplicaMs / 20);
  });
});
