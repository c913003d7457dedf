import { canonicalJson, contentHash } from "./hash.js";

describe("canonicalJson", () => {
  it.each([
    ["flat keys", { b: 1, a: 2 }, { a: 2, b: 1 }],
    ["nested keys", { x: { d: [1, { z: 1, y: 2 }], c: "s" } }, { x: { c: "s", d: [1, { y: 2, z: 1 }] } }],
    ["undefined members", { a: 1, b: undefined }, { a: 1 }],
  ])("is independent of %s", (_case, left, right) => {
    expect(canonicalJson(left)).toBe(canonicalJson(right));
    expect(contentHash(left)).toBe(contentHash(right));
  });

  it.each([
    ["array order", [1, 2], [2, 1]],
    ["a value", { a: 1 }, { a: 2 }],
    ["a key", { a: 1 }, { b: 1 }],
    ["a type", { a: 1 }, { a: "1" }],
  ])("tells %s apart", (_case, left, right) => {
    expect(contentHash(left)).not.toBe(contentHash(right));
  });

  it("sorts keys at every level and writes dates as ISO text", () => {
    expect(canonicalJson({ b: [{ d: 1, c: 2 }], a: new Date("2024-01-02T03:04:05Z") })).toBe(
      '{"a":"2024-01-02T03:04:05.000Z","b":[{"c":2,"d":1}]}',
    );
  });

  it("gives a sha256 in hex", () => {
    expect(contentHash({})).toMatch(/^[0-9a-f]{64}$/);
  });

  it("refuses values JSON cannot carry", () => {
    expect(() => canonicalJson({ a: 1n })).toThrow(TypeError);
  });
});
