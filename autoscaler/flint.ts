// Flint's default policy: concurrency-driven, startup-aware scale out and a keep-alive learned per
// function from its idle times (with pre-warming); `fixedKeepAlivePolicy` is the same scaler with a fixed keep-alive.
import { formatDurationMs } from "../api/duration.js";
import { InvalidPolicyStateError } from "./errors.js";
import {
  emptyIdleHistogram,
  isIdleHistogram,
  isKeepAliveWindow,
  KEEP_ALIVE_DEFAULTS,
  keepAliveWindow,
  recordIdleTime,
  wantsWarm,
  type IdleHistogram,
  type KeepAliveOptions,
  type KeepAliveWindow,
} from "./keepalive.js";
import { readState } from "./state.js";
import type { Decision, Observation, ScaleSettings, ScalingPolicy } from "./types.js";
import { emptyWindow, isWindow, recordSample, secondOf, windowAverage, type SecondWindow } from "./window.js";

/** Flint's knobs. */
export interface FlintOptions {
  /** Averaging window for scaling down, seconds. Default 60 (as Knative's stable window). */
  readonly stableWindowSeconds: number;
  /** Averaging window for scaling up, seconds. Default 3: long enough to smooth one noisy second. */
  readonly reactionWindowSeconds: number;
  /** At most this many times the current replicas (at least 1) per decision. Default 10. */
  readonly maxScaleUpRate: number;
  /** At least the current replicas divided by this per decision. Default 2. */
  readonly maxScaleDownRate: number;
  /** The learned keep-alive's parameters. */
  readonly keepAlive: KeepAliveOptions;
  /**
   * A fixed keep-alive after the last request, ms, instead of `scale.idle` and the learned one; this is
   * how `fixed-keepalive(T)` is built, so it differs from flint only in the keep-alive. Default none.
   */
  readonly fixedKeepAliveMs: number | null;
}

export const FLINT_DEFAULTS: Readonly<FlintOptions> = Object.freeze({
  stableWindowSeconds: 60,
  reactionWindowSeconds: 3,
  maxScaleUpRate: 10,
  maxScaleDownRate: 2,
  keepAlive: KEEP_ALIVE_DEFAULTS,
  fixedKeepAliveMs: null,
});

/** What flint remembers between calls; plain JSON, stored in Redis by the loop. */
export interface FlintState {
  readonly policy: "flint";
  /** Per-second demand over the stable window: concurrency, with a queue counted by its growth (see `demandOf`). */
  readonly window: SecondWindow;
  /** Concurrency at the previous call, to see whether a queue grows. */
  readonly lastConcurrency: number;
  /** Ready replicas at the previous call: the capacity that served the second just observed. */
  readonly lastReady: number;
  /** The last call that saw any demand (the end of the function's last activity); null if never. */
  readonly lastActiveMs: number | null;
  /** Idle times seen between activities. */
  readonly idle: IdleHistogram;
  /** The keep-alive window `idle` supports; derived, recomputed only when `idle` changes. */
  readonly keepAlive: KeepAliveWindow;
  /** No scale-down before this time: a fresh or stale history must first fill a stable window. */
  readonly noScaleDownUntilMs: number;
  readonly lastObservedMs: number | null;
}

/** The flint policy; `options` override the defaults. */
export function flintPolicy(options: Partial<FlintOptions> = {}): ScalingPolicy<FlintState> {
  const o: FlintOptions = { ...FLINT_DEFAULTS, ...options };
  const name =
    o.fixedKeepAliveMs === null ? "flint" : `fixed-keepalive:${formatDurationMs(o.fixedKeepAliveMs)}`;
  return {
    name,
    initialState: () => {
      const idle = emptyIdleHistogram(o.keepAlive);
      return {
        policy: "flint",
        window: emptyWindow(o.stableWindowSeconds),
        lastConcurrency: 0,
        lastReady: 0,
        lastActiveMs: null,
        idle,
        keepAlive: keepAliveWindow(idle, o.keepAlive),
        noScaleDownUntilMs: 0,
        lastObservedMs: null,
      };
    },
    decide: (spec, observed, state, nowMs) => decideFlint(o, spec, observed, state, nowMs),
    restoreState: (value) => restoreFlintState(value, o),
  };
}

/** Scale to zero `keepAliveMs` after the last request; otherwise exactly flint's scaler. */
export function fixedKeepAlivePolicy(keepAliveMs: number): ScalingPolicy<FlintState> {
  return flintPolicy({ fixedKeepAliveMs: keepAliveMs });
}

function decideFlint(
  o: FlintOptions,
  spec: ScaleSettings,
  observed: Observation,
  state: FlintState,
  nowMs: number,
): Decision<FlintState> {
  const stableMs = o.stableWindowSeconds * 1000;
  // Without a recent history the window says nothing yet: start it afresh and do not scale down until
  // a stable window has been seen. The idle history is long-term and is kept.
  const stale = state.lastObservedMs === null || nowMs - state.lastObservedMs > stableMs;
  const demand = demandOf(spec, observed, stale ? null : state) + observed.queueDepth;
  const window = recordSample(
    stale ? emptyWindow(o.stableWindowSeconds) : state.window,
    secondOf(nowMs),
    demand,
  );
  const noScaleDownUntilMs = stale ? nowMs + stableMs : state.noScaleDownUntilMs;

  const active = observed.concurrency > 0 || observed.queueDepth > 0 || observed.activation;
  let { idle, keepAlive, lastActiveMs } = state;
  if (active) {
    // An idle time ends here. A gap of one tick or less is one activity seen in consecutive seconds,
    // and a gap spanning a stale history was not watched, so neither is learned from.
    if (!stale && lastActiveMs !== null && nowMs - lastActiveMs > 1000) {
      idle = recordIdleTime(idle, nowMs - lastActiveMs, o.keepAlive);
      keepAlive = keepAliveWindow(idle, o.keepAlive);
    }
    lastActiveMs = nowMs;
  }

  // Up on the short reaction window, down only as the stable window lets go.
  const level = Math.max(
    windowAverage(window, o.reactionWindowSeconds),
    windowAverage(window, o.stableWindowSeconds),
  );
  // A poke reports requests waiting now: size for them at once rather than average them with idle seconds.
  let load = Math.ceil((observed.activation ? Math.max(level, demand) : level) / spec.target);
  let desired: number;
  if (active) {
    desired = Math.max(load, 1);
  } else {
    // Idle now: the stable window keeps extra replicas, but whether the last one stays is the
    // keep-alive's decision, so a learned "scale to zero now, pre-warm later" is not held for a window.
    if (load <= 1) load = 0;
    const warm =
      lastActiveMs !== null && wantsWarm(keepAliveFor(o, spec, keepAlive), nowMs - lastActiveMs) ? 1 : 0;
    desired = Math.max(load, warm);
  }

  const current = observed.readyReplicas + observed.startingReplicas;
  desired = Math.min(desired, Math.ceil(Math.max(1, current) * o.maxScaleUpRate));
  desired = Math.max(desired, Math.floor(current / o.maxScaleDownRate));
  desired = Math.min(spec.max, Math.max(spec.min, desired));
  if (nowMs < noScaleDownUntilMs) desired = Math.min(spec.max, Math.max(desired, current));

  return {
    desired,
    next: {
      policy: "flint",
      window,
      lastConcurrency: observed.concurrency,
      lastReady: observed.readyReplicas,
      lastActiveMs,
      idle,
      keepAlive,
      noScaleDownUntilMs,
      lastObservedMs: nowMs,
    },
  };
}

/**
 * The demand the last second shows, in requests in flight. Requests in flight count as they are. A queue
 * (no ready replica, or every ready replica at its hard limit) counts by how much it grew, not by its
 * length: requests waiting for replicas that are already starting will be served by them, so counting
 * the whole queue again every second, as Knative does, multiplies pods during a slow start. A queue that
 * shrinks adds nothing: the capacity present is already draining it.
 */
export function demandOf(
  spec: ScaleSettings,
  observed: Observation,
  previous: Pick<FlintState, "lastConcurrency" | "lastReady"> | null,
): number {
  const concurrency = observed.concurrency;
  // The second just observed was served by the replicas ready at its start and still ready at its end.
  const ready =
    previous === null ? observed.readyReplicas : Math.min(previous.lastReady, observed.readyReplicas);
  const served = ready * spec.concurrency;
  const queueing = concurrency > 0 && (ready === 0 || (spec.concurrency > 0 && concurrency > served));
  if (!queueing) return concurrency;
  const growth = Math.max(0, concurrency - (previous?.lastConcurrency ?? 0));
  return Math.min(concurrency, served + growth);
}

function keepAliveFor(o: FlintOptions, spec: ScaleSettings, learned: KeepAliveWindow): KeepAliveWindow {
  const fixedMs = o.fixedKeepAliveMs ?? (spec.idleMs === "auto" ? null : spec.idleMs);
  return fixedMs === null ? learned : { source: "fallback", prewarmMs: 0, keepAliveMs: fixedMs };
}

function restoreFlintState(value: unknown, o: FlintOptions): FlintState {
  const fields = readState("flint", value);
  const { window, idle, keepAlive } = fields.raw;
  if (!isWindow(window, o.stableWindowSeconds)) {
    throw new InvalidPolicyStateError("flint", `window must hold ${o.stableWindowSeconds} samples`);
  }
  if (!isIdleHistogram(idle, o.keepAlive.bins)) {
    throw new InvalidPolicyStateError("flint", `idle must be a histogram of ${o.keepAlive.bins} bins`);
  }
  if (!isKeepAliveWindow(keepAlive)) {
    throw new InvalidPolicyStateError("flint", "keepAlive must be a keep-alive window");
  }
  return {
    policy: "flint",
    window: {
      lastSecond: window.lastSecond,
      firstSecond: window.firstSecond,
      samples: window.samples.slice(),
    },
    lastConcurrency: fields.amount("lastConcurrency"),
    lastReady: fields.count("lastReady"),
    lastActiveMs: fields.nullableTime("lastActiveMs"),
    idle: {
      bins: idle.bins.slice(),
      outOfRange: idle.outOfRange,
      learnedHits: idle.learnedHits,
      learnedIdleMs: idle.learnedIdleMs,
      firstBin: idle.firstBin,
    },
    // Derived data is recomputed rather than trusted: options may have changed since it was stored.
    keepAlive: keepAliveWindow(idle, o.keepAlive),
    noScaleDownUntilMs: fields.time("noScaleDownUntilMs"),
    lastObservedMs: fields.nullableTime("lastObservedMs"),
  };
}
