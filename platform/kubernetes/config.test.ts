// The Kubernetes part of the gateway's configuration: platform, namespaces, NATS and informer grace.
import { ConfigError } from "../errors.js";
import { loadKubernetesConfig, platformOf } from "./config.js";

const NATS = { NATS_URL: "nats://flint-nats.flint:4222" };

describe("platformOf", () => {
  it.each([
    [undefined, "embedded"],
    ["", "embedded"],
    ["embedded", "embedded"],
    ["kubernetes", "kubernetes"],
  ])("FLINT_PLATFORM=%j is %s", (value, platform) => {
    expect(platformOf({ FLINT_PLATFORM: value })).toBe(platform);
  });

  it("names the variable and the value it cannot use", () => {
    expect(() => platformOf({ FLINT_PLATFORM: "k8s" })).toThrow(
      new ConfigError("FLINT_PLATFORM", 'FLINT_PLATFORM must be kubernetes or embedded, was "k8s"'),
    );
  });
});

describe("loadKubernetesConfig", () => {
  it("has defaults: all namespaces, 60 s of grace", () => {
    expect(loadKubernetesConfig(NATS)).toEqual({
      namespaces: "all",
      natsUrl: NATS.NATS_URL,
      informerGraceMs: 60_000,
    });
  });

  it.each([
    ["*", "all"],
    ["", "all"],
    [" team-a, team-b ,team-a", ["team-a", "team-b"]],
  ])("reads FLINT_NAMESPACES=%j", (value, namespaces) => {
    expect(loadKubernetesConfig({ ...NATS, FLINT_NAMESPACES: value }).namespaces).toEqual(namespaces);
  });

  it("reads FLINT_INFORMER_GRACE", () => {
    expect(loadKubernetesConfig({ ...NATS, FLINT_INFORMER_GRACE: "0s" }).informerGraceMs).toBe(0);
    expect(loadKubernetesConfig({ ...NATS, FLINT_INFORMER_GRACE: "2m" }).informerGraceMs).toBe(120_000);
  });

  it.each<[string, Record<string, string>]>([
    ["NATS_URL", {}],
    ["NATS_URL", { NATS_URL: "" }],
    ["FLINT_NAMESPACES", { ...NATS, FLINT_NAMESPACES: "team,Bad_Name" }],
    ["FLINT_INFORMER_GRACE", { ...NATS, FLINT_INFORMER_GRACE: "soon" }],
  ])("fails naming %s", (variable, env) => {
    let error: unknown;
    try {
      loadKubernetesConfig(env);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toContain(variable);
  });
});
