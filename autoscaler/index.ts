// The autoscaler's public surface for the controller and the embedded platform: the pure decision
// core, and the loop that runs it against a platform (stats in, scale out).
export type { Decision, Observation, ScaleSettings, ScaleSpec, ScalingPolicy } from "./types.js";
export { InvalidPolicyStateError, InvalidScaleSpecError, UnknownPolicyError } from "./errors.js";
export { resolveScaleSpec, SCALE_DEFAULTS } from "./spec.js";
export {
  flintPolicy,
  fixedKeepAlivePolicy,
  FLINT_DEFAULTS,
  type FlintOptions,
  type FlintState,
} from "./flint.js";
export { kpaPolicy, KPA_DEFAULTS, type KpaOptions, type KpaState } from "./kpa.js";
export { KEEP_ALIVE_DEFAULTS, type KeepAliveOptions, type KeepAliveWindow } from "./keepalive.js";
export { policyByName, POLICY_NAMES } from "./policies.js";
export { decideAll, type FunctionTick } from "./tick.js";
export { ScalerLoop, type ReplicaTarget, type ScaleEvent, type ScalerLoopOptions } from "./loop.js";
