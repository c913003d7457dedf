// Learned keep-alive: a per-function histogram of idle times decides how long to stay warm after the
// last request and when to pre-warm before the next (the hybrid-histogram policy, Shahrad et al. 2020).

/** The histogram policy's parameters; the defaults are the paper's. */
export interface KeepAliveOptions {
  /** Width of one histogram bin, ms. Default 1 minute. */
  readonly binMs: number;
  /** Number of bins; bins × binMs is the range (default 240 → 4 hours). Longer idle times count as out of range. */
  readonly bins: number;
  /** Pre-warm at this percentile of idle times, minus `prewarmMargin`. Default 5. */
  readonly headPercentile: number;
  /** Keep alive until this percentile of idle times, plus `keepAliveMargin`. Default 99. */
  readonly tailPercentile: number;
  /** Pre-warm this share earlier than the head percentile. Default 0.1 (10 %). */
  readonly prewarmMargin: number;
  /** Keep alive this share longer than the tail percentile. Default 0.1 (10 %). */
  readonly keepAliveMargin: number;
  /** The histogram is representative only if the coefficient of variation of its bin counts is at least this. Default 2. */
  readonly minBinCv: number;
  /**
   * How far, in standard deviations (√ of the idle times judged), the learned window must lead a fixed
   * keep-alive of equal cost in idle times served warm before it is trusted. Default 2 (about 95 %).
   */
  readonly minEvidence: number;
  /** Keep-alive used while the histogram is not representative, ms. Default 10 minutes (the industry's fixed keep-alive). */
  readonly fallbackKeepAliveMs: number;
  /**
   * Fallback for a sparse function, whose idle times so far average at least this long (a few calls
   * an hour or fewer), ms. Default 40 minutes. Such a function has few idle periods, so the longer
   * keep-alive costs little in all, and it catches the short end of gaps a 10-minute one always misses.
   */
  readonly sparseFallbackKeepAliveMs: number;
}

export const KEEP_ALIVE_DEFAULTS: Readonly<KeepAliveOptions> = Object.freeze({
  binMs: 60_000,
  bins: 240,
  headPercentile: 5,
  tailPercentile: 99,
  prewarmMargin: 0.1,
  keepAliveMargin: 0.1,
  minBinCv: 2,
  minEvidence: 2,
  fallbackKeepAliveMs: 10 * 60_000,
  sparseFallbackKeepAliveMs: 40 * 60_000,
});

/**
 * Idle times seen for one function (from the end of one activity to the start of the next), and how
 * well the window learned from them has predicted the idle times that followed.
 */
export interface IdleHistogram {
  /** Count of idle times per bin: bin i holds idle times in [i × binMs, (i + 1) × binMs). */
  readonly bins: readonly number[];
  /** Idle times at or beyond the range. */
  readonly outOfRange: number;
  /** Idle times the learned window foretold: it held a replica when the idle time ended. */
  readonly learnedHits: number;
  /** Idle replica-time the learned window would have cost over those idle times, ms. */
  readonly learnedIdleMs: number;
  /**
   * The bin of the first idle time (`bins` when out of range), null before it. The first idle time has
   * no learned window to judge, so the fixed keep-alive it is compared with is judged without it too.
   */
  readonly firstBin: number | null;
}

/**
 * When to hold a replica, measured from the end of the last activity: none before `prewarmMs`, one
 * from `prewarmMs` until `keepAliveMs`, none after. `prewarmMs` = 0 means stay warm from the start.
 */
export interface KeepAliveWindow {
  /** "histogram" when learned, "fallback" when the history is not representative. */
  readonly source: "histogram" | "fallback";
  readonly prewarmMs: number;
  readonly keepAliveMs: number;
}

export function emptyIdleHistogram(options: KeepAliveOptions = KEEP_ALIVE_DEFAULTS): IdleHistogram {
  return {
    bins: new Array<number>(options.bins).fill(0),
    outOfRange: 0,
    learnedHits: 0,
    learnedIdleMs: 0,
    firstBin: null,
  };
}

/**
 * Adds one idle time (ms). Before it goes into the histogram, the window learned from the idle times
 * before it is scored on it (prequential evaluation: every prediction is judged on data it has not
 * seen), so the history can tell whether the learned window predicts or merely fits.
 */
export function recordIdleTime(
  histogram: IdleHistogram,
  idleMs: number,
  options: KeepAliveOptions = KEEP_ALIVE_DEFAULTS,
): IdleHistogram {
  let { learnedHits, learnedIdleMs } = histogram;
  const bin = Math.floor(idleMs / options.binMs);
  const learned = learnedWindow(histogram, options);
  // The first idle time has nothing before it to be judged by; every later one is judged, and with no
  // idle time in range yet the learned window holds nothing (a miss that cost nothing).
  if (histogram.firstBin !== null && learned !== null) {
    // Judged at the bin's middle, as `fixedKeepAliveHits` judges the fixed keep-alive, so that a learned
    // window without pre-warming (itself a fixed keep-alive) ties with it exactly instead of winning
    // or losing by rounding.
    const atMs = bin >= options.bins ? Infinity : (bin + 0.5) * options.binMs;
    if (wantsWarm(learned, atMs)) learnedHits++;
    learnedIdleMs += Math.min(Math.max(atMs - learned.prewarmMs, 0), learned.keepAliveMs - learned.prewarmMs);
  }
  const firstBin = histogram.firstBin ?? Math.min(bin, options.bins);
  if (bin >= options.bins) {
    return {
      bins: histogram.bins,
      outOfRange: histogram.outOfRange + 1,
      learnedHits,
      learnedIdleMs,
      firstBin,
    };
  }
  const bins = histogram.bins.slice();
  bins[bin] = (bins[bin] ?? 0) + 1;
  return { bins, outOfRange: histogram.outOfRange, learnedHits, learnedIdleMs, firstBin };
}

/**
 * The keep-alive window to use. The learned one (see `learnedWindow`) when the histogram is
 * representative, else the fixed fallback. Representative means, as in the paper, idle times gathered
 * in few bins (coefficient of variation of the bin counts ≥ 2) and mostly within the range; and, since
 * that test cannot reject anything with fewer samples than a fifth of the bins, that the learned window
 * has predicted: on the idle times seen so far it held a replica for more of them than a fixed
 * keep-alive costing the same idle replica-time would have. So a window that only fits the past, or
 * does no better than a fixed keep-alive (as with random, memoryless arrivals), is not used.
 */
export function keepAliveWindow(
  histogram: IdleHistogram,
  options: KeepAliveOptions = KEEP_ALIVE_DEFAULTS,
): KeepAliveWindow {
  const inRange = histogram.bins.reduce((sum, count) => sum + count, 0);
  const fallback: KeepAliveWindow = {
    source: "fallback",
    prewarmMs: 0,
    keepAliveMs: isSparse(histogram, inRange, options)
      ? options.sparseFallbackKeepAliveMs
      : options.fallbackKeepAliveMs,
  };
  const learned = learnedWindow(histogram, options);
  if (learned === null) return fallback;
  // Mostly idle beyond the range: the paper forecasts these with a time series; Flint does not, and
  // uses the fixed keep-alive for them.
  if (histogram.outOfRange > inRange) return fallback;
  if (binCountCv(histogram.bins, inRange) < options.minBinCv) return fallback;
  // Over n judged idle times each contributes −1, 0 or +1 to the difference in hits, so if the learned
  // window were no better its lead would stay within about √n: ask for more than `minEvidence` × √n.
  const judged = inRange + histogram.outOfRange - 1;
  const lead = histogram.learnedHits - fixedKeepAliveHits(histogram, histogram.learnedIdleMs, options);
  if (lead <= options.minEvidence * Math.sqrt(judged)) return fallback;
  return learned;
}

/**
 * Whether the function's idle times seen so far (at least one) average at least the sparse fallback
 * (those beyond the range counted at the range's end): then a keep-alive that long is cheap beside
 * the gaps it spans. Gaps of a few minutes (on/off bursts) stay on the ordinary fallback.
 */
function isSparse(histogram: IdleHistogram, inRange: number, options: KeepAliveOptions): boolean {
  const total = inRange + histogram.outOfRange;
  if (total === 0) return false;
  let sumMs = histogram.outOfRange * histogram.bins.length * options.binMs;
  histogram.bins.forEach((count, bin) => (sumMs += count * (bin + 0.5) * options.binMs));
  return sumMs / total >= options.sparseFallbackKeepAliveMs;
}

/**
 * The window the histogram suggests, representative or not: pre-warm at the head percentile's bin
 * start − margin, keep alive until the tail percentile's bin end + margin (both rounded outward to whole
 * bins, so the window errs towards warm). Null with no idle time in range.
 */
export function learnedWindow(
  histogram: IdleHistogram,
  options: KeepAliveOptions = KEEP_ALIVE_DEFAULTS,
): KeepAliveWindow | null {
  const inRange = histogram.bins.reduce((sum, count) => sum + count, 0);
  if (inRange === 0) return null;
  const head = percentileBin(histogram.bins, inRange, options.headPercentile);
  const tail = percentileBin(histogram.bins, inRange, options.tailPercentile);
  return {
    source: "histogram",
    prewarmMs: Math.round(head * options.binMs * (1 - options.prewarmMargin)),
    keepAliveMs: Math.round((tail + 1) * options.binMs * (1 + options.keepAliveMargin)),
  };
}

/**
 * How many of the histogram's idle times a fixed keep-alive would have served warm if it had cost
 * `budgetMs` of idle replica-time over all of them (idle times taken at their bin's middle; those out of
 * range cost the whole keep-alive and are never served).
 */
export function fixedKeepAliveHits(
  histogram: IdleHistogram,
  budgetMs: number,
  options: KeepAliveOptions = KEEP_ALIVE_DEFAULTS,
): number {
  // A keep-alive of T costs Σ min(idle, T): at T = the middle of bin k, the bins before k cost their
  // idle times and the rest (bin k onward, and out of range) cost T each. It serves the bins whose
  // middle is below T, so it serves bin j for this budget when its cost at T = middle of j is below it.
  const { bins, firstBin } = histogram;
  const scored = (bin: number): number => (bins[bin] ?? 0) - (bin === firstBin ? 1 : 0);
  let remaining = histogram.outOfRange - (firstBin === bins.length ? 1 : 0);
  for (let bin = 0; bin < bins.length; bin++) remaining += scored(bin);
  let spentBelow = 0;
  let hits = 0;
  for (let bin = 0; bin < bins.length; bin++) {
    const count = scored(bin);
    if (count === 0) continue;
    const middleMs = (bin + 0.5) * options.binMs;
    if (spentBelow + remaining * middleMs > budgetMs) break;
    hits += count;
    spentBelow += count * middleMs;
    remaining -= count;
  }
  return hits;
}

/** Whether a replica should be held after `idleForMs` of idleness. */
export function wantsWarm(window: KeepAliveWindow, idleForMs: number): boolean {
  return idleForMs >= window.prewarmMs && idleForMs < window.keepAliveMs;
}

/** Coefficient of variation of the bin counts: high when idle times gather in few bins (predictable). */
function binCountCv(bins: readonly number[], total: number): number {
  const mean = total / bins.length;
  let squares = 0;
  for (const count of bins) squares += (count - mean) ** 2;
  return Math.sqrt(squares / bins.length) / mean;
}

/** The bin holding the given percentile: the first bin whose cumulative count reaches it. */
function percentileBin(bins: readonly number[], total: number, percentile: number): number {
  const rank = Math.max(1, Math.ceil((percentile / 100) * total));
  let seen = 0;
  for (let bin = 0; bin < bins.length; bin++) {
    seen += bins[bin] ?? 0;
    if (seen >= rank) return bin;
  }
  return bins.length - 1;
}

/** Whether `value` has the shape of an `IdleHistogram` with `bins` bins (for restoring stored state). */
export function isIdleHistogram(value: unknown, bins: number): value is IdleHistogram {
  if (typeof value !== "object" || value === null) return false;
  const fields = value as Record<string, unknown>;
  return (
    Array.isArray(fields.bins) &&
    fields.bins.length === bins &&
    fields.bins.every(isCount) &&
    isCount(fields.outOfRange) &&
    isCount(fields.learnedHits) &&
    typeof fields.learnedIdleMs === "number" &&
    fields.learnedIdleMs >= 0 &&
    (fields.firstBin === null || (isCount(fields.firstBin) && (fields.firstBin as number) <= bins))
  );
}

function isCount(value: unknown): boolean {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

/** Whether `value` has the shape of a `KeepAliveWindow`. */
export function isKeepAliveWindow(value: unknown): value is KeepAliveWindow {
  if (typeof value !== "object" || value === null) return false;
  const { source, prewarmMs, keepAliveMs } = value as Record<string, unknown>;
  return (
    (source === "histogram" || source === "fallback") &&
    typeof prewarmMs === "number" &&
    prewarmMs >= 0 &&
    typeof keepAliveMs === "number" &&
    keepAliveMs >= prewarmMs
  );
}
