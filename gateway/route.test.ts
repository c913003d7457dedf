import { parseCallPath } from "./route.js";

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
