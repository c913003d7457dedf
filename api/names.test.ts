import { functionKey, isValidFunctionName, names, parseFunctionRef } from "./names.js";

describe("parseFunctionRef", () => {
  it.each([
    ["hello", { name: "hello", namespace: "default" }],
    ["hello.staging", { name: "hello", namespace: "staging" }],
    ["a-1.b-2", { name: "a-1", namespace: "b-2" }],
  ])("%s → %j", (text, ref) => {
    expect(parseFunctionRef(text)).toEqual(ref);
  });

  it.each(["", "Hello", "1abc", "hello.", ".ns", "hello.ns.extra", "a_b", "x".repeat(64), "hello-"])(
    "rejects %j",
    (text) => {
      expect(parseFunctionRef(text)).toBeUndefined();
    },
  );
});

describe("names", () => {
  const ref = { name: "hello", namespace: "team-a" };
  it("derives child object names and the selector from the function", () => {
    expect(functionKey(ref)).toBe("team-a/hello");
    expect(names.deployment(ref)).toBe("hello");
    expect(names.service(ref)).toBe("hello");
    expect(names.selector(ref)).toEqual({ "flint.dev/function": "hello" });
  });
  it("accepts 63-character names and rejects 64", () => {
    expect(isValidFunctionName("a".repeat(63))).toBe(true);
    expect(isValidFunctionName("a".repeat(64))).toBe(false);
  });
});
