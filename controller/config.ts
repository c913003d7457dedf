// The controller's configuration, read once from the environment into a frozen, typed object.
import { hostname } from "node:os";
import { EnvReader, type Env, type LogLevel } from "../platform/env.js";
import { ConfigError } from "../platform/errors.js";
import { readNamespaceName, readNamespaces, type WatchedNamespaces } from "../platform/kubernetes/config.js";
import { QUANTITY_RE, quantityValue } from "../api/quantity.js";

export { quantityValue };

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
  readonly namespaces: WatchedNamespaces;
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

const PULL_POLICIES = ["Always", "IfNotPresent", "Never"] as const;
const NATS_SCHEMES = ["nats:", "tls:", "ws:", "wss:"];
const REDIS_SCHEMES = ["redis:", "rediss:"];

/**
 * Reads the configuration from `env` (normally `process.env`). Throws a ConfigError naming the
 * variable and its value on anything it cannot use; an empty value counts as unset.
 */
export function loadConfig(env: Env): ControllerConfig {
  const read = new EnvReader(env);
  const podNamespace = readNamespaceName(read, "FLINT_POD_NAMESPACE", "default");

  return Object.freeze({
    namespaces: readNamespaces(read),
    podNamespace,
    watchdogImage: read.string("FLINT_WATCHDOG_IMAGE", DEFAULT_WATCHDOG_IMAGE),
    imagePullPolicy: read.oneOf("FLINT_IMAGE_PULL_POLICY", PULL_POLICIES),
    defaultResources: resources(read, "FLINT_DEFAULT", {
      requests: { cpu: "50m", memory: "64Mi" },
      limits: { memory: "256Mi" },
    }),
    sidecarResources: resources(read, "FLINT_SIDECAR", {
      requests: { cpu: "10m", memory: "32Mi" },
      limits: { memory: "128Mi" },
    }),
    initialScale: read.integer("FLINT_INITIAL_SCALE", 1, 0, 1000),
    progressDeadlineSeconds: Math.ceil(read.durationMs("FLINT_PROGRESS_DEADLINE", 120_000, 1) / 1000),
    gatewayUrl: (
      read.urls("FLINT_GATEWAY_URL", ["http:", "https:"]) ?? `http://flint-gateway.${podNamespace}`
    ).replace(/\/+$/, ""),
    leaderElection: leaderElection(read, podNamespace),
    natsUrl: read.urls("NATS_URL", NATS_SCHEMES) ?? required("NATS_URL", "nats://host:port"),
    redisUrl: read.urls("REDIS_URL", REDIS_SCHEMES) ?? required("REDIS_URL", "redis://host:port"),
    autoscalerTickMs: read.durationMs("FLINT_AUTOSCALER_TICK", 1000, 1),
    port: read.integer("FLINT_CONTROLLER_PORT", 8080, 0, 65_535),
    host: read.string("FLINT_CONTROLLER_HOST", "0.0.0.0"),
    logLevel: read.logLevel(),
  });
}

function required(name: string, example: string): never {
  throw new ConfigError(name, `${name} is required: a URL like ${example}`);
}

/** A quantity, `none` for no value, or the default when unset. */
function quantity(read: EnvReader, name: string, fallback: string | undefined): string | undefined {
  const text = read.string(name);
  if (text === undefined) return fallback;
  if (text === "none") return undefined;
  return QUANTITY_RE.test(text) ? text : read.fail(name, "a quantity like 100m, 64Mi or 1Gi, or none");
}

/** `<prefix>_{CPU,MEMORY}_{REQUEST,LIMIT}`; a request above its limit would make every pod invalid. */
function resources(read: EnvReader, prefix: string, defaults: ContainerResources): ContainerResources {
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  for (const resource of ["cpu", "memory"] as const) {
    const key = `${prefix}_${resource.toUpperCase()}`;
    const request = quantity(read, `${key}_REQUEST`, defaults.requests[resource]);
    const limit = quantity(read, `${key}_LIMIT`, defaults.limits[resource]);
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

function leaderElection(read: EnvReader, podNamespace: string): LeaderElectionConfig {
  const leaseDurationMs = read.durationMs("FLINT_LEASE_DURATION", 15_000, 1);
  const renewDeadlineMs = read.durationMs("FLINT_LEASE_RENEW_DEADLINE", 10_000, 1);
  const retryPeriodMs = read.durationMs("FLINT_LEASE_RETRY_PERIOD", 2000, 1);
  // client-go's rule: a leader must give up before its lease runs out, and retry more than once
  // before giving up, or two replicas can both believe they lead. Either side may be a default, so
  // the message gives both values in ms rather than what was written.
  if (renewDeadlineMs >= leaseDurationMs) {
    throw new ConfigError(
      "FLINT_LEASE_RENEW_DEADLINE",
      `FLINT_LEASE_RENEW_DEADLINE (${renewDeadlineMs}ms) must be shorter than FLINT_LEASE_DURATION (${leaseDurationMs}ms)`,
    );
  }
  if (retryPeriodMs >= renewDeadlineMs) {
    throw new ConfigError(
      "FLINT_LEASE_RETRY_PERIOD",
      `FLINT_LEASE_RETRY_PERIOD (${retryPeriodMs}ms) must be shorter than FLINT_LEASE_RENEW_DEADLINE (${renewDeadlineMs}ms)`,
    );
  }
  return Object.freeze({
    leaseName: read.string("FLINT_LEASE_NAME", "flint-controller"),
    leaseNamespace: readNamespaceName(read, "FLINT_LEASE_NAMESPACE", podNamespace),
    identity: read.string("FLINT_POD_NAME") ?? hostname(),
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
  });
}
