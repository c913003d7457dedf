// A sliding window of per-second samples (concurrency), immutable and plain JSON so it can live in policy state.

/**
 * The last `samples.length` seconds of one per-second figure. Second `s` (`Math.ceil(nowMs / 1000)`,
 * so a tick at 5000 ms and a poke at 4300 ms both land in second 5) is kept at `samples[s % length]`.
 * Seconds with no call in between count as 0: nothing was observed to be running.
 */
export interface SecondWindow {
  /** The newest second recorded, or null before the first sample. */
  readonly lastSecond: number | null;
  /** The first second ever recorded: averages over a window not yet full divide by what was seen. */
  readonly firstSecond: number | null;
  readonly samples: readonly number[];
}

/** An empty window of `seconds` seconds. */
export function emptyWindow(seconds: number): SecondWindow {
  return { lastSecond: null, firstSecond: null, samples: new Array<number>(seconds).fill(0) };
}

/** The second a call at `nowMs` belongs to: the tick at the end of a second and calls within it share one. */
export function secondOf(nowMs: number): number {
  return Math.ceil(nowMs / 1000);
}

/**
 * Records `value` for `second`. A second already recorded keeps the larger value, so a poke and the
 * tick that closes the same second do not dilute each other; seconds older than the window are dropped.
 */
export function recordSample(window: SecondWindow, second: number, value: number): SecondWindow {
  const length = window.samples.length;
  const { lastSecond } = window;
  if (lastSecond === null) {
    const samples = new Array<number>(length).fill(0);
    samples[second % length] = value;
    return { lastSecond: second, firstSecond: second, samples };
  }
  if (second <= lastSecond) {
    if (lastSecond - second >= length) return window;
    const samples = window.samples.slice();
    const index = second % length;
    samples[index] = Math.max(samples[index] ?? 0, value);
    return { lastSecond, firstSecond: window.firstSecond, samples };
  }
  // Arrays are never changed once made, so when nothing changes (an idle function recording 0 over
  // zeros, the common case) the new window shares the old array instead of copying it.
  const skipped = Math.min(second - lastSecond - 1, length);
  let changes = window.samples[second % length] !== value;
  for (let s = lastSecond + 1; s <= lastSecond + skipped && !changes; s++)
    changes = window.samples[s % length] !== 0;
  if (!changes) return { lastSecond: second, firstSecond: window.firstSecond, samples: window.samples };
  const samples = window.samples.slice();
  for (let s = lastSecond + 1; s <= lastSecond + skipped; s++) samples[s % length] = 0;
  samples[second % length] = value;
  return { lastSecond: second, firstSecond: window.firstSecond, samples };
}

/**
 * The average over the newest `seconds` seconds. While fewer seconds have been seen than that, it is the
 * average over those seen (as Knative does), so a fresh window is not read as mostly idle.
 */
export function windowAverage(window: SecondWindow, seconds: number): number {
  const { lastSecond, firstSecond, samples } = window;
  if (lastSecond === null || firstSecond === null) return 0;
  const length = samples.length;
  const span = Math.min(seconds, length, lastSecond - firstSecond + 1);
  // Walk back from the newest sample without a division per step: this runs for every function every tick.
  let index = lastSecond % length;
  let sum = 0;
  for (let k = 0; k < span; k++) {
    sum += samples[index] ?? 0;
    index = index === 0 ? length - 1 : index - 1;
  }
  return sum / span;
}

/** Whether `value` has the shape of a `SecondWindow` of `seconds` seconds (for restoring stored state). */
export function isWindow(value: unknown, seconds: number): value is SecondWindow {
  if (typeof value !== "object" || value === null) return false;
  const { lastSecond, firstSecond, samples } = value as Record<string, unknown>;
  return (
    isNullableInteger(lastSecond) &&
    isNullableInteger(firstSecond) &&
    Array.isArray(samples) &&
    samples.length === seconds &&
    samples.every((sample) => typeof sample === "number" && Number.isFinite(sample) && sample >= 0)
  );
}

function isNullableInteger(value: unknown): boolean {
  return value === null || Number.isInteger(value);
}
