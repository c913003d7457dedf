// Test support for policy timelines: a policy driven second by second as the loop and a small
// platform would drive it, with an explicit clock (t0 + N s). Used by the policy tests.
import { resolveScaleSpec } from "./spec.js";
import type { Observation, ScaleSettings, ScaleSpec, ScalingPolicy } from "./types.js";

/** An arbitrary start, as a loop would see it: ms since the epoch, on a second boundary. */
export const T0 = 1_700_000_000_000;
export const at = (seconds: number): number => T0 + seconds * 1000;

export function observe(partial: Partial<Observation>): Observation {
  return {
    concurrency: 0,
    readyReplicas: 0,
    startingReplicas: 0,
    queueDepth: 0,
    activation: false,
    ...partial,
  };
}

export interface Drive<S> {
  /** Ticks at t0 + 1 s … t0 + `seconds` s. */
  readonly seconds: number;
  /** Concurrency the gateway reports for the second ending at `second`, given the replicas then. */
  readonly load: (second: number, ready: number, starting: number) => number;
  /** Seconds a new replica takes to become ready (0: ready at the next tick). */
  readonly startupSeconds?: number;
  /** Replicas already ready at t0. */
  readonly initialReady?: number;
  /** Activation pokes: ms after t0 → requests waiting. */
  readonly pokes?: ReadonlyMap<number, number>;
  readonly state?: S;
  /** Round-trips the state through JSON and `restoreState` of a new policy at every call. */
  readonly restart?: () => ScalingPolicy<S>;
}

/**
 * Drives a policy as the loop and a small platform would: a tick every second, replicas that become
 * ready `startupSeconds` after they are asked for (and that go, starting ones first, when not wanted).
 * Returns the replicas asked for after each call, keyed by ms after t0.
 */
export function drive<S>(policy: ScalingPolicy<S>, spec: ScaleSettings, d: Drive<S>): Map<number, number> {
  const startup = d.startupSeconds ?? 0;
  let readyAt: number[] = new Array<number>(d.initialReady ?? 0).fill(0);
  let state = d.state ?? policy.initialState(T0);
  const desired = new Map<number, number>();
  const call = (offsetMs: number, observed: (ready: number, starting: number) => Observation): void => {
    const second = offsetMs / 1000;
    const ready = readyAt.filter((t) => t <= second).length;
    const decider = d.restart?.() ?? policy;
    const input = d.restart === undefined ? state : decider.restoreState(JSON.parse(JSON.stringify(state)));
    const decision = decider.decide(spec, observed(ready, readyAt.length - ready), input, T0 + offsetMs);
    state = decision.next;
    desired.set(offsetMs, decision.desired);
    if (decision.desired > readyAt.length) {
      readyAt.push(...new Array<number>(decision.desired - readyAt.length).fill(Math.ceil(second) + startup));
    } else {
      readyAt = readyAt.sort((a, b) => a - b).slice(0, decision.desired);
    }
  };
  for (let second = 1; second <= d.seconds; second++) {
    for (const [offsetMs, waiting] of d.pokes ?? []) {
      if (offsetMs > (second - 1) * 1000 && offsetMs < second * 1000) {
        call(offsetMs, (ready, starting) =>
          observe({
            concurrency: waiting,
            readyReplicas: ready,
            startingReplicas: starting,
            activation: true,
          }),
        );
      }
    }
    call(second * 1000, (ready, starting) =>
      observe({
        concurrency: d.load(second, ready, starting),
        readyReplicas: ready,
        startingReplicas: starting,
      }),
    );
  }
  return desired;
}

export const spec = (scale: Partial<ScaleSpec> = {}): ScaleSettings => resolveScaleSpec(scale);
