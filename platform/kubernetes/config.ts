// What the gateway reads from the environment on top of gateway/config.ts to run on Kubernetes:
// which platform, which namespaces, the NATS bus, and how long an informer may fail.
import { InvalidDurationError, isValidFunctionName, parseDurationMs } from "../../api/index.js";
import { ConfigError } from "../errors.js";

/** Where the gateway's ports come from. */
export type Platform = "embedded" | "kubernetes";

/** The namespaces whose Functions and EndpointSlices the gateway watches. */
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

/** FLINT_PLATFORM: `kubernetes` (the Helm chart sets it), or unset / `embedded` for in-memory ports. */
export function platformOf(env: Readonly<Record<string, string | undefined>>): Platform {
  const text = env["FLINT_PLATFORM"];
  if (text === undefined || text === "" || text === "embedded") return "embedded";
  if (text === "kubernetes") return "kubernetes";
  throw new ConfigError(
    "FLINT_PLATFORM",
    `FLINT_PLATFORM must be kubernetes or embedded, was ${JSON.stringify(text)}`,
  );
}

export function loadKubernetesConfig(
  env: Readonly<Record<string, string | undefined>>,
): KubernetesGatewayConfig {
  const natsUrl = env["NATS_URL"];
  if (natsUrl === undefined || natsUrl === "") {
    throw new ConfigError(
      "NATS_URL",
      "NATS_URL is required when FLINT_PLATFORM=kubernetes: the gateway sends concurrency samples and activation requests to the autoscaler over NATS",
    );
  }
  return Object.freeze({
    namespaces: watchedNamespaces(env["FLINT_NAMESPACES"]),
    natsUrl,
    informerGraceMs: graceMs(env["FLINT_INFORMER_GRACE"]),
  });
}

function watchedNamespaces(text: string | undefined): WatchedNamespaces {
  const trimmed = text?.trim() ?? "";
  if (trimmed === "" || trimmed === "*") return "all";
  const list = [...new Set(trimmed.split(",").map((part) => part.trim()))];
  const bad = list.find((name) => !isValidFunctionName(name));
  if (bad !== undefined) {
    throw new ConfigError(
      "FLINT_NAMESPACES",
      `FLINT_NAMESPACES must be * or a comma-separated list of namespace names (DNS-1123 labels), was ${JSON.stringify(text)}`,
    );
  }
  return Object.freeze(list);
}

function graceMs(text: string | undefined): number {
  if (text === undefined || text === "") return 60_000;
  try {
    return parseDurationMs(text);
  } catch (error) {
    if (!(error instanceof InvalidDurationError)) throw error;
    throw new ConfigError("FLINT_INFORMER_GRACE", `FLINT_INFORMER_GRACE ${error.message}`);
  }
}
