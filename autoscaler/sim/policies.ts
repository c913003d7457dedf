// Policies by name for the simulator: the core's policies plus the oracle, which needs to see the future.
import { UnknownPolicyError } from "../errors.js";
import { policyByName, POLICY_NAMES } from "../policies.js";
import { oraclePolicy } from "./oracle.js";
import type { PolicyUnderTest } from "./simulate.js";

/** Names the simulator accepts. */
export const SIMULATED_POLICY_NAMES = [...POLICY_NAMES, "oracle"] as const;

/** The policy a name stands for; throws `UnknownPolicyError`. */
export function policyUnderTest(name: string): PolicyUnderTest {
  if (name === "oracle") {
    return {
      name,
      forFunction: (fn, model) =>
        oraclePolicy(fn.requests, fn.spec.concurrency, model.startupMs, model.tickMs),
    };
  }
  let policy;
  try {
    policy = policyByName(name);
  } catch (error) {
    if (error instanceof UnknownPolicyError) throw new UnknownPolicyError(name, SIMULATED_POLICY_NAMES);
    throw error;
  }
  // The core's policies keep everything in their state, so one instance serves every function.
  return { name: policy.name, forFunction: () => policy };
}
