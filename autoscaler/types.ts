// What the autoscaler's decision core consumes and produces: declared here, by the consumer, so the
// core depends on nothing in gateway/ or controller/; they adapt their types to these.

/**
 * The scale fields of a Function spec (`spec.scale` in the CRD), as written in a manifest.
 * Missing fields take the defaults in `SCALE_DEFAULTS`; `resolveScaleSpec` validates and parses it.
 */
export interface ScaleSpec {
  /** Fewest replicas, an integer ≥ 0; 0 allows scale to zero. Default 0. */
  min: number;
  /** Most replicas, an integer ≥ 1 and ≥ min. Default 20. */
  max: number;
  /** Soft target: requests in flight per replica the autoscaler aims for, an integer ≥ 1. Default 10. */
  target: number;
  /** Hard limit of requests in flight per replica (excess queues at the gateway); 0 = unlimited. Default 0. */
  concurrency: number;
  /** Keep-alive before scale to zero: "auto" (learned per function) or a duration such as "5m". Default "auto". */
  idle: string;
}

/** A `ScaleSpec` with defaults applied and `idle` parsed: what `decide` reads on every tick. */
export interface ScaleSettings {
  readonly min: number;
  readonly max: number;
  readonly target: number;
  readonly concurrency: number;
  /** Keep-alive after the last request before scale to zero, in ms; "auto" = learned from the idle history. */
  readonly idleMs: number | "auto";
}

/**
 * What the loop observed for one function since its last call to `decide`.
 * On a tick (every second) the figures cover the second that just ended; on an activation poke they
 * are the loop's current view, with `activation: true`.
 */
export interface Observation {
  /**
   * Time-weighted average of requests in flight plus requests queued at the gateway over the last
   * second (request-seconds per second), not a sample; any request in that second makes it > 0, so
   * it must not be rounded. On an activation poke: the number of requests waiting.
   */
  readonly concurrency: number;
  /** Replicas that are ready and receiving requests. */
  readonly readyReplicas: number;
  /** Replicas asked for but not ready yet (pending or starting); they count as capacity on the way. */
  readonly startingReplicas: number;
  /** Async calls waiting in the function's queue, not yet taken by a consumer. */
  readonly queueDepth: number;
  /** A request arrived while the function had no replica: the loop calls `decide` at once, outside the tick. */
  readonly activation: boolean;
}

/** The outcome of one `decide` call. */
export interface Decision<S> {
  /** Replicas the function should have now, within [min, max] of its settings. */
  readonly desired: number;
  /** The state to pass to the next call; plain JSON, so it can be stored and restored. */
  readonly next: S;
}

/**
 * A scaling policy: a pure function of (settings, observation, state, now). No I/O, no timers, no
 * clock: `nowMs` is passed in, so a timeline test or a simulator drives it exactly as the loop does.
 * `decide` never mutates `state`; the loop keeps `next` and may store it (JSON) to resume elsewhere.
 */
export interface ScalingPolicy<S = unknown> {
  /** The name used in reports and on the command line, e.g. "flint" or "fixed-keepalive:10m". */
  readonly name: string;
  /** The state for a function with no history, first seen at `nowMs` (ms since the epoch, or sim time). */
  initialState(nowMs: number): S;
  /** Turns what was observed into the replicas wanted now. */
  decide(spec: ScaleSettings, observed: Observation, state: S, nowMs: number): Decision<S>;
  /** Checks a state read back from storage (`JSON.parse` of an earlier `next`); throws `InvalidPolicyStateError`. */
  restoreState(value: unknown): S;
}
