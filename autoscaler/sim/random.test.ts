import { exponential, logNormal, seededRandom } from "./random.js";

const draws = (seed: number, stream: number, n = 5): number[] =>
  Array.from({ length: n }, seededRandom(seed, stream));

describe("seededRandom", () => {
  it("repeats for a seed and stream, and differs across seeds and streams", () => {
    expect(draws(1, 0)).toEqual(draws(1, 0));
    expect(draws(1, 0)).not.toEqual(draws(2, 0));
    expect(draws(1, 0)).not.toEqual(draws(1, 1));
  });

  it("draws in [0, 1) with a mean near ½", () => {
    const values = draws(9, 3, 100_000);
    expect(Math.min(...values.slice(0, 10_000))).toBeGreaterThanOrEqual(0);
    expect(values.every((v) => v < 1)).toBe(true);
    expect(values.reduce((a, b) => a + b, 0) / values.length).toBeCloseTo(0.5, 2);
  });
});

describe("distributions", () => {
  it("exponential has the mean it is given; log-normal the median", () => {
    const random = seededRandom(5);
    const exp = Array.from({ length: 100_000 }, () => exponential(random, 30));
    expect(exp.reduce((a, b) => a + b, 0) / exp.length).toBeCloseTo(30, 0);
    const ln = Array.from({ length: 100_001 }, () => logNormal(random, 100, 0.5)).sort((a, b) => a - b);
    expect(Math.abs(ln[50_000]! - 100)).toBeLessThan(2);
  });
});
