import { DEFAULT_WATCHDOG_IMAGE, loadConfig, quantityValue } from "./config.js";
import { ConfigError } from "../platform/errors.js";

const REQUIRED = { NATS_URL: "nats://nats:4222", REDIS_URL: "redis://redis:6379" };

describe("loadConfig", () => {
  it("has defaults for everything but NATS_URL and REDIS_URL, and is frozen", () => {
    const config = loadConfig({ ...REQUIRED, FLINT_POD_NAME: "controller-0" });
    expect(config).toEqual({
      namespaces: "all",
      podNamespace: "default",
      watchdogImage: DEFAULT_WATCHDOG_IMAGE,
      imagePullPolicy: undefined,
      defaultResources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
      sidecarResources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
      initialScale: 1,
      progressDeadlineSeconds: 120,
      gatewayUrl: "http://flint-gateway.default",
      leaderElection: {
        leaseName: "flint-controller",
        leaseNamespace: "default",
        identity: "controller-0",
        leaseDurationMs: 15_000,
        renewDeadlineMs: 10_000,
        retryPeriodMs: 2000,
      },
      natsUrl: "nats://nats:4222",
      redisUrl: "redis://redis:6379",
      autoscalerTickMs: 1000,
      port: 8080,
      host: "0.0.0.0",
      logLevel: "info",
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.leaderElection)).toBe(true);
    expect(Object.isFrozen(config.defaultResources.requests)).toBe(true);
  });

  it.each([
    [{ FLINT_NAMESPACES: "*" }, "namespaces", "all"],
    [{ FLINT_NAMESPACES: "" }, "namespaces", "all"],
    [{ FLINT_NAMESPACES: "team-a, team-b,team-a" }, "namespaces", ["team-a", "team-b"]],
    [{ FLINT_POD_NAMESPACE: "flint" }, "gatewayUrl", "http://flint-gateway.flint"],
    [{ FLINT_GATEWAY_URL: "https://fn.example.com/" }, "gatewayUrl", "https://fn.example.com"],
    [{ FLINT_IMAGE_PULL_POLICY: "Always" }, "imagePullPolicy", "Always"],
    [{ FLINT_INITIAL_SCALE: "0" }, "initialScale", 0],
    [{ FLINT_PROGRESS_DEADLINE: "90s" }, "progressDeadlineSeconds", 90],
    [{ FLINT_AUTOSCALER_TICK: "500ms" }, "autoscalerTickMs", 500],
    [{ NATS_URL: "nats://a:4222, tls://b:4222" }, "natsUrl", "nats://a:4222,tls://b:4222"],
    [{ REDIS_URL: "rediss://user:pw@redis:6380/2" }, "redisUrl", "rediss://user:pw@redis:6380/2"],
    [{ FLINT_LOG_LEVEL: "debug" }, "logLevel", "debug"],
    [
      { FLINT_DEFAULT_CPU_LIMIT: "1", FLINT_DEFAULT_MEMORY_LIMIT: "none" },
      "defaultResources",
      { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "1" } },
    ],
  ] as const)("%j sets %s", (env, key, want) => {
    expect(loadConfig({ ...REQUIRED, ...env })[key]).toEqual(want);
  });

  it("takes the lease's namespace from the pod's unless told", () => {
    expect(loadConfig({ ...REQUIRED, FLINT_POD_NAMESPACE: "flint" }).leaderElection.leaseNamespace).toBe(
      "flint",
    );
    expect(
      loadConfig({ ...REQUIRED, FLINT_POD_NAMESPACE: "flint", FLINT_LEASE_NAMESPACE: "leases" })
        .leaderElection.leaseNamespace,
    ).toBe("leases");
  });

  it.each([
    [{ NATS_URL: undefined }, "NATS_URL", /NATS_URL is required/],
    [{ REDIS_URL: "" }, "REDIS_URL", /REDIS_URL is required/],
    [{ NATS_URL: "http://nats:4222" }, "NATS_URL", /scheme nats: or tls:.*was "http:\/\/nats:4222"/],
    [{ REDIS_URL: "localhost:6379" }, "REDIS_URL", /scheme redis: or rediss:, was "localhost:6379"/],
    [{ FLINT_NAMESPACES: "team-a,Team_B" }, "FLINT_NAMESPACES", /was "team-a,Team_B"/],
    [{ FLINT_POD_NAMESPACE: "-x" }, "FLINT_POD_NAMESPACE", /namespace name/],
    [{ FLINT_IMAGE_PULL_POLICY: "always" }, "FLINT_IMAGE_PULL_POLICY", /one of Always, IfNotPresent, Never/],
    [{ FLINT_INITIAL_SCALE: "one" }, "FLINT_INITIAL_SCALE", /integer from 0 to 1000, was "one"/],
    [{ FLINT_INITIAL_SCALE: "-1" }, "FLINT_INITIAL_SCALE", /was "-1"/],
    [{ FLINT_AUTOSCALER_TICK: "1" }, "FLINT_AUTOSCALER_TICK", /duration like 30s.*was "1"/],
    [{ FLINT_PROGRESS_DEADLINE: "0s" }, "FLINT_PROGRESS_DEADLINE", /duration of at least 1ms, was "0s"/],
    [{ FLINT_DEFAULT_CPU_REQUEST: "lots" }, "FLINT_DEFAULT_CPU_REQUEST", /quantity like 100m.*was "lots"/],
    [
      { FLINT_DEFAULT_MEMORY_LIMIT: "32Mi" },
      "FLINT_DEFAULT_MEMORY_REQUEST",
      /\(64Mi\) must not exceed .*\(32Mi\)/,
    ],
    [{ FLINT_SIDECAR_CPU_LIMIT: "5m" }, "FLINT_SIDECAR_CPU_REQUEST", /\(10m\) must not exceed/],
    [
      { FLINT_LEASE_RENEW_DEADLINE: "20s" },
      "FLINT_LEASE_RENEW_DEADLINE",
      /\(20000ms\) must be shorter than FLINT_LEASE_DURATION \(15000ms\)/,
    ],
    [
      { FLINT_LEASE_RETRY_PERIOD: "10s" },
      "FLINT_LEASE_RETRY_PERIOD",
      /\(10000ms\) must be shorter than FLINT_LEASE_RENEW_DEADLINE \(10000ms\)/,
    ],
    [{ FLINT_GATEWAY_URL: "flint-gateway" }, "FLINT_GATEWAY_URL", /scheme http: or https:/],
    [{ FLINT_CONTROLLER_PORT: "70000" }, "FLINT_CONTROLLER_PORT", /from 0 to 65535/],
    [{ FLINT_LOG_LEVEL: "loud" }, "FLINT_LOG_LEVEL", /one of fatal, error/],
  ])("rejects %j naming %s", (env, variable, message) => {
    let thrown: unknown;
    try {
      loadConfig({ ...REQUIRED, ...env });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect(thrown).toMatchObject({ code: "CONFIG_INVALID", variable });
    expect((thrown as Error).message).toMatch(message);
  });
});

describe("quantityValue", () => {
  it.each([
    ["100m", 0.1],
    ["2", 2],
    ["1.5", 1.5],
    ["64Mi", 64 * 2 ** 20],
    ["1G", 1e9],
    ["1Gi", 2 ** 30],
  ])("%s is %d", (text, value) => {
    expect(quantityValue(text)).toBeCloseTo(value);
  });
});
