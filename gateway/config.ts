// The gateway's configuration, read once from the environment into a frozen, typed object.
import { hostname } from "node:os";
import { DEFAULT_NAMESPACE } from "../api/index.js";
import { DEFAULT_RETRY_ON_TEXT, parseRetryOn, type RetryOn } from "./async/retry.js";
import { EnvReader, type Env, type LogLevel } from "../platform/env.js";
import { ConfigError } from "../platform/errors.js";
import { readNamespaceName } from "../platform/kubernetes/config.js";

/** Who may use the management API (/system/*), and functions that ask for a credential. */
export type AuthConfig =
  | {
      readonly required: true;
      /** Accepted as `Authorization: Bearer <token>`. */
      readonly token: string | undefined;
      /** Accepted as `Authorization: Basic base64(user:password)`. */
      readonly basic: { readonly user: string; readonly password: string } | undefined;
    }
  /** FLINT_AUTH=none: the management API is open. Only for a gateway no one else can reach. */
  | { readonly required: false };

export interface GatewayConfig {
  /** TCP port; 0 picks a free one. FLINT_GATEWAY_PORT, default 8080. */
  readonly port: number;
  /** Listen address. FLINT_GATEWAY_HOST, default 127.0.0.1 (the Helm chart sets 0.0.0.0). */
  readonly host: string;
  readonly auth: AuthConfig;
  /** Namespace of calls and API requests that do not name one. FLINT_DEFAULT_NAMESPACE, default "default". */
  readonly defaultNamespace: string;
  /** Calls that may wait per function (for activation or a free slot). FLINT_QUEUE_DEPTH, default 1000. */
  readonly queueDepth: number;
  /**
   * Bytes that waiting calls may hold across all functions (headers, buffered body, bookkeeping;
   * see docs/gateway.md for the accounting). FLINT_QUEUE_BYTES, default 64Mi.
   */
  readonly queueBytes: number;
  /** How long a call may wait for a replica or a free slot, in ms. FLINT_ACTIVATION_TIMEOUT, default 30s. */
  readonly activationTimeoutMs: number;
  /** Retry-After sent with 429 and 503, in whole seconds. FLINT_RETRY_AFTER, default 1s. */
  readonly retryAfterSeconds: number;
  /** How often a starting replica is probed on /_/ready, in ms. FLINT_PROBE_INTERVAL, default 50ms. */
  readonly probeIntervalMs: number;
  /**
   * Upstream connections per replica for functions with no concurrency limit (a limit of N uses N).
   * FLINT_MAX_SOCKETS_PER_REPLICA, default 256.
   */
  readonly maxSocketsPerReplica: number;
  /** Time a client has to send the request headers, in ms (slowloris). FLINT_HEADERS_TIMEOUT, default 10s. */
  readonly headersTimeoutMs: number;
  /** How long an idle client connection is kept open, in ms. FLINT_KEEP_ALIVE_TIMEOUT, default 5s. */
  readonly keepAliveTimeoutMs: number;
  /**
   * On SIGTERM, how long readiness fails before the listener closes, in ms, so load balancers stop
   * sending first. FLINT_SHUTDOWN_DELAY, default 0s (the Helm chart sets 5s).
   */
  readonly shutdownDelayMs: number;
  /** On SIGTERM, how long calls in flight may take to finish, in ms. FLINT_SHUTDOWN_TIMEOUT, default 30s. */
  readonly shutdownTimeoutMs: number;
  /** Names this gateway in concurrency samples. FLINT_GATEWAY_ID, default the host name. */
  readonly instanceId: string;
  /** FLINT_LOG_LEVEL, default info. */
  readonly logLevel: LogLevel;
  /** Async calls: limits, retries, callbacks, and where the queue and the records live. */
  readonly async: AsyncGatewayConfig;
}

/** The async part of the gateway's configuration. */
export interface AsyncGatewayConfig {
  /** NATS with JetStream for the call queue; unset: in memory (calls are lost with the process). NATS_URL. */
  readonly natsUrl: string | undefined;
  /** Redis for call records and idempotency keys; unset: in memory. REDIS_URL. */
  readonly redisUrl: string | undefined;
  /** Largest async request body, in bytes. FLINT_ASYNC_MAX_BODY, default 1Mi. */
  readonly maxBodyBytes: number;
  /** Async calls one function may have in flight per gateway. FLINT_ASYNC_CONCURRENCY, default 32. */
  readonly maxInFlight: number;
  /** Which function statuses are retried. FLINT_ASYNC_RETRY_ON, default "408,429,5xx". */
  readonly retryOn: RetryOn;
  /** Most response body kept for a callback, in bytes. FLINT_ASYNC_RESULT_MAX_BYTES, default 1Mi. */
  readonly resultMaxBytes: number;
  /** How long a call record is kept after its last change, in ms. FLINT_ASYNC_RECORD_TTL, default 24h. */
  readonly recordTtlMs: number;
  /** How long an Idempotency-Key maps to its call, in ms. FLINT_IDEMPOTENCY_TTL, default 24h. */
  readonly idempotencyTtlMs: number;
  /**
   * Bytes the queue of pending calls may hold: JetStream's max_bytes (default 1Gi), or in memory
   * (no NATS_URL) the calls, dead letters and callbacks held (default 256Mi). Past it, 503.
   * FLINT_ASYNC_QUEUE_BYTES.
   */
  readonly queueMaxBytes: number;
  /** Async call bodies read at once; one more gets 503 + Retry-After. FLINT_ASYNC_MAX_UPLOADS, default 64. */
  readonly maxUploads: number;
  /** How long dead letters are kept, in ms. FLINT_DEAD_LETTER_MAX_AGE, default 168h. */
  readonly deadLetterMaxAgeMs: number;
  /** Retries of a failed callback POST. FLINT_CALLBACK_RETRIES, default 5. */
  readonly callbackMaxRetries: number;
  /** One callback POST's deadline, in ms. FLINT_CALLBACK_TIMEOUT, default 10s. */
  readonly callbackTimeoutMs: number;
}

const AUTH_MODES = ["required", "none"] as const;

/**
 * Reads the configuration from `env` (normally `process.env`). Throws a ConfigError naming the
 * variable and its value on anything it cannot use; an empty value counts as unset.
 */
export function loadConfig(env: Env): GatewayConfig {
  const read = new EnvReader(env);
  return Object.freeze({
    port: read.integer("FLINT_GATEWAY_PORT", 8080, 0, 65_535),
    host: read.string("FLINT_GATEWAY_HOST", "127.0.0.1"),
    auth: Object.freeze(authConfig(read)),
    defaultNamespace: readNamespaceName(read, "FLINT_DEFAULT_NAMESPACE", DEFAULT_NAMESPACE),
    queueDepth: read.integer("FLINT_QUEUE_DEPTH", 1000, 0, 1_000_000),
    queueBytes: read.bytes("FLINT_QUEUE_BYTES", 64 * 1024 ** 2),
    activationTimeoutMs: read.durationMs("FLINT_ACTIVATION_TIMEOUT", 30_000, 1),
    retryAfterSeconds: Math.max(1, Math.round(read.durationMs("FLINT_RETRY_AFTER", 1000, 1) / 1000)),
    probeIntervalMs: read.durationMs("FLINT_PROBE_INTERVAL", 50, 1),
    maxSocketsPerReplica: read.integer("FLINT_MAX_SOCKETS_PER_REPLICA", 256, 1, 65_536),
    headersTimeoutMs: read.durationMs("FLINT_HEADERS_TIMEOUT", 10_000, 1),
    keepAliveTimeoutMs: read.durationMs("FLINT_KEEP_ALIVE_TIMEOUT", 5000, 1),
    shutdownDelayMs: read.durationMs("FLINT_SHUTDOWN_DELAY", 0, 0),
    shutdownTimeoutMs: read.durationMs("FLINT_SHUTDOWN_TIMEOUT", 30_000, 0),
    instanceId: read.string("FLINT_GATEWAY_ID") ?? hostname(),
    logLevel: read.logLevel(),
    async: Object.freeze(asyncConfig(read)),
  });
}

function asyncConfig(read: EnvReader): AsyncGatewayConfig {
  const natsUrl = read.urls("NATS_URL", ["nats:", "tls:"]);
  return {
    natsUrl,
    redisUrl: read.urls("REDIS_URL", ["redis:", "rediss:"]),
    maxBodyBytes: read.bytes("FLINT_ASYNC_MAX_BODY", 1024 ** 2),
    maxInFlight: read.integer("FLINT_ASYNC_CONCURRENCY", 32, 1, 10_000),
    retryOn: retryOn(read),
    resultMaxBytes: read.bytes("FLINT_ASYNC_RESULT_MAX_BYTES", 1024 ** 2),
    recordTtlMs: read.durationMs("FLINT_ASYNC_RECORD_TTL", 24 * 3600_000, 1000),
    idempotencyTtlMs: read.durationMs("FLINT_IDEMPOTENCY_TTL", 24 * 3600_000, 1000),
    queueMaxBytes: read.bytes("FLINT_ASYNC_QUEUE_BYTES", natsUrl === undefined ? 256 * 1024 ** 2 : 1024 ** 3),
    maxUploads: read.integer("FLINT_ASYNC_MAX_UPLOADS", 64, 1, 100_000),
    deadLetterMaxAgeMs: read.durationMs("FLINT_DEAD_LETTER_MAX_AGE", 168 * 3600_000, 1000),
    callbackMaxRetries: read.integer("FLINT_CALLBACK_RETRIES", 5, 0, 100),
    callbackTimeoutMs: read.durationMs("FLINT_CALLBACK_TIMEOUT", 10_000, 1),
  };
}

function retryOn(read: EnvReader): RetryOn {
  try {
    return parseRetryOn(read.string("FLINT_ASYNC_RETRY_ON", DEFAULT_RETRY_ON_TEXT));
  } catch {
    return read.fail(
      "FLINT_ASYNC_RETRY_ON",
      "a comma-separated list of statuses like 429 and classes like 5xx",
    );
  }
}

function authConfig(read: EnvReader): AuthConfig {
  const mode = read.oneOf("FLINT_AUTH", AUTH_MODES, "required");
  const token = read.string("FLINT_AUTH_TOKEN");
  const user = read.string("FLINT_AUTH_USER");
  const password = read.string("FLINT_AUTH_PASSWORD");
  if (mode === "none") {
    if (token !== undefined || user !== undefined || password !== undefined) {
      throw new ConfigError(
        "FLINT_AUTH",
        "FLINT_AUTH=none turns credentials off, but FLINT_AUTH_TOKEN or FLINT_AUTH_USER/FLINT_AUTH_PASSWORD is set; unset one or the other",
      );
    }
    return { required: false };
  }
  if ((user === undefined) !== (password === undefined)) {
    const missing = user === undefined ? "FLINT_AUTH_USER" : "FLINT_AUTH_PASSWORD";
    throw new ConfigError(
      missing,
      `${missing} is required when the other half of the basic credential is set`,
    );
  }
  // Not read.fail: that would put the value (a user name) in the message; this one names the rule.
  if (user?.includes(":")) {
    throw new ConfigError(
      "FLINT_AUTH_USER",
      "FLINT_AUTH_USER must not contain ':' (basic auth splits on it)",
    );
  }
  if (token === undefined && user === undefined) {
    throw new ConfigError(
      "FLINT_AUTH_TOKEN",
      "the management API needs a credential: set FLINT_AUTH_TOKEN, or FLINT_AUTH_USER and FLINT_AUTH_PASSWORD (or FLINT_AUTH=none for a gateway no one else can reach)",
    );
  }
  const basic = user !== undefined && password !== undefined ? { user, password } : undefined;
  return { required: true, token, basic: basic && Object.freeze(basic) };
}
