// The status a Function should have, from what was observed: conditions with reasons a user can act
// on, replica counts and the URL. Pure: the runtime passes the Deployment it saw and the clock.
import type { V1Deployment, V1DeploymentCondition } from "@kubernetes/client-node";
import { FUNCTION_LABEL, type Condition, type FunctionResource, type FunctionStatus } from "../api/index.js";
import type { ControllerConfig } from "./config.js";
import type { FunctionProblem } from "./errors.js";
import { canonicalJson } from "./hash.js";

/** The condition types Flint sets. Ready is derived from the other two. */
export type ConditionType = "Ready" | "ConfigValid" | "DeploymentReady";

export interface StatusInput {
  readonly fn: FunctionResource;
  /**
   * The Function's Deployment as last observed; undefined when there is none yet, or when the one
   * with its name belongs to something else (then `problem` is a NotOwnedError).
   */
  readonly deployment: V1Deployment | undefined;
  /** What stopped this reconcile, if anything a user must fix (a builder's or the reconciler's). */
  readonly problem?: FunctionProblem | undefined;
  /** Stamped on conditions whose status flips. */
  readonly now: Date;
}

type ConditionState = Pick<Condition, "status" | "reason" | "message">;

/**
 * The status for `input.fn`. A condition keeps its lastTransitionTime while its status stays the
 * same (reason and message may change), so an unchanged Function gives an identical status and
 * `statusChanged` tells the runtime to skip the write.
 */
export function computeStatus(input: StatusInput, cfg: Pick<ControllerConfig, "gatewayUrl">): FunctionStatus {
  const { fn, deployment, problem } = input;
  const previous = fn.status?.conditions ?? [];

  const configValid: ConditionState =
    problem?.condition === "ConfigValid"
      ? { status: "False", reason: problem.reason, message: problem.message }
      : { status: "True", reason: "Valid" };
  const deploymentReady = deploymentCondition(fn, deployment, problem, configValid.status === "True");
  const ready = readyCondition(configValid, deploymentReady, deployment);

  const generation = fn.metadata.generation;
  const condition = (type: ConditionType, state: ConditionState): Condition => {
    const before = previous.find((candidate) => candidate.type === type);
    const lastTransitionTime =
      before?.status === state.status && before.lastTransitionTime !== undefined
        ? before.lastTransitionTime
        : kubernetesTime(input.now);
    return {
      type,
      ...state,
      lastTransitionTime,
      ...(generation !== undefined && { observedGeneration: generation }),
    };
  };

  return {
    ...(generation !== undefined && { observedGeneration: generation }),
    conditions: [
      condition("Ready", ready),
      condition("ConfigValid", configValid),
      condition("DeploymentReady", deploymentReady),
    ],
    replicas: deployment?.status?.replicas ?? 0,
    readyReplicas: deployment?.status?.readyReplicas ?? 0,
    url: functionUrl(fn, cfg.gatewayUrl),
  };
}

/**
 * Whether `next` says anything `current` does not: the runtime writes status only then. The order
 * of conditions and of keys does not count.
 */
export function statusChanged(current: FunctionStatus | undefined, next: FunctionStatus): boolean {
  return canonicalJson(normalized(current ?? {})) !== canonicalJson(normalized(next));
}

/** Where to call `fn` through the gateway: `<gateway>/function/<name>.<namespace>`. */
export function functionUrl(fn: FunctionResource, gatewayUrl: string): string {
  return `${gatewayUrl}/function/${fn.metadata.name}.${fn.metadata.namespace}`;
}

/** Ready follows the first sub-condition that is not True; when both are, DeploymentReady's reason. */
function readyCondition(
  configValid: ConditionState,
  deploymentReady: ConditionState,
  deployment: V1Deployment | undefined,
): ConditionState {
  if (configValid.status !== "True") {
    const serving = deployment?.status?.readyReplicas ?? 0;
    const suffix = serving > 0 ? `; the previous version keeps serving (${serving} ready)` : "";
    return { ...configValid, message: `${configValid.message ?? ""}${suffix}` };
  }
  return deploymentReady;
}

/**
 * Whether the Deployment can take calls. A function scaled to zero, or waking from zero with a
 * template that was ready before, can: the gateway holds its calls while a replica starts. A
 * rollout in progress is Unknown; a stalled one or pods that cannot be created are False.
 */
function deploymentCondition(
  fn: FunctionResource,
  deployment: V1Deployment | undefined,
  problem: FunctionProblem | undefined,
  configValid: boolean,
): ConditionState {
  if (problem?.condition === "DeploymentReady") {
    return { status: "False", reason: problem.reason, message: problem.message };
  }
  const { name, namespace } = fn.metadata;
  if (deployment === undefined) {
    return configValid
      ? { status: "Unknown", reason: "Creating", message: `creating Deployment ${namespace}/${name}` }
      : {
          status: "Unknown",
          reason: "NotCreated",
          message: "no Deployment until the spec is valid (see the ConfigValid condition)",
        };
  }

  const wanted = deployment.spec?.replicas ?? 1; // Kubernetes' default when unset
  const { replicas = 0, updatedReplicas = 0, readyReplicas = 0 } = deployment.status ?? {};
  const seen = (deployment.status?.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0);
  const pods = `kubectl -n ${namespace} describe pods -l ${FUNCTION_LABEL}=${name}`;

  // Until the Deployment controller has seen the latest template, its conditions are about the old one.
  if (!seen) {
    return {
      status: "Unknown",
      reason: "RollingOut",
      message: "waiting for the Deployment controller to see the new spec",
    };
  }
  const replicaFailure = findCondition(deployment, "ReplicaFailure", "True");
  if (replicaFailure !== undefined) {
    return {
      status: "False",
      reason: replicaFailure.reason ?? "ReplicaFailure",
      message: `pods cannot be created: ${replicaFailure.message ?? "no detail"} (see kubectl -n ${namespace} get events)`,
    };
  }
  const stalled = findCondition(deployment, "Progressing", "False");
  if (stalled?.reason === "ProgressDeadlineExceeded") {
    return {
      status: "False",
      reason: "ProgressDeadlineExceeded",
      message:
        `${readyReplicas} of ${wanted} replicas ready and no progress within the deadline: ` +
        `check the image, the pods' logs and probes (${pods})`,
    };
  }
  // Pods of an older template still exist: a rollout is replacing them.
  if (replicas > updatedReplicas) {
    return {
      status: "Unknown",
      reason: "RollingOut",
      message: `rolling out: ${updatedReplicas} of ${wanted} replicas updated, ${readyReplicas} ready`,
    };
  }
  if (wanted === 0) {
    return {
      status: "True",
      reason: "ScaledToZero",
      message: "scaled to zero while idle; the next call starts a replica",
    };
  }
  if (readyReplicas > 0) {
    return { status: "True", reason: "Ready", message: `${readyReplicas} of ${wanted} replicas ready` };
  }
  const before = fn.status?.conditions?.find((candidate) => candidate.type === "DeploymentReady");
  if (before?.status === "True") {
    return {
      status: "True",
      reason: "Activating",
      message: `starting ${wanted} replica(s) from zero; calls wait in the gateway meanwhile`,
    };
  }
  return {
    status: "Unknown",
    reason: "Deploying",
    message: `waiting for the first replica to become ready (${pods} if this takes long)`,
  };
}

function findCondition(
  deployment: V1Deployment,
  type: string,
  status: "True" | "False",
): V1DeploymentCondition | undefined {
  return deployment.status?.conditions?.find(
    (candidate) => candidate.type === type && candidate.status === status,
  );
}

/** RFC 3339 in whole seconds, as Kubernetes writes times. */
function kubernetesTime(now: Date): string {
  return now.toISOString().replace(/\.\d+Z$/, "Z");
}

function normalized(status: FunctionStatus): FunctionStatus {
  const conditions = status.conditions === undefined ? undefined : [...status.conditions];
  conditions?.sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  return { ...status, conditions };
}
