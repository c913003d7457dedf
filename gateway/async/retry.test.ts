// The retry rules: which statuses are retried, how long to wait, Retry-After.
import {
  backoffMs,
  isRetryableStatus,
  parseRetryAfterMs,
  parseRetryOn,
  MAX_RETRY_AFTER_MS,
} from "./retry.js";

describe("parseRetryOn / isRetryableStatus", () => {
  const on = parseRetryOn("408, 429,5xx");
  it.each([
    [408, true],
    [429, true],
    [500, true],
    [503, true],
    [599, true],
    [400, false],
    [404, false],
    [200, false],
    [302, false],
  ])("status %i retried: %s", (status, expected) => {
    expect(isRetryableStatus(status, on)).toBe(expected);
  });

  it.each(["5xxx", "abc", "600", "42"])("refuses %s", (text) => {
    expect(() => parseRetryOn(text)).toThrow(JSON.stringify(text));
  });

  it("takes an empty list as retry nothing but connection errors", () => {
    expect(isRetryableStatus(503, parseRetryOn(""))).toBe(false);
  });
});

describe("backoffMs", () => {
  const settings = { maxRetries: 5, initialBackoffMs: 1000, maxBackoffMs: 8000 };

  it.each([
    [1, 0, 500],
    [1, 1, 1000],
    [2, 0, 1000],
    [3, 0.5, 3000],
    [4, 1, 8000],
    [10, 1, 8000],
    [10, 0, 4000],
  ])("attempt %i with random %d waits %i ms", (attempt, random, expected) => {
    expect(backoffMs(attempt, settings, () => random)).toBe(expected);
  });

  it("waits at least the function's Retry-After", () => {
    expect(backoffMs(1, settings, () => 0, 30_000)).toBe(30_000);
    expect(backoffMs(4, settings, () => 1, 10)).toBe(8000);
  });

  it("caps an absurd Retry-After", () => {
    expect(backoffMs(1, settings, () => 0, 10 * MAX_RETRY_AFTER_MS)).toBe(MAX_RETRY_AFTER_MS);
  });
});

describe("parseRetryAfterMs", () => {
  const now = Date.parse("2026-11-23T10:00:00Z");
  it.each([
    ["5", 5000],
    [" 0 ", 0],
    ["Mon, 23 Nov 2026 10:00:30 GMT", 30_000],
    ["Mon, 23 Nov 2026 09:00:00 GMT", 0],
    ["soon", undefined],
    [undefined, undefined],
  ])("%s → %s", (value, expected) => {
    expect(parseRetryAfterMs(value, now)).toBe(expected);
  });
});
