// The gateway's configuration, read once from the environment into a frozen, typed object.
import { hostname } from "node:os";
import {
  DEFAULT_NAMESPACE,
  InvalidDurationError,
  isValidFunctionName,
  parseDurationMs,
} from "../api/index.js";
import { DEFAULT_RETRY_ON_TEXT, parseRetryOn, type RetryOn } from "./async/retry.js";
import { ConfigError } from "../platform/errors.js";

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

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

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
  /** Bytes the queue of pending calls may hold (JetStream max_bytes). FLINT_ASYNC_QUEUE_BYTES, default 1Gi. */
  readonly queueMaxBytes: number;
  /** How long dead letters are kept, in ms. FLINT_DEAD_LETTER_MAX_AGE, default 168h. */
  readonly deadLetterMaxAgeMs: number;
  /** Retries of a failed callback POST. FLINT_CALLBACK_RETRIES, default 5. */
  readonly callbackMaxRetries: number;
  /** One callback POST's deadline, in ms. FLINT_CALLBACK_TIMEOUT, default 10s. */
  readonly callbackTimeoutMs: number;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
const INTEGER_RE = /^[0-9]+$/;
const BYTES_RE = /^([0-9]+)(Ki|Mi|Gi)?$/;
const BYTE_UNITS: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };

/**
 * Reads the configuration from `env` (normally `process.env`). Throws a ConfigError naming the
 * variable and its value on anything it cannot use; an empty value counts as unset.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): GatewayConfig {
  const read = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value === "" ? undefined : value;
  };
  const defaultNamespace = read("FLINT_DEFAULT_NAMESPACE") ?? DEFAULT_NAMESPACE;
  if (!isValidFunctionName(defaultNamespace)) {
    throw new ConfigError(
      "FLINT_DEFAULT_NAMESPACE",
      `FLINT_DEFAULT_NAMESPACE must be a DNS-1123 label, was ${JSON.stringify(defaultNamespace)}`,
    );
  }
  const headersTimeoutMs = duration("FLINT_HEADERS_TIMEOUT", read, 10_000, 1);

  return Object.freeze({
    port: integer("FLINT_GATEWAY_PORT", read, 8080, 0, 65_535),
    host: read("FLINT_GATEWAY_HOST") ?? "127.0.0.1",
    auth: Object.freeze(authConfig(read)),
    defaultNamespace,
    queueDepth: integer("FLINT_QUEUE_DEPTH", read, 1000, 0, 1_000_000),
    queueBytes: bytes("FLINT_QUEUE_BYTES", read, 64 * 1024 ** 2),
    activationTimeoutMs: duration("FLINT_ACTIVATION_TIMEOUT", read, 30_000, 1),
    retryAfterSeconds: Math.max(1, Math.round(duration("FLINT_RETRY_AFTER", read, 1000, 1) / 1000)),
    probeIntervalMs: duration("FLINT_PROBE_INTERVAL", read, 50, 1),
    maxSocketsPerReplica: integer("FLINT_MAX_SOCKETS_PER_REPLICA", read, 256, 1, 65_536),
    headersTimeoutMs,
    keepAliveTimeoutMs: duration("FLINT_KEEP_ALIVE_TIMEOUT", read, 5000, 1),
    shutdownDelayMs: duration("FLINT_SHUTDOWN_DELAY", read, 0, 0),
    shutdownTimeoutMs: duration("FLINT_SHUTDOWN_TIMEOUT", read, 30_000, 0),
    instanceId: read("FLINT_GATEWAY_ID") ?? hostname(),
    logLevel: logLevel(read),
    async: Object.freeze(asyncConfig(read)),
  });
}

function asyncConfig(read: (name: string) => string | undefined): AsyncGatewayConfig {
  const retryOnText = read("FLINT_ASYNC_RETRY_ON") ?? DEFAULT_RETRY_ON_TEXT;
  let retryOn: RetryOn;
  try {
    retryOn = parseRetryOn(retryOnText);
  } catch (error) {
    throw new ConfigError(
      "FLINT_ASYNC_RETRY_ON",
      `FLINT_ASYNC_RETRY_ON must list statuses and classes like "408,429,5xx": ${(error as Error).message}`,
    );
  }
  return {
    natsUrl: url("NATS_URL", read, ["nats:", "tls:"]),
    redisUrl: url("REDIS_URL", read, ["redis:", "rediss:"]),
    maxBodyBytes: bytes("FLINT_ASYNC_MAX_BODY", read, 1024 ** 2),
    maxInFlight: integer("FLINT_ASYNC_CONCURRENCY", read, 32, 1, 10_000),
    retryOn,
    resultMaxBytes: bytes("FLINT_ASYNC_RESULT_MAX_BYTES", read, 1024 ** 2),
    recordTtlMs: duration("FLINT_ASYNC_RECORD_TTL", read, 24 * 3600_000, 1000),
    idempotencyTtlMs: duration("FLINT_IDEMPOTENCY_TTL", read, 24 * 3600_000, 1000),
    queueMaxBytes: bytes("FLINT_ASYNC_QUEUE_BYTES", read, 1024 ** 3),
    deadLetterMaxAgeMs: duration("FLINT_DEAD_LETTER_MAX_AGE", read, 168 * 3600_000, 1000),
    callbackMaxRetries: integer("FLINT_CALLBACK_RETRIES", read, 5, 0, 100),
    callbackTimeoutMs: duration("FLINT_CALLBACK_TIMEOUT", read, 10_000, 1),
  };
}

function url(
  name: string,
  read: (name: string) => string | undefined,
  protocols: string[],
): string | undefined {
  const text = read(name);
  if (text === undefined) return undefined;
  for (const part of text.split(",")) {
    let protocol: string | undefined;
    try {
      protocol = new URL(part.trim()).protocol;
    } catch {
      protocol = undefined;
    }
    if (protocol === undefined || !protocols.includes(protocol)) {
      throw new ConfigError(
        name,
        `${name} must be a URL like ${protocols[0]}//127.0.0.1:${name === "NATS_URL" ? 4222 : 6379}, was ${JSON.stringify(text)}`,
      );
    }
  }
  return text;
}

function authConfig(read: (name: string) => string | undefined): AuthConfig {
  const mode = read("FLINT_AUTH") ?? "required";
  const token = read("FLINT_AUTH_TOKEN");
  const user = read("FLINT_AUTH_USER");
  const password = read("FLINT_AUTH_PASSWORD");
  if (mode === "none") {
    if (token !== undefined || user !== undefined || password !== undefined) {
      throw new ConfigError(
        "FLINT_AUTH",
        "FLINT_AUTH=none turns credentials off, but FLINT_AUTH_TOKEN or FLINT_AUTH_USER/FLINT_AUTH_PASSWORD is set; unset one or the other",
      );
    }
    return { required: false };
  }
  if (mode !== "required") {
    throw new ConfigError("FLINT_AUTH", `FLINT_AUTH must be required or none, was ${JSON.stringify(mode)}`);
  }
  if ((user === undefined) !== (password === undefined)) {
    const missing = user === undefined ? "FLINT_AUTH_USER" : "FLINT_AUTH_PASSWORD";
    throw new ConfigError(
      missing,
      `${missing} is required when the other half of the basic credential is set`,
    );
  }
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

function integer(
  name: string,
  read: (name: string) => string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  const text = read(name);
  if (text === undefined) return fallback;
  const value = INTEGER_RE.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(
      name,
      `${name} must be an integer from ${min} to ${max}, was ${JSON.stringify(text)}`,
    );
  }
  return value;
}

function bytes(name: string, read: (name: string) => string | undefined, fallback: number): number {
  const text = read(name);
  if (text === undefined) return fallback;
  const match = BYTES_RE.exec(text);
  const value = match === null ? NaN : Number(match[1]) * (BYTE_UNITS[match[2] ?? ""] ?? 1);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConfigError(
      name,
      `${name} must be a positive number of bytes like 67108864 or 64Mi (Ki, Mi, Gi), was ${JSON.stringify(text)}`,
    );
  }
  return value;
}

function duration(
  name: string,
  read: (name: string) => string | undefined,
  fallbackMs: number,
  minMs: number,
): number {
  const text = read(name);
  if (text === undefined) return fallbackMs;
  let valueMs: number;
  try {
    valueMs = parseDurationMs(text);
  } catch (error) {
    if (!(error instanceof InvalidDurationError)) throw error;
    throw new ConfigError(name, `${name} ${error.message}`);
  }
  if (valueMs < minMs) {
    throw new ConfigError(name, `${name} must be at least ${minMs}ms, was ${JSON.stringify(text)}`);
  }
  return valueMs;
}

function logLevel(read: (name: string) => string | undefined): LogLevel {
  const text = read("FLINT_LOG_LEVEL") ?? "info";
  const level = LOG_LEVELS.find((candidate) => candidate === text);
  if (level === undefined) {
    throw new ConfigError(
      "FLINT_LOG_LEVEL",
      `FLINT_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, was ${JSON.stringify(text)}`,
    );
  }
  return level;
}
