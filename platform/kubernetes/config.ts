// What the gateway reads from the environment on top of gateway/config.ts to run on Kubernetes
// (which platform, which namespaces, the NATS bus, how long an informer may fail), and the one
// reader of namespace names that the gateway and the controller share.
import { isValidFunctionName } from "../../api/index.js";
import { ConfigError } from "../errors.js";
import { EnvReader, type Env } from "../env.js";

/** Where the gateway's ports come from. */
export type Platform = "embedded" | "kubernetes";

/** The namespaces whose Functions (and EndpointSlices, Deployments, Services) are watched. */
export type WatchedNamespaces = "all" | readonly string[];

export interface KubernetesGatewayConfig {
  /** FLINT_NAMESPACES: unset, empty or `*` for all namespaces, else a comma-separated list. */
  readonly namespaces: WatchedNamespaces;
  /**
   * NATS for concurrency samples and scale requests to the autoscaler. NATS_URL, required (its
   * format is checked by gateway/config.ts, which reads it for async calls too).
   */
  readonly natsUrl: string;
  /**
   * How long an informer (Functions, EndpointSlices) may fail after it has synced before /readyz
   * fails, in ms. Meanwhile the gateway routes from what it last saw. FLINT_INFORMER_GRACE, default
   * 60s; `0s` fails readiness at the first error.
   */
  readonly informerGraceMs: number;
}

const PLATFORMS = ["kubernetes", "embedded"] as const;

/** FLINT_PLATFORM: `kubernetes` (the Helm chart sets it), or unset / `embedded` for in-memory ports. */
export function platformOf(env: Env): Platform {
  return new EnvReader(env).oneOf("FLINT_PLATFORM", PLATFORMS, "embedded");
}

export function loadKubernetesConfig(env: Env): KubernetesGatewayConfig {
  const read = new EnvReader(env);
  const natsUrl = read.string("NATS_URL");
  if (natsUrl === undefined) {
    throw new ConfigError(
      "NATS_URL",
      "NATS_URL is required when FLINT_PLATFORM=kubernetes: the gateway sends concurrency samples and activation requests to the autoscaler over NATS",
    );
  }
  return Object.freeze({
    namespaces: readNamespaces(read),
    natsUrl,
    informerGraceMs: read.durationMs("FLINT_INFORMER_GRACE", 60_000, 0),
  });
}

/**
 * FLINT_NAMESPACES, for the gateway and the controller alike: unset, empty or `*` is "all", else a
 * comma-separated list of namespace names (DNS-1123 labels), trimmed, each kept once, frozen.
 */
export function readNamespaces(read: EnvReader): WatchedNamespaces {
  const text = read.string("FLINT_NAMESPACES")?.trim();
  if (text === undefined || text === "" || text === "*") return "all";
  const list = read.list(
    "FLINT_NAMESPACES",
    "* or a comma-separated list of namespace names (DNS-1123 labels)",
    isValidFunctionName,
  );
  return Object.freeze([...new Set(list)]);
}

/** One namespace name (a DNS-1123 label) in `name`, or `fallback` when unset. */
export function readNamespaceName(read: EnvReader, name: string, fallback: string): string {
  const namespace = read.string(name, fallback);
  return isValidFunctionName(namespace) ? namespace : read.fail(name, "a namespace name (DNS-1123 label)");
}
