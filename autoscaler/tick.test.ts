import { flintPolicy } from "./flint.js";
import { resolveScaleSpec } from "./spec.js";
import { decideAll, type FunctionTick } from "./tick.js";
import type { Observation } from "./types.js";

describe("decideAll", () => {
  it("decides every function at the same instant, as one call each would", () => {
    const policy = flintPolicy();
    const observed = (concurrency: number, ready: number): Observation => ({
      concurrency,
      readyReplicas: ready,
      startingReplicas: 0,
      queueDepth: 0,
      activation: false,
    });
    const functions: FunctionTick<ReturnType<typeof policy.initialState>>[] = [
      { spec: resolveScaleSpec(), observed: observed(0, 0), state: policy.initialState(0) },
      { spec: resolveScaleSpec({ target: 5 }), observed: observed(42, 3), state: policy.initialState(0) },
      { spec: resolveScaleSpec({ min: 2 }), observed: observed(3, 2), state: policy.initialState(0) },
    ];
    const decisions = decideAll(policy, functions, 5000);
    expect(decisions.map((d) => d.desired)).toEqual([0, 9, 2]);
    expect(decisions).toEqual(functions.map((f) => policy.decide(f.spec, f.observed, f.state, 5000)));
  });
});
