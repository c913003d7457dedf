import { fileURLToPath } from "node:url";
import { resolveScaleSpec } from "../spec.js";
import { azureWorkload, durationFromPercentiles, readAzureTrace } from "./azure.js";
import { TraceFormatError } from "./errors.js";

const testdata = (name: string): string => fileURLToPath(new URL(`./testdata/${name}`, import.meta.url));

describe("readAzureTrace", () => {
  it("reads the three files of the layout, row N of each being the same function", () => {
    const trace = readAzureTrace(testdata("azure-small"));
    expect(trace.minutes).toBe(3);
    expect(trace.functions).toEqual([
      {
        name: "fnA",
        perMinute: [2, 0, 1],
        durationPercentilesMs: [100, 100, 100, 100, 100, 100, 100],
        memoryMb: 128,
      },
      {
        name: "fnB",
        perMinute: [0, 0, 3],
        durationPercentilesMs: [0, 10, 20, 50, 100, 900, 1000],
        memoryMb: 256,
      },
    ]);
  });

  it.each([
    ["azure-short-row", "inv.csv:3: has 5 fields, the header has 6"],
    ["azure-bad-percentiles", "run.csv:3: duration percentiles must not decrease"],
    ["azure-missing-mem", "mem.csv: cannot be read"],
  ])("rejects %s naming the file and line", (folder, message) => {
    const read = (): unknown => readAzureTrace(testdata(folder));
    expect(read).toThrow(TraceFormatError);
    expect(read).toThrow(`${testdata(folder)}/${message}`);
  });
});

describe("azureWorkload", () => {
  const trace = readAzureTrace(testdata("azure-small"));

  it("places each minute's invocations inside that minute, sorted, with the function's durations", () => {
    const workload = azureWorkload(trace, { name: "small", seed: 7 });
    expect(workload.durationMs).toBe(180_000);
    const [a, b] = workload.functions;
    expect(Array.from(a!.requests.durationMs)).toEqual([100, 100, 100]);
    const arrivalsA = Array.from(a!.requests.arrivalMs);
    expect(arrivalsA.slice(0, 2).every((t) => t >= 0 && t < 60_000)).toBe(true);
    expect(arrivalsA[2]).toBeGreaterThanOrEqual(120_000);
    expect(arrivalsA[2]).toBeLessThan(180_000);
    const arrivalsB = Array.from(b!.requests.arrivalMs);
    expect(arrivalsB).toEqual([...arrivalsB].sort((x, y) => x - y));
    expect(arrivalsB.every((t) => t >= 120_000 && t < 180_000)).toBe(true);
    // Service times below 1 ms are replayed as 1 ms, so every request shows as concurrency.
    expect(Array.from(b!.requests.durationMs).every((d) => d >= 1 && d <= 1000)).toBe(true);
    expect(a!.memoryMb).toBe(128);
    expect(a!.spec).toEqual(resolveScaleSpec());
  });

  it("is deterministic for a seed and differs between seeds", () => {
    const arrivals = (seed: number): number[] =>
      azureWorkload(trace, { name: "small", seed }).functions.flatMap((fn) =>
        Array.from(fn.requests.arrivalMs),
      );
    expect(arrivals(7)).toEqual(arrivals(7));
    expect(arrivals(7)).not.toEqual(arrivals(8));
  });
});

describe("durationFromPercentiles", () => {
  const percentiles = [0, 10, 20, 50, 100, 900, 1000];
  it.each([
    [0, 0],
    [0.005, 5], // halfway between p0 and p1
    [0.5, 50],
    [0.625, 75], // halfway between p50 and p75
    [0.995, 950], // halfway between p99 and p100
  ])("draw %d → %d ms", (u, ms) => {
    expect(durationFromPercentiles(percentiles, () => u)).toBeCloseTo(ms, 9);
  });
});
