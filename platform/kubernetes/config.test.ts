// The Kubernetes part of the gateway's configuration (platform, namespaces, NATS, informer grace)
// and the namespace readers the controller shares.
import { EnvReader } from "../env.js";
import { ConfigError } from "../errors.js";
import { loadKubernetesConfig, platformOf, readNamespaceName, readNamespaces } from "./config.js";

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
      new ConfigError("FLINT_PLATFORM", 'FLINT_PLATFORM must be one of kubernetes, embedded, was "k8s"'),
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

/** What `read` threw, checked to be a ConfigError for `variable`. */
function configErrorOf(read: () => unknown, variable: string): ConfigError {
  let thrown: unknown;
  try {
    read();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ConfigError);
  expect((thrown as ConfigError).variable).toBe(variable);
  return thrown as ConfigError;
}

describe("readNamespaces", () => {
  it.each([
    [undefined, "all"],
    ["", "all"],
    ["  ", "all"],
    ["*", "all"],
    [" * ", "all"],
    ["team-a", ["team-a"]],
    ["team-a, team-b,team-a", ["team-a", "team-b"]],
  ])("FLINT_NAMESPACES=%j is %j", (value, want) => {
    const namespaces = readNamespaces(new EnvReader({ FLINT_NAMESPACES: value }));
    expect(namespaces).toEqual(want);
    expect(Object.isFrozen(namespaces)).toBe(true);
  });

  it.each(["team-a,Team_B", "team-a,", "a,,b", "*,team-a", "-a", "a".repeat(64)])(
    "refuses FLINT_NAMESPACES=%j naming the value",
    (value) => {
      const error = configErrorOf(
        () => readNamespaces(new EnvReader({ FLINT_NAMESPACES: value })),
        "FLINT_NAMESPACES",
      );
      expect(error.message).toBe(
        `FLINT_NAMESPACES must be * or a comma-separated list of namespace names (DNS-1123 labels), was ${JSON.stringify(value)}`,
      );
    },
  );
});

describe("readNamespaceName", () => {
  it.each([
    [undefined, "default"],
    ["", "default"],
    ["flint-system", "flint-system"],
  ])("%j is %s", (value, want) => {
    expect(
      readNamespaceName(new EnvReader({ FLINT_POD_NAMESPACE: value }), "FLINT_POD_NAMESPACE", "default"),
    ).toBe(want);
  });

  it.each(["Prod", "-x", "a.b", "a".repeat(64)])("refuses %j naming the value", (value) => {
    const read = new EnvReader({ FLINT_POD_NAMESPACE: value });
    const error = configErrorOf(
      () => readNamespaceName(read, "FLINT_POD_NAMESPACE", "default"),
      "FLINT_POD_NAMESPACE",
    );
    expect(error.message).toBe(
      `FLINT_POD_NAMESPACE must be a namespace name (DNS-1123 label), was ${JSON.stringify(value)}`,
    );
  });
});
