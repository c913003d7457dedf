import {
  emptyIdleHistogram,
  fixedKeepAliveHits,
  isIdleHistogram,
  KEEP_ALIVE_DEFAULTS,
  keepAliveWindow,
  learnedWindow,
  recordIdleTime,
  wantsWarm,
  type IdleHistogram,
} from "./keepalive.js";
import { exponential, seededRandom } from "./sim/random.js";

const MINUTE = 60_000;

function histogramOf(idleTimesMs: readonly number[]): IdleHistogram {
  return idleTimesMs.reduce((h, idleMs) => recordIdleTime(h, idleMs), emptyIdleHistogram());
}

function withBins(counts: Record<number, number>, outOfRange = 0): IdleHistogram {
  const bins = new Array<number>(KEEP_ALIVE_DEFAULTS.bins).fill(0);
  for (const [bin, count] of Object.entries(counts)) bins[Number(bin)] = count;
  return { bins, outOfRange, learnedHits: 0, learnedIdleMs: 0, firstBin: null };
}

describe("recordIdleTime", () => {
  it("counts idle times in 1-minute bins over 4 hours, and the rest as out of range", () => {
    const h = histogramOf([30_000, 59_999, 60_000, 239 * MINUTE + 1, 240 * MINUTE]);
    expect(h.bins.slice(0, 2)).toEqual([2, 1]);
    expect(h.bins[239]).toBe(1);
    expect(h.outOfRange).toBe(1);
    expect(h.firstBin).toBe(0);
  });

  it("judges each idle time by the window learned before it, at its bin's middle", () => {
    // After one idle time of 30 min the learned window is [27 min, 34.1 min): the next idle time
    // (bin 30, middle 30.5 min) is foretold and costs 30.5 − 27 = 3.5 min; one of 60 min is not, and costs
    // the whole window.
    const h = histogramOf([30 * MINUTE, 30 * MINUTE + 100, 60 * MINUTE]);
    expect(h.learnedHits).toBe(1);
    expect(h.learnedIdleMs).toBe(3.5 * MINUTE + (2_046_000 - 1_620_000));
  });

  it("never changes the histogram it was given", () => {
    const before = histogramOf([MINUTE]);
    const copy = structuredClone(before);
    recordIdleTime(before, 5 * MINUTE);
    expect(before).toEqual(copy);
  });
});

describe("learnedWindow", () => {
  it("pre-warms at the 5th percentile's bin start − 10 % and keeps alive to the 99th's bin end + 10 %", () => {
    // 100 idle times: 5 in bin 2, 94 in bin 10, 1 in bin 20. The 5th is in bin 2, the 99th in bin 10.
    expect(learnedWindow(withBins({ 2: 5, 10: 94, 20: 1 }))).toEqual({
      source: "histogram",
      prewarmMs: 108_000, // 2 min × 0.9
      keepAliveMs: 726_000, // 11 min × 1.1
    });
  });

  it("is null with no idle time in range", () => {
    expect(learnedWindow(withBins({}, 3))).toBeNull();
  });
});

describe("fixedKeepAliveHits", () => {
  // Two idle times in bin 0 (middle 30 s), one in bin 5 (middle 330 s), one out of range. Serving bin 0
  // needs a keep-alive just over 30 s: 4 × 30 s = 120 s. Serving bin 5 too: 2 × 30 s + 2 × 330 s = 720 s.
  const h = withBins({ 0: 2, 5: 1 }, 1);
  it.each([
    [100_000, 0],
    [120_000, 2],
    [719_000, 2],
    [720_000, 3],
    [10_000_000, 3],
  ])("with a budget of %d ms serves %d", (budgetMs, hits) => {
    expect(fixedKeepAliveHits(h, budgetMs)).toBe(hits);
  });

  it("leaves out the first idle time, which the learned window could not be judged on", () => {
    expect(fixedKeepAliveHits({ ...h, firstBin: 5 }, 90_000)).toBe(2); // 3 × 30 s
  });
});

describe("keepAliveWindow", () => {
  const fallback = { source: "fallback", prewarmMs: 0, keepAliveMs: 600_000 };
  /** The fallback of a function whose idle times average 40 minutes or more. */
  const sparseFallback = { source: "fallback", prewarmMs: 0, keepAliveMs: 40 * MINUTE };

  it("learns a 30-minute timer once its window has foretold enough idle times", () => {
    // Each judged idle time is foretold at a cost of 3.5 min, where a fixed keep-alive of that cost
    // serves none: the lead after n judged is n, trusted once n > 2√n, i.e. from n = 5 (the 6th idle time).
    const windows = [1, 2, 3, 4, 5, 6].map((count) =>
      keepAliveWindow(histogramOf(new Array<number>(count).fill(30 * MINUTE))),
    );
    expect(windows.slice(0, 5)).toEqual(new Array(5).fill(fallback));
    expect(windows[5]).toEqual({ source: "histogram", prewarmMs: 27 * MINUTE, keepAliveMs: 2_046_000 });
  });

  it("falls back for memoryless arrivals, where a learned window is no better than a fixed keep-alive", () => {
    const random = seededRandom(42);
    const idleTimes = Array.from({ length: 500 }, () => 1000 + exponential(random, 5 * MINUTE));
    const h = histogramOf(idleTimes);
    expect(keepAliveWindow(h)).toEqual(fallback);
    // It would have been a window, had it been trusted: the fallback comes from the evidence test.
    expect(learnedWindow(h)?.source).toBe("histogram");
  });

  it("falls back when most idle times are beyond the range", () => {
    const periodic = new Array<number>(8).fill(30 * MINUTE);
    expect(keepAliveWindow(histogramOf([...periodic, ...new Array<number>(9).fill(300 * MINUTE)]))).toEqual(
      sparseFallback,
    );
  });

  it("falls back when idle times spread evenly over the range (bin counts with CV < 2)", () => {
    const spread = Array.from({ length: 2400 }, (_, i) => (i % 240) * MINUTE + 30_000);
    expect(keepAliveWindow(histogramOf(spread))).toEqual(sparseFallback);
  });

  it.each([
    ["average a few minutes", [2, 3, 4, 12, 5], 10],
    ["average under 40 minutes", [20, 30, 45, 50], 10],
    ["average 40 minutes or more", [15, 45, 90, 30], 40],
    ["are beyond the range", [300, 400], 40],
  ])("takes the sparse fallback only when idle times %s", (_what, minutes, fallbackMinutes) => {
    const window = keepAliveWindow(histogramOf(minutes.map((m) => m * MINUTE + 1000)));
    expect(window).toEqual({ source: "fallback", prewarmMs: 0, keepAliveMs: fallbackMinutes * MINUTE });
  });

  it("falls back with no history, and takes the fallback it is given", () => {
    expect(keepAliveWindow(emptyIdleHistogram())).toEqual(fallback);
    expect(
      keepAliveWindow(emptyIdleHistogram(), { ...KEEP_ALIVE_DEFAULTS, fallbackKeepAliveMs: 1000 }),
    ).toEqual({
      ...fallback,
      keepAliveMs: 1000,
    });
  });
});

describe("wantsWarm", () => {
  const window = { source: "histogram", prewarmMs: 100, keepAliveMs: 200 } as const;
  it.each([
    [99, false],
    [100, true],
    [199, true],
    [200, false],
  ])("after %d ms idle: %s", (idleForMs, warm) => {
    expect(wantsWarm(window, idleForMs)).toBe(warm);
  });
});

describe("isIdleHistogram", () => {
  it.each([
    [emptyIdleHistogram(), true],
    [histogramOf([MINUTE, 2 * MINUTE]), true],
    [{ ...emptyIdleHistogram(), bins: [1, 2] }, false],
    [{ ...emptyIdleHistogram(), learnedHits: -1 }, false],
    [{ ...emptyIdleHistogram(), firstBin: 241 }, false],
    ["histogram", false],
  ])("%#: %s", (value, valid) => {
    expect(isIdleHistogram(value, 240)).toBe(valid);
  });
});
