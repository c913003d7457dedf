// The policies by name, as the controller's config and the simulator's command line write them.
import { InvalidDurationError, parseDurationMs } from "../api/duration.js";
import { UnknownPolicyError } from "./errors.js";
import { fixedKeepAlivePolicy, flintPolicy } from "./flint.js";
import { kpaPolicy } from "./kpa.js";
import type { ScalingPolicy } from "./types.js";

/** The names `policyByName` accepts; `fixed-keepalive:<duration>` takes a keep-alive such as 10m. */
export const POLICY_NAMES = ["flint", "kpa", "fixed-keepalive:<duration>"] as const;

/** The policy a name stands for, with its default options; throws `UnknownPolicyError`. */
export function policyByName(name: string): ScalingPolicy {
  if (name === "flint") return flintPolicy();
  if (name === "kpa") return kpaPolicy();
  const fixed = /^fixed-keepalive[:(](.+?)\)?$/.exec(name);
  if (fixed?.[1] !== undefined) {
    try {
      return fixedKeepAlivePolicy(parseDurationMs(fixed[1]));
    } catch (error) {
      if (!(error instanceof InvalidDurationError)) throw error;
    }
  }
  throw new UnknownPolicyError(name, POLICY_NAMES);
}
