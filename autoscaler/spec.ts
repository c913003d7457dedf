// Scale settings from a Function's `spec.scale`: defaults, validation, and `idle` parsed once, not per tick.
import { InvalidDurationError, parseDurationMs } from "../api/duration.js";
import { InvalidScaleSpecError } from "./errors.js";
import type { ScaleSettings, ScaleSpec } from "./types.js";

/** The CRD's defaults for `spec.scale`. */
export const SCALE_DEFAULTS: Readonly<ScaleSpec> = Object.freeze({
  min: 0,
  max: 20,
  target: 10,
  concurrency: 0,
  idle: "auto",
});

/**
 * Applies the defaults to a (possibly partial) scale spec, checks it, and parses `idle`.
 * Throws `InvalidScaleSpecError` naming the field and value, never falls back silently.
 */
export function resolveScaleSpec(spec: Partial<ScaleSpec> = {}): ScaleSettings {
  const min = integerField("min", spec.min ?? SCALE_DEFAULTS.min, 0);
  const max = integerField("max", spec.max ?? SCALE_DEFAULTS.max, 1);
  const target = integerField("target", spec.target ?? SCALE_DEFAULTS.target, 1);
  const concurrency = integerField("concurrency", spec.concurrency ?? SCALE_DEFAULTS.concurrency, 0);
  if (min > max) throw new InvalidScaleSpecError("min", `must be ≤ scale.max (${max}), was ${min}`);
  const idle = spec.idle ?? SCALE_DEFAULTS.idle;
  return Object.freeze({ min, max, target, concurrency, idleMs: parseIdle(idle) });
}

function integerField(field: keyof ScaleSpec, value: unknown, least: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < least) {
    throw new InvalidScaleSpecError(field, `must be an integer ≥ ${least}, was ${JSON.stringify(value)}`);
  }
  return value;
}

function parseIdle(idle: unknown): number | "auto" {
  if (idle === "auto") return "auto";
  const invalid = (cause?: unknown): InvalidScaleSpecError =>
    new InvalidScaleSpecError(
      "idle",
      `must be "auto" or a duration like 5m or 90s, was ${JSON.stringify(idle)}`,
      {
        cause,
      },
    );
  if (typeof idle !== "string") throw invalid();
  try {
    return parseDurationMs(idle);
  } catch (error) {
    if (!(error instanceof InvalidDurationError)) throw error;
    throw invalid(error);
  }
}
