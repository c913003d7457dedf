// A FunctionStore that answers with live status from the local supervisor, the way a Function's
// status subresource answers on Kubernetes: the same conditions and reasons (platform/status.ts).
import { functionKey, type FunctionRef, type FunctionResource, type FunctionStatus } from "../api/index.js";
import type { Clock, FunctionEvent, FunctionStore } from "../platform/ports.js";
import {
  buildStatus,
  conditionTime,
  REASON,
  type ObservedFunction,
  type ReplicaState,
} from "../platform/status.js";

/** What the status reads of the replica supervisor (ReplicaSupervisor has it; tests pass a fake). */
export interface ReplicaView {
  /** The function's replicas now, draining ones included. */
  replicas(ref: FunctionRef): readonly {
    readonly state: string;
    /** The spec (and folder) version the replica runs. */
    readonly version: string;
    /** Epoch ms. */
    readonly startedAtMs: number;
  }[];
  /** Crashes since the last stable replica, and the last unexpected exit. */
  health(ref: FunctionRef): {
    readonly crashes: number;
    readonly lastExit: string | undefined;
    /** The last unexpected exit was a replica over its memory limit. */
    readonly outOfMemory?: boolean;
  };
  /** How many replicas should run; undefined when the supervisor does not know the function (yet). */
  desiredReplicas(ref: FunctionRef): number | undefined;
}

export interface LiveStatusOptions {
  readonly supervisor: ReplicaView;
  readonly clock: Clock;
  /** The gateway's base URL, e.g. http://127.0.0.1:8080; known once it listens. */
  readonly baseUrl: () => string;
  /** Functions of this namespace are called by name alone. */
  readonly defaultNamespace: string;
}

/**
 * What the supervisor reports of `fn`, for the shared builder. Replicas exit before any is ready:
 * failing (ReplicaCrashing). Replicas of two versions: rolling out (the newest-started replica runs
 * the current one, since a roll only starts replicas of the new version).
 */
export function observeReplicas(
  fn: FunctionResource,
  supervisor: ReplicaView,
  names: Pick<LiveStatusOptions, "defaultNamespace"> & { readonly baseUrl: string },
): ObservedFunction {
  const ref = fn.metadata;
  const callName = ref.namespace === names.defaultNamespace ? ref.name : `${ref.name}.${ref.namespace}`;
  const desired = supervisor.desiredReplicas(ref);
  const live = supervisor.replicas(ref).filter((r) => r.state !== "draining");
  const readyReplicas = live.filter((r) => r.state === "ready").length;
  const { crashes, lastExit, outOfMemory = false } = supervisor.health(ref);
  const inspectCommand = `flint logs ${callName}`;

  let state: ReplicaState;
  const newest = live.reduce<(typeof live)[number] | undefined>(
    (latest, r) => (latest === undefined || r.startedAtMs > latest.startedAtMs ? r : latest),
    undefined,
  );
  const updated = live.filter((r) => r.version === newest?.version).length;
  if (desired === undefined) {
    state = { kind: "absent", message: `starting to supervise ${ref.namespace}/${ref.name}` };
  } else if (crashes > 0 && readyReplicas === 0 && desired > 0) {
    state = {
      kind: "failing",
      reason: outOfMemory ? REASON.OOMKilled : REASON.ReplicaCrashing,
      message: lastExit ?? `replicas exit before they are ready; see ${inspectCommand}`,
    };
  } else if (updated < live.length) {
    state = {
      kind: "rollingOut",
      message: `rolling out: ${updated} of ${desired} replicas updated, ${readyReplicas} ready`,
    };
  } else {
    state = { kind: "current" };
  }
  return {
    url: `${names.baseUrl}/function/${callName}`,
    desiredReplicas: desired ?? 0,
    replicas: live.length,
    readyReplicas,
    state,
    inspectCommand,
  };
}

export class LiveStatusStore implements FunctionStore {
  /**
   * The status last answered per function ("namespace/name"), so conditions keep their
   * lastTransitionTime as on Kubernetes. Keyed with the uid: a function deleted and created again
   * starts afresh. Entries of deleted functions go on the next read that misses them.
   */
  private readonly answered = new Map<string, { uid: string | undefined; status: FunctionStatus }>();

  constructor(
    private readonly inner: FunctionStore,
    private readonly options: LiveStatusOptions,
  ) {}

  async get(ref: FunctionRef): Promise<FunctionResource | undefined> {
    const fn = await this.inner.get(ref);
    if (fn === undefined) this.answered.delete(functionKey(ref));
    return fn === undefined ? undefined : this.withStatus(fn);
  }

  async list(namespace?: string): Promise<FunctionResource[]> {
    const fns = await this.inner.list(namespace);
    const listed = new Set(fns.map((fn) => functionKey(fn.metadata)));
    for (const key of this.answered.keys()) {
      if (!listed.has(key) && (namespace === undefined || key.startsWith(`${namespace}/`))) {
        this.answered.delete(key);
      }
    }
    return fns.map((fn) => this.withStatus(fn));
  }

  create(fn: FunctionResource): Promise<FunctionResource> {
    return this.inner.create(fn);
  }

  update(fn: FunctionResource): Promise<FunctionResource> {
    return this.inner.update(fn);
  }

  async delete(ref: FunctionRef): Promise<void> {
    await this.inner.delete(ref);
    this.answered.delete(functionKey(ref));
  }

  watch(listener: (event: FunctionEvent) => void): () => void {
    return this.inner.watch(listener);
  }

  private withStatus(fn: FunctionResource): FunctionResource {
    const { supervisor, clock, baseUrl, defaultNamespace } = this.options;
    const key = functionKey(fn.metadata);
    const last = this.answered.get(key);
    const previous = last !== undefined && last.uid === fn.metadata.uid ? last.status : undefined;
    const observed = observeReplicas(fn, supervisor, { baseUrl: baseUrl(), defaultNamespace });
    const status = buildStatus(fn, observed, previous, conditionTime(clock.now()));
    this.answered.set(key, { uid: fn.metadata.uid, status });
    return { ...fn, status };
  }
}
