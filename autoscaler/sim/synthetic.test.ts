import { SYNTHETIC_SPEC, SYNTHETIC_WORKLOADS } from "./synthetic.js";
import type { Workload } from "./workload.js";

/** A compact, order-sensitive summary of a workload's requests (deep equality on millions of numbers is slow). */
function digest(workload: Workload): string[] {
  return workload.functions.map((fn) => {
    let checksum = 0;
    fn.requests.arrivalMs.forEach((t, i) => {
      checksum = (checksum * 31 + t + 7 * (fn.requests.durationMs[i] ?? 0)) % 1e12;
    });
    return `${fn.name}:${fn.requests.arrivalMs.length}:${checksum}`;
  });
}

describe("synthetic workloads", () => {
  // Generated once (they are large, and Jest's module sandbox runs numeric code far slower than
  // Node); with Math.random made to throw, so any randomness not drawn from the seed would fail here.
  const workloads = new Map<string, Workload>();
  beforeAll(() => {
    const random = Math.random;
    Math.random = () => {
      throw new Error("unseeded randomness");
    };
    try {
      for (const [name, generate] of Object.entries(SYNTHETIC_WORKLOADS)) workloads.set(name, generate(3));
    } finally {
      Math.random = random;
    }
  });

  it.each(Object.keys(SYNTHETIC_WORKLOADS))(
    "%s is sorted, within its span, with service times ≥ 1 ms",
    (name) => {
      const workload = workloads.get(name)!;
      for (const fn of workload.functions) {
        const { arrivalMs, durationMs } = fn.requests;
        let sorted = true;
        for (let i = 1; i < arrivalMs.length; i++) sorted &&= arrivalMs[i - 1]! <= arrivalMs[i]!;
        expect(sorted).toBe(true);
        expect(arrivalMs[0]).toBeGreaterThanOrEqual(0);
        expect(arrivalMs[arrivalMs.length - 1]).toBeLessThan(workload.durationMs);
        expect(durationMs.every((d) => d >= 1)).toBe(true);
        expect(fn.spec).toBe(SYNTHETIC_SPEC);
      }
    },
  );

  it("is the same for the same seed and differs for another", () => {
    const periodic = SYNTHETIC_WORKLOADS.periodic!;
    expect(digest(periodic(3))).toEqual(digest(workloads.get("periodic")!));
    expect(digest(periodic(4))).not.toEqual(digest(workloads.get("periodic")!));
  });

  it("draws steady functions at their rates", () => {
    const counts = workloads.get("steady")!.functions.map((fn) => fn.requests.arrivalMs.length);
    // 1 hour at 0.05 … 50 requests a second, within 5 % (and a few requests for the slowest).
    [0.05, 0.2, 1, 2, 5, 10, 20, 50].forEach((rps, i) => {
      expect(Math.abs(counts[i]! - rps * 3600)).toBeLessThanOrEqual(Math.max(20, 0.05 * rps * 3600));
    });
  });

  it("fires each timer once per period", () => {
    const periodic = workloads.get("periodic")!;
    for (const fn of periodic.functions) {
      const minutes = Number(/timer-(\d+)m/.exec(fn.name)![1]);
      const count = fn.requests.arrivalMs.length;
      expect(Math.abs(count - (24 * 60) / minutes)).toBeLessThanOrEqual(1);
    }
  });

  it("puts one flash crowd of 100 to 400 requests a second into each flash-crowd function", () => {
    for (const fn of workloads.get("flash-crowd")!.functions) {
      const perMinute = new Array<number>(60).fill(0);
      for (const t of fn.requests.arrivalMs) perMinute[Math.floor(t / 60_000)]!++;
      const crowded = perMinute.filter((n) => n >= 100 * 60 * 0.9);
      expect(crowded.length).toBeGreaterThanOrEqual(2);
      expect(crowded.length).toBeLessThanOrEqual(11);
      expect(Math.max(...perMinute)).toBeLessThanOrEqual(400 * 60 * 1.1);
    }
  });
});
