import { UnknownPolicyError } from "./errors.js";
import { policyByName } from "./policies.js";

describe("policyByName", () => {
  it.each([
    ["flint", "flint"],
    ["kpa", "kpa"],
    ["fixed-keepalive:10m", "fixed-keepalive:10m"],
    ["fixed-keepalive(90s)", "fixed-keepalive:1m30s"],
  ])("%s → %s", (text, name) => {
    expect(policyByName(text).name).toBe(name);
  });

  it.each(["oracle", "fixed-keepalive:soon", "fixed-keepalive", "FLINT", ""])("rejects %j", (text) => {
    expect(() => policyByName(text)).toThrow(UnknownPolicyError);
    expect(() => policyByName(text)).toThrow("known: flint, kpa, fixed-keepalive:<duration>");
  });
});
