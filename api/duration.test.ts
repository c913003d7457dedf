import { formatDurationMs, InvalidDurationError, parseDurationMs } from "./duration.js";

describe("parseDurationMs", () => {
  it.each([
    ["30s", 30_000],
    ["500ms", 500],
    ["1m30s", 90_000],
    ["1.5s", 1500],
    ["2h", 7_200_000],
    ["0s", 0],
  ])("%s → %d ms", (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it.each(["", "30", "-5s", "thirty", "1d", "5 s", "s"])("rejects %j", (text) => {
    expect(() => parseDurationMs(text)).toThrow(InvalidDurationError);
  });
});

describe("formatDurationMs", () => {
  it.each([
    [90_000, "1m30s"],
    [250, "250ms"],
    [3_600_000, "1h"],
    [1500, "1s500ms"],
  ])("%d → %s", (ms, text) => {
    expect(formatDurationMs(ms)).toBe(text);
    expect(parseDurationMs(text)).toBe(ms);
  });
});
