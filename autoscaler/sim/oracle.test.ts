import { resolveScaleSpec } from "../spec.js";
import type { Observation } from "../types.js";
import { oraclePolicy, replicasNeededPerSecond } from "./oracle.js";
import { requestTrace } from "./workload.js";

describe("replicasNeededPerSecond", () => {
  // Three 1.5 s requests starting at 0.2 s, 0.4 s and 2.9 s; one of 0 ms at 5.5 s.
  const requests = requestTrace([200, 400, 2900, 5500], [1500, 1500, 1500, 0]);

  it("counts a replica per second a request runs in, with no hard limit", () => {
    expect(Array.from(replicasNeededPerSecond(requests, 0))).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it("counts the peak running over the hard limit", () => {
    // Peaks: second 0: 2, second 1: 2 (until 1.7 s / 1.9 s), then the third (2.9 s to 4.4 s) alone, then the last.
    expect(Array.from(replicasNeededPerSecond(requests, 1))).toEqual([2, 2, 1, 1, 1, 1]);
    expect(Array.from(replicasNeededPerSecond(requests, 2))).toEqual([1, 1, 1, 1, 1, 1]);
  });
});

describe("oraclePolicy", () => {
  const observe = (partial: Partial<Observation> = {}): Observation => ({
    concurrency: 0,
    readyReplicas: 0,
    startingReplicas: 0,
    queueDepth: 0,
    activation: false,
    ...partial,
  });
  // Two requests overlapping from 10.7 s to 10.8 s; the second ends at 11 s.
  const requests = requestTrace([10_500, 10_700], [300, 300]);
  const oracle = oraclePolicy(requests, 1, 1000, 1000);
  const spec = resolveScaleSpec();

  it.each([
    [8000, 0], // second 10 is beyond this tick's reach (start-up 1 s + tick 1 s)
    [9000, 2], // a replica asked for now is ready at 10 s; two requests overlap at 10.7 s
    [10_000, 2],
    [11_000, 0],
  ])("at %d ms asks for %d", (nowMs, replicas) => {
    expect(oracle.decide(spec, observe(), oracle.initialState(0), nowMs).desired).toBe(replicas);
  });

  it("keeps capacity for requests still waiting", () => {
    expect(oracle.decide(spec, observe({ concurrency: 3 }), oracle.initialState(0), 30_000).desired).toBe(3);
  });
});
