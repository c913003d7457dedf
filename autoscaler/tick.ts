// One tick over many functions: what the controller's loop calls every second, and what the benchmark times.
import type { Decision, Observation, ScaleSettings, ScalingPolicy } from "./types.js";

/** One function's inputs to a tick. */
export interface FunctionTick<S> {
  readonly spec: ScaleSettings;
  readonly observed: Observation;
  readonly state: S;
}

/** Decides every function at `nowMs`, in order; `decisions[i]` belongs to `functions[i]`. */
export function decideAll<S>(
  policy: ScalingPolicy<S>,
  functions: readonly FunctionTick<S>[],
  nowMs: number,
): Decision<S>[] {
  const decisions = new Array<Decision<S>>(functions.length);
  for (let i = 0; i < functions.length; i++) {
    const { spec, observed, state } = functions[i] as FunctionTick<S>;
    decisions[i] = policy.decide(spec, observed, state, nowMs);
  }
  return decisions;
}
