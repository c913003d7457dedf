// Knative's KPA re-implemented from its documented decision rule and defaults: the baseline Flint is measured against.
import { InvalidPolicyStateError } from "./errors.js";
import { readState } from "./state.js";
import type { Decision, Observation, ScaleSettings, ScalingPolicy } from "./types.js";
import { emptyWindow, isWindow, recordSample, secondOf, windowAverage, type SecondWindow } from "./window.js";

/** Knative's config-autoscaler knobs, with its defaults. */
export interface KpaOptions {
  /** Averaging window for the stable decision, seconds. Default 60. */
  readonly stableWindowSeconds: number;
  /** Averaging window for the panic decision, seconds (10 % of stable). Default 6. */
  readonly panicWindowSeconds: number;
  /** Panic when panic-window replicas / ready replicas reaches this ratio. Default 2 (200 %). */
  readonly panicThreshold: number;
  /** Share of the soft target actually aimed for. Default 0.7. */
  readonly targetUtilisation: number;
  /** How long the windows must have asked for zero before the last replica goes, ms. Default 30 s. */
  readonly scaleToZeroGraceMs: number;
  /** At most this many times the ready replicas per decision. Default 1000. */
  readonly maxScaleUpRate: number;
  /** At least ready replicas divided by this per decision. Default 2. */
  readonly maxScaleDownRate: number;
  /** Decision interval, ms; samples are still recorded every second. Default 2 s. */
  readonly tickMs: number;
}

export const KPA_DEFAULTS: Readonly<KpaOptions> = Object.freeze({
  stableWindowSeconds: 60,
  panicWindowSeconds: 6,
  panicThreshold: 2,
  targetUtilisation: 0.7,
  scaleToZeroGraceMs: 30_000,
  maxScaleUpRate: 1000,
  maxScaleDownRate: 2,
  tickMs: 2000,
});

/** What the KPA remembers between calls. */
export interface KpaState {
  readonly policy: "kpa";
  /** Per-second concurrency over the stable window. */
  readonly window: SecondWindow;
  /** The last decision, repeated between decision ticks. */
  readonly desired: number;
  readonly lastDecisionMs: number | null;
  /** Knative's panicTime: the last decision over the panic threshold; null when not panicking. */
  readonly panicSinceMs: number | null;
  /** The most replicas asked for in this panic: a panic never scales down. */
  readonly panicDesired: number;
  /** When the windows first asked for zero replicas (for the grace period); null otherwise. */
  readonly zeroSinceMs: number | null;
  /** No scale-down before this time: a fresh or stale history must first fill a window. */
  readonly noScaleDownUntilMs: number;
  readonly lastObservedMs: number | null;
}

/** The KPA as a policy; `options` override Knative's defaults. */
export function kpaPolicy(options: Partial<KpaOptions> = {}): ScalingPolicy<KpaState> {
  const o: KpaOptions = { ...KPA_DEFAULTS, ...options };
  const stableMs = o.stableWindowSeconds * 1000;
  return {
    name: "kpa",
    initialState: () => kpaState(emptyWindow(o.stableWindowSeconds), 0, null, null, 0, null, 0, null),
    decide: (spec, observed, state, nowMs) => decideKpa(o, stableMs, spec, observed, state, nowMs),
    restoreState: (value) => restoreKpaState(value, o.stableWindowSeconds),
  };
}

function decideKpa(
  o: KpaOptions,
  stableMs: number,
  spec: ScaleSettings,
  observed: Observation,
  state: KpaState,
  nowMs: number,
): Decision<KpaState> {
  // Without a recent history the windows say nothing yet: start them afresh and do not scale down
  // until one stable window has been seen (Knative does the same after an autoscaler restart).
  const stale = state.lastObservedMs === null || nowMs - state.lastObservedMs > stableMs;
  const window = recordSample(
    stale ? emptyWindow(o.stableWindowSeconds) : state.window,
    secondOf(nowMs),
    observed.concurrency,
  );
  const noScaleDownUntilMs = stale ? nowMs + stableMs : state.noScaleDownUntilMs;
  const current = observed.readyReplicas + observed.startingReplicas;
  // Scale from zero does not wait for the decision tick: the activator's stat makes Knative tick at once.
  const fromZero = current === 0 && (observed.concurrency > 0 || observed.activation);
  if (!fromZero && state.lastDecisionMs !== null && nowMs - state.lastDecisionMs < o.tickMs) {
    return {
      desired: clampToSpec(state.desired, spec),
      next: kpaState(
        window,
        state.desired,
        state.lastDecisionMs,
        state.panicSinceMs,
        state.panicDesired,
        state.zeroSinceMs,
        noScaleDownUntilMs,
        nowMs,
      ),
    };
  }

  const target = kpaTarget(spec, o.targetUtilisation);
  // Knative divides by ready pods only: pods still starting are not counted, which is why a burst
  // during a slow start looks like a panic on every tick.
  const readyPods = Math.max(1, observed.readyReplicas);
  const maxUp = Math.ceil(o.maxScaleUpRate * readyPods);
  const maxDown = Math.floor(readyPods / o.maxScaleDownRate);
  const stable = clamp(Math.ceil(windowAverage(window, o.stableWindowSeconds) / target), maxDown, maxUp);
  const panic = clamp(Math.ceil(windowAverage(window, o.panicWindowSeconds) / target), maxDown, maxUp);

  let panicSinceMs = state.panicSinceMs;
  let panicDesired = state.panicDesired;
  if (panic / readyPods >= o.panicThreshold) {
    panicSinceMs = nowMs;
  } else if (panicSinceMs !== null && nowMs - panicSinceMs > stableMs) {
    // Knative leaves panic when `panicTime + StableWindow` is strictly before now: the tick exactly one
    // stable window after the last tick over the threshold still panics.
    panicSinceMs = null;
    panicDesired = 0;
  }
  let desired = stable;
  if (panicSinceMs !== null) {
    desired = Math.max(panicDesired, stable, panic);
    panicDesired = desired;
  }

  // The last replica leaves only after the windows have asked for zero for the grace period.
  let zeroSinceMs: number | null = null;
  if (desired === 0 && current > 0) {
    zeroSinceMs = state.zeroSinceMs ?? nowMs;
    if (nowMs - zeroSinceMs < o.scaleToZeroGraceMs) desired = 1;
  }
  if (fromZero) desired = Math.max(desired, 1);
  desired = clampToSpec(desired, spec);
  if (nowMs < noScaleDownUntilMs) desired = Math.min(spec.max, Math.max(desired, current));
  return {
    desired,
    next: kpaState(
      window,
      desired,
      nowMs,
      panicSinceMs,
      panicDesired,
      zeroSinceMs,
      noScaleDownUntilMs,
      nowMs,
    ),
  };
}

/** Every state is built here, so all have one shape (V8 keeps property access fast on a single shape). */
// eslint-disable-next-line max-params -- one constructor for every state, so V8 keeps a single object shape (see above)
function kpaState(
  window: SecondWindow,
  desired: number,
  lastDecisionMs: number | null,
  panicSinceMs: number | null,
  panicDesired: number,
  zeroSinceMs: number | null,
  noScaleDownUntilMs: number,
  lastObservedMs: number | null,
): KpaState {
  return {
    policy: "kpa",
    window,
    desired,
    lastDecisionMs,
    panicSinceMs,
    panicDesired,
    zeroSinceMs,
    noScaleDownUntilMs,
    lastObservedMs,
  };
}

/** Knative's per-replica target: the soft target (capped by a hard limit) times the utilisation. */
export function kpaTarget(spec: ScaleSettings, utilisation: number): number {
  const soft = spec.concurrency > 0 ? Math.min(spec.target, spec.concurrency) : spec.target;
  return soft * utilisation;
}

function clamp(value: number, least: number, most: number): number {
  return Math.min(most, Math.max(least, value));
}

function clampToSpec(desired: number, spec: ScaleSettings): number {
  return clamp(desired, spec.min, spec.max);
}

function restoreKpaState(value: unknown, stableWindowSeconds: number): KpaState {
  const fields = readState("kpa", value);
  const window = fields.raw.window;
  if (!isWindow(window, stableWindowSeconds)) {
    throw new InvalidPolicyStateError("kpa", `window must hold ${stableWindowSeconds} samples`);
  }
  return kpaState(
    { lastSecond: window.lastSecond, firstSecond: window.firstSecond, samples: window.samples.slice() },
    fields.count("desired"),
    fields.nullableTime("lastDecisionMs"),
    fields.nullableTime("panicSinceMs"),
    fields.count("panicDesired"),
    fields.nullableTime("zeroSinceMs"),
    fields.time("noScaleDownUntilMs"),
    fields.nullableTime("lastObservedMs"),
  );
}
