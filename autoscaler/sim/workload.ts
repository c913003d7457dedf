// What the simulator replays: functions, each with its scale settings and its requests in time order.
import type { ScaleSettings } from "../types.js";

/** One function's requests, sorted by arrival. */
export interface RequestTrace {
  /** Arrival times, ms from the start of the workload, non-decreasing. */
  readonly arrivalMs: Float64Array;
  /** Service times, ms: how long a replica works on each request once it has started it. */
  readonly durationMs: Float64Array;
}

export interface FunctionWorkload {
  readonly name: string;
  readonly spec: ScaleSettings;
  readonly requests: RequestTrace;
  /** Memory of one replica, MB, when the source says (the Azure trace does); weights wasted memory-time. */
  readonly memoryMb?: number;
}

export interface Workload {
  readonly name: string;
  /** The span that is measured, ms from 0: replica-seconds are counted up to here. */
  readonly durationMs: number;
  readonly functions: readonly FunctionWorkload[];
}

/** A request trace from arrays of arrivals and durations (same length, arrivals sorted). */
export function requestTrace(arrivalMs: ArrayLike<number>, durationMs: ArrayLike<number>): RequestTrace {
  if (arrivalMs.length !== durationMs.length) throw new RangeError("arrivals and durations differ in length");
  return { arrivalMs: Float64Array.from(arrivalMs), durationMs: Float64Array.from(durationMs) };
}
