// The status a Function should have on Kubernetes: what the controller saw of its Deployment (and
// any problem the reconcile hit), translated for the shared builder in platform/status.ts. Pure:
// the runtime passes the Deployment it saw and the clock.
import type { V1ContainerStatus, V1Deployment, V1DeploymentCondition, V1Pod } from "@kubernetes/client-node";
import { FUNCTION_LABEL, type FunctionResource, type FunctionStatus } from "../api/index.js";
import {
  buildStatus,
  conditionTime,
  REASON,
  type ObservedFunction,
  type ReplicaState,
} from "../platform/status.js";
import type { ControllerConfig } from "./config.js";
import type { FunctionProblem } from "./errors.js";
import { canonicalJson } from "./hash.js";

/** The condition types Flint sets (platform/status.ts). Ready is derived from the other two. */
export type { ConditionType } from "../platform/status.js";

export interface StatusInput {
  readonly fn: FunctionResource;
  /**
   * The Function's Deployment as last observed; undefined when there is none yet, or when the one
   * with its name belongs to something else (then `problem` is a NotOwnedError).
   */
  readonly deployment: V1Deployment | undefined;
  /** The Function's pods as last observed (by its label); only what their containers say is read. */
  readonly pods?: readonly V1Pod[];
  /** What stopped this reconcile, if anything a user must fix (a builder's or the reconciler's). */
  readonly problem?: FunctionProblem | undefined;
  /** Stamped on conditions whose status flips. */
  readonly now: Date;
}

/**
 * The status for `input.fn`. A condition keeps its lastTransitionTime while its status stays the
 * same (reason and message may change), so an unchanged Function gives an identical status and
 * `statusChanged` tells the runtime to skip the write.
 */
export function computeStatus(input: StatusInput, cfg: Pick<ControllerConfig, "gatewayUrl">): FunctionStatus {
  const { fn } = input;
  return buildStatus(fn, observeDeployment(input, cfg), fn.status, conditionTime(input.now.getTime()));
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

/** The Deployment as the shared builder sees replicas: counts, and what its conditions say. */
function observeDeployment(
  { fn, deployment, problem, pods = [] }: StatusInput,
  cfg: Pick<ControllerConfig, "gatewayUrl">,
): ObservedFunction {
  const { name, namespace } = fn.metadata;
  const inspectCommand = `kubectl -n ${namespace} describe pods -l ${FUNCTION_LABEL}=${name}`;
  return {
    url: functionUrl(fn, cfg.gatewayUrl),
    problem,
    desiredReplicas: deployment === undefined ? 0 : (deployment.spec?.replicas ?? 1), // Kubernetes' default when unset
    replicas: deployment?.status?.replicas ?? 0,
    readyReplicas: deployment?.status?.readyReplicas ?? 0,
    state: deploymentState(fn, deployment, problem, inspectCommand, pods),
    inspectCommand,
  };
}

/**
 * What the Deployment says beyond its counts. A rollout in progress, or one the Deployment
 * controller has not seen yet, is rolling out; a stalled one or pods that cannot be created fail.
 */
function deploymentState(
  fn: FunctionResource,
  deployment: V1Deployment | undefined,
  problem: FunctionProblem | undefined,
  inspectCommand: string,
  pods: readonly V1Pod[],
): ReplicaState {
  const { name, namespace } = fn.metadata;
  if (deployment === undefined) {
    return {
      kind: "absent",
      message:
        problem?.condition === "ConfigValid"
          ? "no Deployment until the spec is valid (see the ConfigValid condition)"
          : `creating Deployment ${namespace}/${name}`,
    };
  }
  const state = rolloutState(deployment, namespace, inspectCommand);
  // While no replica is ready, a container the kernel killed for its memory is why: say so.
  const readyReplicas = deployment.status?.readyReplicas ?? 0;
  if (readyReplicas === 0 && (state.kind === "current" || state.kind === "rollingOut")) {
    const oom = oomKilledState(fn, pods);
    if (oom !== undefined) return oom;
  }
  return state;
}

/**
 * Failing with reason OOMKilled when a container of a not-ready pod last ended OOMKilled (it is
 * restarting, or waiting in CrashLoopBackOff); undefined otherwise. The newest such pod is named.
 */
function oomKilledState(fn: FunctionResource, pods: readonly V1Pod[]): ReplicaState | undefined {
  const killed: { pod: string; container: V1ContainerStatus }[] = [];
  for (const pod of pods) {
    if (pod.metadata?.deletionTimestamp !== undefined) continue;
    for (const container of pod.status?.containerStatuses ?? []) {
      const ended = container.state?.terminated ?? container.lastState?.terminated;
      if (!container.ready && ended?.reason === "OOMKilled") {
        killed.push({ pod: pod.metadata?.name ?? "?", container });
      }
    }
  }
  const newest = killed.sort((a, b) => b.container.restartCount - a.container.restartCount)[0];
  if (newest === undefined) return undefined;
  const limit = fn.spec.resources?.limits?.memory;
  const { pod, container } = newest;
  return {
    kind: "failing",
    reason: REASON.OOMKilled,
    message:
      `pod ${pod}: container ${container.name} was killed for using more than its memory limit` +
      `${limit === undefined ? "" : ` (resources.limits.memory ${limit})`}, ${container.restartCount} ` +
      `restart${container.restartCount === 1 ? "" : "s"} so far; raise the limit or use less memory`,
  };
}

/** What an existing Deployment's status and conditions say about its rollout. */
function rolloutState(deployment: V1Deployment, namespace: string, pods: string): ReplicaState {
  const wanted = deployment.spec?.replicas ?? 1;
  const { replicas = 0, updatedReplicas = 0, readyReplicas = 0 } = deployment.status ?? {};
  const seen = (deployment.status?.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0);

  // Until the Deployment controller has seen the latest template, its conditions are about the old one.
  if (!seen) {
    return { kind: "rollingOut", message: "waiting for the Deployment controller to see the new spec" };
  }
  const replicaFailure = findCondition(deployment, "ReplicaFailure", "True");
  if (replicaFailure !== undefined) {
    return {
      kind: "failing",
      reason: replicaFailure.reason ?? REASON.ReplicaFailure,
      message: `pods cannot be created: ${replicaFailure.message ?? "no detail"} (see kubectl -n ${namespace} get events)`,
    };
  }
  const stalled = findCondition(deployment, "Progressing", "False");
  if (stalled?.reason === REASON.ProgressDeadlineExceeded) {
    return {
      kind: "failing",
      reason: REASON.ProgressDeadlineExceeded,
      message:
        `${readyReplicas} of ${wanted} replicas ready and no progress within the deadline: ` +
        `check the image, the pods' logs and probes (${pods})`,
    };
  }
  // Pods of an older template still exist: a rollout is replacing them.
  if (replicas > updatedReplicas) {
    return {
      kind: "rollingOut",
      message: `rolling out: ${updatedReplicas} of ${wanted} replicas updated, ${readyReplicas} ready`,
    };
  }
  return { kind: "current" };
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

function normalized(status: FunctionStatus): FunctionStatus {
  const conditions = status.conditions === undefined ? undefined : [...status.conditions];
  conditions?.sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  return { ...status, conditions };
}
