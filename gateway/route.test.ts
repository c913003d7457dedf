import { isReservedPath, parseCallPath } from "./route.js";

describe("parseCallPath", () => {
  it.each([
    ["/function/hello", "hello", "/"],
    ["/function/hello/", "hello", "/"],
    ["/function/hello?x=1", "hello", "/?x=1"],
    ["/function/hello/a/b?x=1&y=/z", "hello", "/a/b?x=1&y=/z"],
    ["/function/hello.staging/a", "hello.staging", "/a"],
    ["/function/", "", "/"],
    ["/function//a", "", "/a"],
    ["/function/hello/../../system/functions", "hello", "/../../system/functions"],
    ["/function/h%2Fx/y", "h%2Fx", "/y"],
  ])("%s → %j + %j", (url, functionText, upstreamPath) => {
    expect(parseCallPath(url)).toEqual({ functionText, upstreamPath });
  });
});

describe("isReservedPath", () => {
  it.each([
    "/_/metrics",
    "/_/health",
    "/_/ready?x=1",
    "/_",
    "/%5F/metrics",
    "/%5f/metrics",
    "/%255F/metrics",
    "/./_/ready",
    "//_/metrics",
    "///_/",
    "/a/../_/metrics",
    "/../_/metrics",
    "/%2e/_/metrics",
    "/%2E%2E/%5F/metrics",
    "/x%2F..%2F_/metrics",
    "/\\_/metrics",
    "/_;x=1/metrics",
    "/%E0%A4%A/_/",
  ])("refuses %s", (path) => {
    expect(isReservedPath(path)).toBe(true);
  });

  it.each([
    "/",
    "/_x/metrics",
    "/a/_/metrics",
    "/snake_case",
    "/a%20b",
    "/?path=/_/metrics",
    "/_x%5F",
    "/a/b/..",
  ])("passes %s", (path) => {
    expect(isReservedPath(path)).toBe(false);
  });
});
