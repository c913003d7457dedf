// The controller's configuration, read once from the environment into a frozen, typed object.
import { hostname } from "node:os";
import { InvalidDurationError, isValidFunctionName, parseDurationMs } from "../api/index.js";
import { ConfigError } from "./errors.js";

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
export type ImagePullPolicy = "Always" | "IfNotPresent" | "Never";

/** CPU and memory quantities (Kubernetes syntax: 100m, 64Mi); an absent one is not set on the pod. */
export interface Quantities {
  readonly cpu?: string;
  readonly memory?: string;
}

export interface ContainerResources {
  readonly requests: Quantities;
  readonly limits: Quantities;
}

/** The controller's coordination.k8s.io Lease: only its holder runs the autoscaler loop. */
export interface LeaderElectionConfig {
  /** FLINT_LEASE_NAME, default flint-controller. */
  readonly leaseName: string;
  /** FLINT_LEASE_NAMESPACE, default the controller's own namespace (FLINT_POD_NAMESPACE). */
  readonly leaseNamespace: string;
  /** Who holds the lease: FLINT_POD_NAME (the chart sets it from the pod name), default the host name. */
  readonly identity: string;
  /** How long a lease is valid without renewal, in ms. FLINT_LEASE_DURATION, default 15s. */
  readonly leaseDurationMs: number;
  /** How long the leader keeps trying to renew before it steps down, in ms. FLINT_LEASE_RENEW_DEADLINE, default 10s. */
  readonly renewDeadlineMs: number;
  /** How often candidates try to take or renew the lease, in ms. FLINT_LEASE_RETRY_PERIOD, default 2s. */
  readonly retryPeriodMs: number;
}

export interface ControllerConfig {
  /**
   * Namespaces whose Functions are reconciled: "all", or a list. FLINT_NAMESPACES: unset or `*`
   * for all, else a comma-separated list of namespace names.
   */
  readonly namespaces: "all" | readonly string[];
  /** The namespace the controller runs in. FLINT_POD_NAMESPACE (the chart sets it), default "default". */
  readonly podNamespace: string;
  /**
   * The watchdog base image, run in front of an http-mode function image that has no
   * handler.command (sidecar). FLINT_WATCHDOG_IMAGE, default ghcr.io/flint-dev/flint-watchdog:0.1.0.
   */
  readonly watchdogImage: string;
  /** imagePullPolicy of function pods. FLINT_IMAGE_PULL_POLICY; unset leaves Kubernetes' default. */
  readonly imagePullPolicy: ImagePullPolicy | undefined;
  /**
   * Resources of a function's container for each of cpu and memory that the Function sets neither
   * a request nor a limit for. FLINT_DEFAULT_{CPU,MEMORY}_{REQUEST,LIMIT}; `none` sets nothing.
   * Defaults: requests cpu 50m, memory 64Mi; limit memory 256Mi; no cpu limit (throttling hurts latency).
   */
  readonly defaultResources: ContainerResources;
  /**
   * Resources of the watchdog container in front of an http-mode image (sidecar).
   * FLINT_SIDECAR_{CPU,MEMORY}_{REQUEST,LIMIT}; `none` sets nothing. Defaults: requests cpu 10m,
   * memory 32Mi; limit memory 128Mi.
   */
  readonly sidecarResources: ContainerResources;
  /**
   * Replicas a new Function's Deployment is created with (at least spec.scale.min, at most
   * spec.scale.max), so a new function answers at once and a bad image shows in its status right
   * away (docs/adr/0007). The autoscaler owns replicas after that. FLINT_INITIAL_SCALE, default 1.
   */
  readonly initialScale: number;
  /**
   * How long a rollout or scale-up may go without progress before the Function reports
   * ProgressDeadlineExceeded, in whole seconds. FLINT_PROGRESS_DEADLINE, default 2m.
   */
  readonly progressDeadlineSeconds: number;
  /**
   * Base of the URL in each Function's status (`<base>/function/<name>.<namespace>`), without a
   * trailing slash. FLINT_GATEWAY_URL, default http://flint-gateway.<FLINT_POD_NAMESPACE>.
   */
  readonly gatewayUrl: string;
  readonly leaderElection: LeaderElectionConfig;
  /** NATS servers (comma-separated nats://, tls://, ws:// or wss:// URLs). NATS_URL, required. */
  readonly natsUrl: string;
  /** Redis (redis:// or rediss:// URL). REDIS_URL, required. */
  readonly redisUrl: string;
  /** How often the autoscaler decides, in ms. FLINT_AUTOSCALER_TICK, default 1s. */
  readonly autoscalerTickMs: number;
  /** Port of /healthz, /readyz and /metrics. FLINT_CONTROLLER_PORT, default 8080. */
  readonly port: number;
  /** Listen address of that port. FLINT_CONTROLLER_HOST, default 0.0.0.0. */
  readonly host: string;
  /** FLINT_LOG_LEVEL, default info. */
  readonly logLevel: LogLevel;
}

export const DEFAULT_WATCHDOG_IMAGE = "ghcr.io/flint-dev/flint-watchdog:0.1.0";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
const PULL_POLICIES = ["Always", "IfNotPresent", "Never"] as const;
/** The quantity syntax the CRD accepts for spec.resources. */
const QUANTITY_RE = /^([0-9]+(\.[0-9]+)?)(m|[kMGTPE]i?)?$/;
const WHOLE_RE = /^[0-9]+$/;
const NATS_SCHEMES = ["nats:", "tls:", "ws:", "wss:"];
const REDIS_SCHEMES = ["redis:", "rediss:"];

/** Reads variables by name; an empty value counts as unset. Each parser names the variable it failed on. */
class EnvReader {
  constructor(private readonly env: Readonly<Record<string, string | undefined>>) {}

  text(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value === "" ? undefined : value;
  }

  fail(name: string, expected: string): never {
    throw new ConfigError(name, `${name} must be ${expected}, was ${JSON.stringify(this.text(name))}`);
  }

  whole(name: string, fallback: number, min: number, max: number): number {
    const text = this.text(name);
    if (text === undefined) return fallback;
    const value = WHOLE_RE.test(text) ? Number(text) : Number.NaN;
    return value >= min && value <= max ? value : this.fail(name, `an integer from ${min} to ${max}`);
  }

  durationMs(name: string, fallbackMs: number): number {
    const text = this.text(name);
    if (text === undefined) return fallbackMs;
    let valueMs = Number.NaN;
    try {
      valueMs = parseDurationMs(text);
    } catch (error) {
      if (!(error instanceof InvalidDurationError)) throw error;
    }
    return valueMs > 0 ? valueMs : this.fail(name, "a duration like 30s, 500ms or 1m30s, more than 0");
  }

  choice<const T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const text = this.text(name);
    if (text === undefined) return undefined;
    return allowed.find((candidate) => candidate === text) ?? this.fail(name, `one of ${allowed.join(", ")}`);
  }

  /** A quantity, `none` for no value, or the fallback when unset. */
  quantity(name: string, fallback: string | undefined): string | undefined {
    const text = this.text(name);
    if (text === undefined) return fallback;
    if (text === "none") return undefined;
    return QUANTITY_RE.test(text) ? text : this.fail(name, "a quantity like 100m, 64Mi or 1Gi, or none");
  }

  url(name: string, schemes: readonly string[], fallback?: string): string {
    const text = this.text(name) ?? fallback;
    if (text === undefined) {
      throw new ConfigError(name, `${name} is required: a URL like ${schemes[0] ?? ""}//host:port`);
    }
    const parts = text.split(",").map((part) => part.trim());
    for (const part of parts) {
      if (!URL.canParse(part) || !schemes.includes(new URL(part).protocol)) {
        this.fail(name, `a URL (or a comma-separated list) with scheme ${schemes.join(" or ")}`);
      }
    }
    return parts.join(",");
  }

  /** `<prefix>_{CPU,MEMORY}_{REQUEST,LIMIT}`; a request above its limit would make every pod invalid. */
  resources(prefix: string, defaults: ContainerResources): ContainerResources {
    const requests: Record<string, string> = {};
    const limits: Record<string, string> = {};
    for (const resource of ["cpu", "memory"] as const) {
      const key = `${prefix}_${resource.toUpperCase()}`;
      const request = this.quantity(`${key}_REQUEST`, defaults.requests[resource]);
      const limit = this.quantity(`${key}_LIMIT`, defaults.limits[resource]);
      if (request !== undefined && limit !== undefined && quantityValue(request) > quantityValue(limit)) {
        throw new ConfigError(
          `${key}_REQUEST`,
          `${key}_REQUEST (${request}) must not exceed ${key}_LIMIT (${limit})`,
        );
      }
      if (request !== undefined) requests[resource] = request;
      if (limit !== undefined) limits[resource] = limit;
    }
    return Object.freeze({ requests: Object.freeze(requests), limits: Object.freeze(limits) });
  }
}

const QUANTITY_SCALE: Record<string, number> = {
  "": 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A quantity that matched QUANTITY_RE, in base units (cores, bytes), for comparing a request with a limit. */
export function quantityValue(text: string): number {
  const match = QUANTITY_RE.exec(text);
  if (match === null) throw new TypeError(`not a quantity: ${JSON.stringify(text)}`);
  return Number(match[1]) * (QUANTITY_SCALE[match[3] ?? ""] ?? Number.NaN);
}

/**
 * Reads the configuration from `env` (normally `process.env`). Throws a ConfigError naming the
 * variable and its value on anything it cannot use; an empty value counts as unset.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): ControllerConfig {
  const read = new EnvReader(env);
  const podNamespace = read.text("FLINT_POD_NAMESPACE") ?? "default";
  if (!isValidFunctionName(podNamespace))
    read.fail("FLINT_POD_NAMESPACE", "a namespace name (DNS-1123 label)");

  return Object.freeze({
    namespaces: namespaces(read),
    podNamespace,
    watchdogImage: read.text("FLINT_WATCHDOG_IMAGE") ?? DEFAULT_WATCHDOG_IMAGE,
    imagePullPolicy: read.choice("FLINT_IMAGE_PULL_POLICY", PULL_POLICIES),
    defaultResources: read.resources("FLINT_DEFAULT", {
      requests: { cpu: "50m", memory: "64Mi" },
      limits: { memory: "256Mi" },
    }),
    sidecarResources: read.resources("FLINT_SIDECAR", {
      requests: { cpu: "10m", memory: "32Mi" },
      limits: { memory: "128Mi" },
    }),
    initialScale: read.whole("FLINT_INITIAL_SCALE", 1, 0, 1000),
    progressDeadlineSeconds: Math.ceil(read.durationMs("FLINT_PROGRESS_DEADLINE", 120_000) / 1000),
    gatewayUrl: read
      .url("FLINT_GATEWAY_URL", ["http:", "https:"], `http://flint-gateway.${podNamespace}`)
      .replace(/\/+$/, ""),
    leaderElection: leaderElection(read, podNamespace),
    natsUrl: read.url("NATS_URL", NATS_SCHEMES),
    redisUrl: read.url("REDIS_URL", REDIS_SCHEMES),
    autoscalerTickMs: read.durationMs("FLINT_AUTOSCALER_TICK", 1000),
    port: read.whole("FLINT_CONTROLLER_PORT", 8080, 0, 65_535),
    host: read.text("FLINT_CONTROLLER_HOST") ?? "0.0.0.0",
    logLevel: read.choice("FLINT_LOG_LEVEL", LOG_LEVELS) ?? "info",
  });
}

function namespaces(read: EnvReader): "all" | readonly string[] {
  const text = read.text("FLINT_NAMESPACES")?.trim();
  if (text === undefined || text === "" || text === "*") return "all";
  const list = [...new Set(text.split(",").map((part) => part.trim()))];
  if (!list.every(isValidFunctionName)) {
    read.fail("FLINT_NAMESPACES", "* or a comma-separated list of namespace names (DNS-1123 labels)");
  }
  return Object.freeze(list);
}

function leaderElection(read: EnvReader, podNamespace: string): LeaderElectionConfig {
  const leaseDurationMs = read.durationMs("FLINT_LEASE_DURATION", 15_000);
  const renewDeadlineMs = read.durationMs("FLINT_LEASE_RENEW_DEADLINE", 10_000);
  const retryPeriodMs = read.durationMs("FLINT_LEASE_RETRY_PERIOD", 2000);
  // client-go's rule: a leader must give up before its lease runs out, and retry more than once
  // before giving up, or two replicas can both believe they lead.
  if (renewDeadlineMs >= leaseDurationMs) {
    read.fail("FLINT_LEASE_RENEW_DEADLINE", `shorter than FLINT_LEASE_DURATION (${leaseDurationMs}ms)`);
  }
  if (retryPeriodMs >= renewDeadlineMs) {
    read.fail("FLINT_LEASE_RETRY_PERIOD", `shorter than FLINT_LEASE_RENEW_DEADLINE (${renewDeadlineMs}ms)`);
  }
  const leaseNamespace = read.text("FLINT_LEASE_NAMESPACE") ?? podNamespace;
  if (!isValidFunctionName(leaseNamespace))
    read.fail("FLINT_LEASE_NAMESPACE", "a namespace name (DNS-1123 label)");
  return Object.freeze({
    leaseName: read.text("FLINT_LEASE_NAME") ?? "flint-controller",
    leaseNamespace,
    identity: read.text("FLINT_POD_NAME") ?? hostname(),
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
  });
}
