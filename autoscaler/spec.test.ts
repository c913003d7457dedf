import { InvalidScaleSpecError } from "./errors.js";
import { resolveScaleSpec, SCALE_DEFAULTS } from "./spec.js";

describe("resolveScaleSpec", () => {
  it("applies the CRD defaults", () => {
    expect(SCALE_DEFAULTS).toEqual({ min: 0, max: 20, target: 10, concurrency: 0, idle: "auto" });
    expect(resolveScaleSpec()).toEqual({ min: 0, max: 20, target: 10, concurrency: 0, idleMs: "auto" });
  });

  it.each([
    ["5m", 300_000],
    ["30s", 30_000],
    ["auto", "auto"],
  ])("parses idle %j once, to %j", (idle, idleMs) => {
    expect(resolveScaleSpec({ idle }).idleMs).toBe(idleMs);
  });

  it.each([
    [{ min: -1 }, "scale.min must be an integer ≥ 0, was -1"],
    [{ max: 0 }, "scale.max must be an integer ≥ 1, was 0"],
    [{ target: 0 }, "scale.target must be an integer ≥ 1, was 0"],
    [{ concurrency: 1.5 }, "scale.concurrency must be an integer ≥ 0, was 1.5"],
    [{ min: 5, max: 2 }, "scale.min must be ≤ scale.max (2), was 5"],
    [{ idle: "soon" }, 'scale.idle must be "auto" or a duration like 5m or 90s, was "soon"'],
  ])("rejects %j naming the field", (spec, message) => {
    expect(() => resolveScaleSpec(spec)).toThrow(InvalidScaleSpecError);
    expect(() => resolveScaleSpec(spec)).toThrow(message);
  });
});
