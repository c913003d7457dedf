// The Function status both platforms report: one condition set, one set of reasons, and the pure
// builder that the controller (from its Deployment) and `flint up` (from its supervisor) both call.
import type { Condition, FunctionResource, FunctionStatus } from "../api/index.js";

/**
 * The condition types, in the order they are written. Ready is derived: ConfigValid first, then
 * DeploymentReady (see `buildStatus`).
 *
 * "The replicas are healthy" has one name on both platforms, DeploymentReady, rather than a
 * ReplicasReady of `flint up`'s own: the cluster's name is fixed (it is what `kubectl get function
 * -o yaml` shows, and the CRD documents status.conditions by it), and two names for one meaning
 * would make users, docs and scripts (`kubectl wait --for=condition=...`) learn both. Locally the
 * word means the function's deployed replicas, which is what its reasons and messages talk about.
 */
export const CONDITION_TYPES = ["Ready", "ConfigValid", "DeploymentReady"] as const;

/** One of CONDITION_TYPES. */
export type ConditionType = (typeof CONDITION_TYPES)[number];

/** The conditions a problem can set to False; Ready follows from them. */
export type ProblemCondition = Exclude<ConditionType, "Ready">;

/**
 * Every reason Flint itself writes, one CamelCase word each (the Reason column of `kubectl get
 * functions`). A failing rollout on Kubernetes may also carry the Deployment's own reason
 * (e.g. FailedCreate), which is passed through as it is.
 */
export const REASON = {
  /** ConfigValid True: the spec can run on this platform. */
  Valid: "Valid",
  /** DeploymentReady True: at least one replica of the current spec takes calls. */
  Ready: "Ready",
  /** DeploymentReady True: no replica wanted while idle; the next call starts one. */
  ScaledToZero: "ScaledToZero",
  /** DeploymentReady True: waking from zero with a spec that was ready before; calls wait meanwhile. */
  Activating: "Activating",
  /** DeploymentReady Unknown: what runs the replicas is being created. */
  Creating: "Creating",
  /** DeploymentReady Unknown: nothing is created until the spec is valid (ConfigValid False). */
  NotCreated: "NotCreated",
  /** DeploymentReady Unknown: the first replica of a new Function is starting. */
  Deploying: "Deploying",
  /** DeploymentReady Unknown: replicas of an older spec are being replaced. */
  RollingOut: "RollingOut",
  /** DeploymentReady False (Kubernetes): a rollout made no progress within its deadline. */
  ProgressDeadlineExceeded: "ProgressDeadlineExceeded",
  /** DeploymentReady False (Kubernetes): pods cannot be created and the Deployment gave no reason. */
  ReplicaFailure: "ReplicaFailure",
  /** DeploymentReady False (local): replicas exit before any is ready; they restart with backoff. */
  ReplicaCrashing: "ReplicaCrashing",
  /**
   * DeploymentReady False: a replica went over spec.resources.limits.memory and was killed (by the
   * kernel's OOM killer, or at Node's heap limit), and none is ready meanwhile.
   */
  OOMKilled: "OOMKilled",
  /** DeploymentReady False (Kubernetes): an object with the Function's name belongs to something else. */
  NotOwned: "NotOwned",
  /** ConfigValid False (Kubernetes): no spec.image. */
  ImageMissing: "ImageMissing",
  /** ConfigValid False (Kubernetes): an http-mode server on the watchdog's port. */
  PortConflict: "PortConflict",
} as const;

/**
 * Something about one Function that the user has to fix, found while applying its spec;
 * controller/errors.ts's FunctionProblem is one.
 */
export interface StatusProblem {
  /** The condition it sets to False. */
  readonly condition: ProblemCondition;
  /** One CamelCase word, e.g. REASON.ImageMissing. */
  readonly reason: string;
  /** What the user can do about it. */
  readonly message: string;
}

/** What the platform knows of a Function's replicas beyond their counts. */
export type ReplicaState =
  /**
   * Nothing runs the function yet: the platform is creating it, or waits for a valid spec (reason
   * Creating or NotCreated, from ConfigValid). `message` says which, in the platform's words.
   */
  | { readonly kind: "absent"; readonly message: string }
  /** Replicas of an older spec are being replaced, or the platform has not taken in the new spec. */
  | { readonly kind: "rollingOut"; readonly message: string }
  /** The replicas cannot become ready without the user's help (crash loop, pods not created, a stalled rollout). */
  | { readonly kind: "failing"; readonly reason: string; readonly message: string }
  /** The current spec runs: the counts tell how well. */
  | { readonly kind: "current" };

/** What a platform observed of one Function, in its own terms translated to these. */
export interface ObservedFunction {
  /** Where to call the function through the gateway. */
  readonly url: string;
  /** What stopped the platform from applying the spec, if the user must fix something. */
  readonly problem?: StatusProblem | undefined;
  /** Replicas the platform is asked to run now (a Deployment's spec.replicas; the supervisor's desired count). */
  readonly desiredReplicas: number;
  /** Replicas that exist now, starting or ready (status.replicas). */
  readonly replicas: number;
  /** Replicas ready to take calls (status.readyReplicas). */
  readonly readyReplicas: number;
  readonly state: ReplicaState;
  /** A command that shows why replicas do not start, for messages: `flint logs hello`, `kubectl ... describe pods ...`. */
  readonly inspectCommand: string;
}

type ConditionState = Pick<Condition, "status" | "reason" | "message">;

/**
 * The status of `fn` given what its platform observed. `previous` is the status last reported (the
 * stored one on Kubernetes, the last one answered locally): a condition keeps its
 * lastTransitionTime while its status stays the same (reason and message may change), so the same
 * observation gives an identical status. `nowIso` is stamped on conditions that are new or flipped
 * (use `conditionTime`, whole seconds as Kubernetes writes times).
 */
export function buildStatus(
  fn: Pick<FunctionResource, "metadata">,
  observed: ObservedFunction,
  previous: FunctionStatus | undefined,
  nowIso: string,
): FunctionStatus {
  const { problem } = observed;
  const before = (type: ConditionType): Condition | undefined =>
    previous?.conditions?.find((candidate) => candidate.type === type);

  const configValid: ConditionState =
    problem?.condition === "ConfigValid"
      ? { status: "False", reason: problem.reason, message: problem.message }
      : { status: "True", reason: REASON.Valid };
  const deploymentReady = deploymentCondition(
    observed,
    configValid.status === "True",
    before("DeploymentReady")?.status === "True",
  );
  const ready = readyCondition(configValid, deploymentReady, observed.readyReplicas);

  const generation = fn.metadata.generation;
  const condition = (type: ConditionType, state: ConditionState): Condition => {
    const last = before(type);
    const lastTransitionTime =
      last?.status === state.status && last.lastTransitionTime !== undefined
        ? last.lastTransitionTime
        : nowIso;
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
    replicas: observed.replicas,
    readyReplicas: observed.readyReplicas,
    url: observed.url,
  };
}

/** RFC 3339 in whole seconds, as Kubernetes writes times: the `nowIso` for `buildStatus`. */
export function conditionTime(nowMs: number): string {
  return new Date(nowMs).toISOString().replace(/\.\d+Z$/, "Z");
}

/**
 * Ready follows the first sub-condition that is not True; when both are, DeploymentReady's reason.
 * A spec that cannot run says so even while the previous version keeps serving.
 */
function readyCondition(
  configValid: ConditionState,
  deploymentReady: ConditionState,
  readyReplicas: number,
): ConditionState {
  if (configValid.status !== "True") {
    const suffix = readyReplicas > 0 ? `; the previous version keeps serving (${readyReplicas} ready)` : "";
    return { ...configValid, message: `${configValid.message ?? ""}${suffix}` };
  }
  return deploymentReady;
}

/**
 * Whether the replicas can take calls. A function scaled to zero, or waking from zero with a spec
 * that was ready before, can: the gateway holds its calls while a replica starts. A rollout in
 * progress is Unknown; a failing one is False.
 */
function deploymentCondition(
  observed: ObservedFunction,
  configValid: boolean,
  wasReady: boolean,
): ConditionState {
  const { problem, state, desiredReplicas: wanted, readyReplicas } = observed;
  if (problem?.condition === "DeploymentReady") {
    return { status: "False", reason: problem.reason, message: problem.message };
  }
  switch (state.kind) {
    case "absent":
      return {
        status: "Unknown",
        reason: configValid ? REASON.Creating : REASON.NotCreated,
        message: state.message,
      };
    case "rollingOut":
      return { status: "Unknown", reason: REASON.RollingOut, message: state.message };
    case "failing":
      return { status: "False", reason: state.reason, message: state.message };
    case "current":
      break;
  }
  if (wanted === 0) {
    return {
      status: "True",
      reason: REASON.ScaledToZero,
      message: "scaled to zero while idle; the next call starts a replica",
    };
  }
  if (readyReplicas > 0) {
    return { status: "True", reason: REASON.Ready, message: `${readyReplicas} of ${wanted} replicas ready` };
  }
  if (wasReady) {
    return {
      status: "True",
      reason: REASON.Activating,
      message: `starting ${wanted} replica(s) from zero; calls wait in the gateway meanwhile`,
    };
  }
  return {
    status: "Unknown",
    reason: REASON.Deploying,
    message: `waiting for the first replica to become ready (${observed.inspectCommand} if this takes long)`,
  };
}
