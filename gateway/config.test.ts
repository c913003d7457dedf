import { loadConfig } from "./config.js";
import { ConfigError } from "../platform/errors.js";

const TOKEN = { FLINT_AUTH_TOKEN: "secret" };

describe("loadConfig", () => {
  it("has safe defaults and a frozen result", () => {
    const config = loadConfig(TOKEN);
    expect(config).toMatchObject({
      port: 8080,
      host: "127.0.0.1",
      defaultNamespace: "default",
      queueDepth: 1000,
      queueBytes: 64 * 1024 * 1024,
      activationTimeoutMs: 30_000,
      retryAfterSeconds: 1,
      probeIntervalMs: 50,
      maxSocketsPerReplica: 256,
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 5000,
      shutdownDelayMs: 0,
      shutdownTimeoutMs: 30_000,
      logLevel: "info",
      auth: { required: true, token: "secret", basic: undefined },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.auth)).toBe(true);
  });

  it("reads every variable", () => {
    const config = loadConfig({
      FLINT_GATEWAY_PORT: "0",
      FLINT_GATEWAY_HOST: "0.0.0.0",
      FLINT_AUTH_USER: "admin",
      FLINT_AUTH_PASSWORD: "pw",
      FLINT_DEFAULT_NAMESPACE: "fn",
      FLINT_QUEUE_DEPTH: "5",
      FLINT_QUEUE_BYTES: "2Mi",
      FLINT_ACTIVATION_TIMEOUT: "1m",
      FLINT_RETRY_AFTER: "5s",
      FLINT_PROBE_INTERVAL: "200ms",
      FLINT_MAX_SOCKETS_PER_REPLICA: "16",
      FLINT_HEADERS_TIMEOUT: "2s",
      FLINT_KEEP_ALIVE_TIMEOUT: "65s",
      FLINT_SHUTDOWN_DELAY: "5s",
      FLINT_SHUTDOWN_TIMEOUT: "10s",
      FLINT_GATEWAY_ID: "gw-1",
      FLINT_LOG_LEVEL: "debug",
      NATS_URL: "nats://10.0.0.1:4222,nats://10.0.0.2:4222",
      REDIS_URL: "redis://10.0.0.3:6379/1",
      FLINT_ASYNC_MAX_BODY: "2Mi",
      FLINT_ASYNC_CONCURRENCY: "8",
      FLINT_ASYNC_RETRY_ON: "429,502,503",
      FLINT_ASYNC_RESULT_MAX_BYTES: "64Ki",
      FLINT_ASYNC_RECORD_TTL: "1h",
      FLINT_IDEMPOTENCY_TTL: "2h",
      FLINT_ASYNC_QUEUE_BYTES: "1Gi",
      FLINT_ASYNC_MAX_UPLOADS: "16",
      FLINT_DEAD_LETTER_MAX_AGE: "24h",
      FLINT_CALLBACK_RETRIES: "2",
      FLINT_CALLBACK_TIMEOUT: "3s",
    });
    expect(config).toEqual({
      port: 0,
      host: "0.0.0.0",
      auth: { required: true, token: undefined, basic: { user: "admin", password: "pw" } },
      defaultNamespace: "fn",
      queueDepth: 5,
      queueBytes: 2 * 1024 * 1024,
      activationTimeoutMs: 60_000,
      retryAfterSeconds: 5,
      probeIntervalMs: 200,
      maxSocketsPerReplica: 16,
      headersTimeoutMs: 2000,
      keepAliveTimeoutMs: 65_000,
      shutdownDelayMs: 5000,
      shutdownTimeoutMs: 10_000,
      instanceId: "gw-1",
      logLevel: "debug",
      async: {
        natsUrl: "nats://10.0.0.1:4222,nats://10.0.0.2:4222",
        redisUrl: "redis://10.0.0.3:6379/1",
        maxBodyBytes: 2 * 1024 * 1024,
        maxInFlight: 8,
        retryOn: { statuses: new Set([429, 502, 503]), classes: new Set() },
        resultMaxBytes: 64 * 1024,
        recordTtlMs: 3600_000,
        idempotencyTtlMs: 7200_000,
        queueMaxBytes: 1024 ** 3,
        maxUploads: 16,
        deadLetterMaxAgeMs: 24 * 3600_000,
        callbackMaxRetries: 2,
        callbackTimeoutMs: 3000,
      },
    });
  });

  it.each([
    [
      "NATS_URL",
      "http://127.0.0.1:4222",
      'NATS_URL must be a URL (or a comma-separated list) with scheme nats: or tls:, was "http://127.0.0.1:4222"',
    ],
    [
      "REDIS_URL",
      "127.0.0.1:6379",
      'REDIS_URL must be a URL (or a comma-separated list) with scheme redis: or rediss:, was "127.0.0.1:6379"',
    ],
    [
      "FLINT_ASYNC_RETRY_ON",
      "5xx,teapot",
      'FLINT_ASYNC_RETRY_ON must be a comma-separated list of statuses like 429 and classes like 5xx, was "5xx,teapot"',
    ],
    ["FLINT_ASYNC_CONCURRENCY", "0", "FLINT_ASYNC_CONCURRENCY must be an integer from 1 to 10000"],
  ])("refuses %s=%s", (name, value, message) => {
    expect(() => loadConfig({ ...TOKEN, [name]: value })).toThrow(message);
  });

  it("treats an empty value as unset", () => {
    expect(loadConfig({ ...TOKEN, FLINT_GATEWAY_PORT: "" }).port).toBe(8080);
  });

  it("takes both credentials at once", () => {
    const config = loadConfig({ ...TOKEN, FLINT_AUTH_USER: "a", FLINT_AUTH_PASSWORD: "b" });
    expect(config.auth).toEqual({ required: true, token: "secret", basic: { user: "a", password: "b" } });
  });

  it("turns credentials off only when told to", () => {
    expect(loadConfig({ FLINT_AUTH: "none" }).auth).toEqual({ required: false });
  });

  it.each([
    [{}, "FLINT_AUTH_TOKEN", /needs a credential/],
    [{ FLINT_AUTH: "off" }, "FLINT_AUTH", /one of required, none, was "off"/],
    [{ FLINT_AUTH: "none", FLINT_AUTH_TOKEN: "x" }, "FLINT_AUTH", /unset one or the other/],
    [{ FLINT_AUTH_USER: "admin" }, "FLINT_AUTH_PASSWORD", /other half/],
    [{ FLINT_AUTH_PASSWORD: "pw" }, "FLINT_AUTH_USER", /other half/],
    [{ FLINT_AUTH_USER: "a:b", FLINT_AUTH_PASSWORD: "pw" }, "FLINT_AUTH_USER", /must not contain ':'/],
    [{ ...TOKEN, FLINT_GATEWAY_PORT: "http" }, "FLINT_GATEWAY_PORT", /integer from 0 to 65535, was "http"/],
    [{ ...TOKEN, FLINT_GATEWAY_PORT: "70000" }, "FLINT_GATEWAY_PORT", /was "70000"/],
    [{ ...TOKEN, FLINT_QUEUE_DEPTH: "-1" }, "FLINT_QUEUE_DEPTH", /was "-1"/],
    [{ ...TOKEN, FLINT_QUEUE_DEPTH: "1e3" }, "FLINT_QUEUE_DEPTH", /was "1e3"/],
    [{ ...TOKEN, FLINT_QUEUE_BYTES: "64MB" }, "FLINT_QUEUE_BYTES", /like 67108864 or 64Mi.*was "64MB"/],
    [{ ...TOKEN, FLINT_QUEUE_BYTES: "0" }, "FLINT_QUEUE_BYTES", /positive/],
    [
      { ...TOKEN, FLINT_ACTIVATION_TIMEOUT: "thirty" },
      "FLINT_ACTIVATION_TIMEOUT",
      /must be a duration like 30s, was "thirty"/,
    ],
    [
      { ...TOKEN, FLINT_ACTIVATION_TIMEOUT: "0s" },
      "FLINT_ACTIVATION_TIMEOUT",
      /duration of at least 1ms, was "0s"/,
    ],
    [{ ...TOKEN, FLINT_PROBE_INTERVAL: "5" }, "FLINT_PROBE_INTERVAL", /duration/],
    [{ ...TOKEN, FLINT_MAX_SOCKETS_PER_REPLICA: "0" }, "FLINT_MAX_SOCKETS_PER_REPLICA", /from 1/],
    [
      { ...TOKEN, FLINT_DEFAULT_NAMESPACE: "Prod" },
      "FLINT_DEFAULT_NAMESPACE",
      /namespace name \(DNS-1123 label\), was "Prod"/,
    ],
    [{ ...TOKEN, FLINT_LOG_LEVEL: "verbose" }, "FLINT_LOG_LEVEL", /one of fatal.*was "verbose"/],
  ])("rejects %j naming %s", (env, variable, message) => {
    let thrown: unknown;
    try {
      loadConfig(env);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).variable).toBe(variable);
    expect((thrown as ConfigError).message).toMatch(message);
  });
});
