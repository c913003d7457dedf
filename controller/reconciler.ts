// The per-Function logic: make its Deployment and Service look like the builders say (never touching
// replicas after creation), then write the status the observation gives, only when it changed.
import type { V1Deployment, V1Pod, V1Service } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { FunctionResource, FunctionStatus } from "../api/index.js";
import type { Clock } from "../platform/ports.js";
import { isOwnedBy, makeDeployment, makeService, mergeForUpdate, needsUpdate } from "./builders.js";
import type { ControllerConfig } from "./config.js";
import { FunctionProblem, NotOwnedError } from "./errors.js";
import { computeStatus, statusChanged } from "./status.js";

/** A read-only view of objects the informers keep, by namespace and name. */
export interface ObjectLister<T> {
  get(namespace: string, name: string): T | undefined;
}

/** A create found an object of that name already there (one the informers do not show: not Flint's). */
export class AlreadyExistsError extends Error {
  readonly code = "ALREADY_EXISTS";
  constructor(
    readonly kind: "Deployment" | "Service",
    readonly namespace: string,
    readonly objectName: string,
  ) {
    super(`${kind} ${namespace}/${objectName} already exists`);
    this.name = "AlreadyExistsError";
  }
}

/**
 * The writes the reconciler makes; Kubernetes in production, a small fake in unit tests. Creates
 * reject with AlreadyExistsError when the name is taken.
 */
export interface ClusterWriter {
  readDeployment(namespace: string, name: string): Promise<V1Deployment>;
  readService(namespace: string, name: string): Promise<V1Service>;
  createDeployment(namespace: string, body: V1Deployment): Promise<V1Deployment>;
  replaceDeployment(namespace: string, name: string, body: V1Deployment): Promise<V1Deployment>;
  createService(namespace: string, body: V1Service): Promise<V1Service>;
  replaceService(namespace: string, name: string, body: V1Service): Promise<V1Service>;
  /** Replaces the Function's status (status subresource, merge patch). */
  writeStatus(fn: FunctionResource, status: FunctionStatus): Promise<void>;
}

export interface ReconcilerDeps {
  readonly functions: ObjectLister<FunctionResource>;
  readonly deployments: ObjectLister<V1Deployment>;
  readonly services: ObjectLister<V1Service>;
  /** The pods of one Function (by its label), for what their containers say (OOMKilled). */
  readonly podsOf: (namespace: string, name: string) => readonly V1Pod[];
  readonly writer: ClusterWriter;
  readonly config: ControllerConfig;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** What one reconcile did, for logs and tests. */
export interface ReconcileResult {
  readonly deployment: "created" | "updated" | "unchanged" | "none";
  readonly service: "created" | "updated" | "unchanged" | "none";
  readonly statusWritten: boolean;
  readonly problem: FunctionProblem | undefined;
}

export class FunctionReconciler {
  constructor(private readonly deps: ReconcilerDeps) {}

  /**
   * Reconciles the Function `namespace/name`. A FunctionProblem (the user must act) is recorded in
   * the status and ends the reconcile without a retry; any other error rejects, and the queue retries.
   */
  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const slash = key.indexOf("/");
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const fn = this.deps.functions.get(namespace, name);
    // Gone, or going: its children are deleted by the garbage collector through owner references.
    if (fn === undefined || fn.metadata.deletionTimestamp !== undefined) return undefined;

    let deployment = this.deps.deployments.get(namespace, name);
    let problem: FunctionProblem | undefined;
    let deploymentAction: ReconcileResult["deployment"] = "none";
    let serviceAction: ReconcileResult["service"] = "none";
    try {
      const desired = makeDeployment(fn, this.deps.config);
      if (deployment === undefined) {
        try {
          deployment = await this.deps.writer.createDeployment(namespace, desired);
          deploymentAction = "created";
        } catch (error) {
          // The informers only see objects with Flint's label: this one is someone else's, or ours
          // and not yet in the cache. Ownership decides.
          if (!(error instanceof AlreadyExistsError)) throw error;
          deployment = await this.deps.writer.readDeployment(namespace, name);
        }
      }
      if (deploymentAction === "created") {
        // Just made: nothing to compare.
      } else if (!isOwnedBy(deployment, fn)) {
        throw new NotOwnedError("Deployment", namespace, name);
      } else if (needsUpdate(deployment, desired)) {
        deployment = await this.deps.writer.replaceDeployment(
          namespace,
          name,
          mergeForUpdate(deployment, desired),
        );
        deploymentAction = "updated";
      } else {
        deploymentAction = "unchanged";
      }
      serviceAction = await this.reconcileService(fn);
    } catch (error) {
      if (!(error instanceof FunctionProblem)) throw error;
      problem = error;
      if (error instanceof NotOwnedError && error.kind === "Deployment") deployment = undefined;
    }

    const status = computeStatus(
      { fn, deployment, problem, pods: this.deps.podsOf(namespace, name), now: new Date(this.deps.clock.now()) },
      this.deps.config,
    );
    const statusWritten = statusChanged(fn.status, status);
    if (statusWritten) await this.deps.writer.writeStatus(fn, status);
    const result = { deployment: deploymentAction, service: serviceAction, statusWritten, problem };
    if (deploymentAction !== "unchanged" || serviceAction !== "unchanged" || statusWritten) {
      this.deps.logger.info(
        {
          function: key,
          deployment: deploymentAction,
          service: serviceAction,
          statusWritten,
          ...(problem === undefined ? {} : { reason: problem.reason }),
        },
        "reconciled",
      );
    }
    return result;
  }

  private async reconcileService(fn: FunctionResource): Promise<ReconcileResult["service"]> {
    const { namespace, name } = fn.metadata;
    const desired = makeService(fn);
    let existing = this.deps.services.get(namespace, name);
    if (existing === undefined) {
      try {
        await this.deps.writer.createService(namespace, desired);
        return "created";
      } catch (error) {
        if (!(error instanceof AlreadyExistsError)) throw error;
        existing = await this.deps.writer.readService(namespace, name);
      }
    }
    if (!isOwnedBy(existing, fn)) throw new NotOwnedError("Service", namespace, name);
    if (!needsUpdate(existing, desired)) return "unchanged";
    await this.deps.writer.replaceService(namespace, name, mergeForUpdate(existing, desired));
    return "updated";
  }
}
