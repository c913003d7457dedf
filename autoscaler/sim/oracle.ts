// The oracle: a policy that is told every future request of its function. It is the lower bound the
// report measures the others against, and could not exist outside a simulator.
import { InvalidPolicyStateError } from "../errors.js";
import type { ScalingPolicy } from "../types.js";
import type { RequestTrace } from "./workload.js";

/** The oracle keeps no history: everything it needs it was given. */
export interface OracleState {
  readonly policy: "oracle";
}

/**
 * An oracle for one function. For each second it knows the replicas needed to serve every request at
 * once (the peak number running in that second over the hard limit, or 1 with no limit). At each
 * decision it asks for the most any second needs from now until a replica asked for at the next tick
 * would be ready. So it starts a replica just in time before each arrival, and keeps one across a gap
 * only when the gap is shorter than a start-up plus a tick: exactly when staying warm is cheaper than
 * the idle start-up time of a new replica.
 */
export function oraclePolicy(
  requests: RequestTrace,
  hardLimit: number,
  startupMs: number,
  tickMs: number,
): ScalingPolicy<OracleState> {
  const needs = replicasNeededPerSecond(requests, hardLimit);
  const lookaheadMs = startupMs + tickMs;
  return {
    name: "oracle",
    initialState: () => ({ policy: "oracle" }),
    decide: (spec, observed, state, nowMs) => {
      const first = Math.max(0, Math.floor(nowMs / 1000));
      const last = Math.min(needs.length - 1, Math.floor((nowMs + lookaheadMs - 1) / 1000));
      let desired = 0;
      for (let second = first; second <= last; second++) desired = Math.max(desired, needs[second] ?? 0);
      // The plan assumed every request starts on arrival; one still waiting (behind a start-up) must
      // keep its capacity, or the oracle would cancel the replica it started for it.
      if (observed.activation || observed.concurrency > 0) {
        desired = Math.max(desired, hardLimit > 0 ? Math.ceil(observed.concurrency / hardLimit) : 1);
      }
      return { desired: Math.min(spec.max, Math.max(spec.min, desired)), next: state };
    },
    restoreState: (value) => {
      if (
        typeof value !== "object" ||
        value === null ||
        (value as { policy?: unknown }).policy !== "oracle"
      ) {
        throw new InvalidPolicyStateError("oracle", "must be an object written by the oracle");
      }
      return { policy: "oracle" };
    },
  };
}

/** Per second, the replicas needed if every request started the moment it arrived. */
export function replicasNeededPerSecond(requests: RequestTrace, hardLimit: number): Uint32Array {
  const { arrivalMs, durationMs } = requests;
  const count = arrivalMs.length;
  if (count === 0) return new Uint32Array(0);
  const ends = new Float64Array(count);
  for (let i = 0; i < count; i++) ends[i] = (arrivalMs[i] as number) + (durationMs[i] as number);
  ends.sort();
  const seconds = Math.floor((ends[count - 1] as number) / 1000) + 1;
  const peak = new Uint32Array(seconds);
  // Sweep starts and ends in time order (an end at the instant of a start frees its slot first); each
  // stretch with `running` requests raises the peak of every second it touches.
  let running = 0;
  let started = 0;
  let ended = 0;
  let sinceMs = 0;
  while (started < count || ended < count) {
    const startMs = started < count ? (arrivalMs[started] as number) : Infinity;
    const endMs = ended < count ? (ends[ended] as number) : Infinity;
    const atMs = ended < started && endMs <= startMs ? endMs : startMs;
    if (running > 0) {
      const first = Math.floor(sinceMs / 1000);
      const last = Math.max(first, Math.ceil(atMs / 1000) - 1);
      for (let second = first; second <= last; second++) {
        peak[second] = Math.max(peak[second] as number, running);
      }
    }
    sinceMs = atMs;
    if (atMs === endMs && ended < started && endMs <= startMs) {
      ended++;
      running--;
    } else {
      started++;
      running++;
    }
  }
  // A request of zero duration still needs a replica for its instant.
  for (let i = 0; i < count; i++) {
    const second = Math.floor((arrivalMs[i] as number) / 1000);
    peak[second] = Math.max(peak[second] as number, 1);
  }
  const needs = new Uint32Array(seconds);
  for (let second = 0; second < seconds; second++) {
    const most = peak[second] as number;
    needs[second] = most === 0 ? 0 : hardLimit > 0 ? Math.ceil(most / hardLimit) : 1;
  }
  return needs;
}
