// The small interfaces every component shares: what the gateway and the autoscaler need of a
// platform. Kubernetes (platform/kubernetes/) and the local platform (local/) implement them;
// platform/memory.ts and platform/function-store.ts hold the in-memory implementations.
import type { FunctionRef, FunctionResource } from "../api/index.js";

/** Time, injected wherever it matters (deadlines, stats windows, probes) so tests can drive it. */
export interface Clock {
  /** Milliseconds since the epoch, with sub-millisecond precision. */
  now(): number;
  /**
   * Calls `callback` once after `delayMs` milliseconds and returns a function that cancels it.
   * Timers never keep the process alive on their own.
   */
  setTimer(callback: () => void, delayMs: number): () => void;
}

/**
 * Where a replica is in its life. `starting`: its address is known but it has not been seen ready;
 * the gateway probes it directly (GET /_/ready) so it can take calls before readiness propagates.
 * `ready`: takes new calls. `draining`: finishes the calls it has, takes no new ones.
 */
export type EndpointState = "starting" | "ready" | "draining";

/** One replica of a function as its platform reports it. */
export interface Endpoint {
  /** Stable for the replica's life: a pod name, or a process id locally. */
  readonly id: string;
  /** IP address or host name the gateway connects to. */
  readonly host: string;
  readonly port: number;
  readonly state: EndpointState;
}

/** Receives a function's complete replica set: at once on subscribe (if known), then on every change. */
export type EndpointListener = (endpoints: readonly Endpoint[]) => void;

/** Replica sets per function, as events: EndpointSlices on Kubernetes, the process supervisor locally. */
export interface EndpointSource {
  /** Starts delivering `ref`'s replica sets to `listener`; the returned function stops it. */
  subscribe(ref: FunctionRef, listener: EndpointListener): () => void;
}

/** What the gateway asks of the platform's scaler. Both calls are idempotent requests, not commands. */
export interface ScaleTarget {
  /**
   * A call is waiting and `ref` has no ready replica: scale from zero now, without waiting for the
   * autoscaler's tick. Sent once per cold episode, however many calls are waiting.
   */
  activate(ref: FunctionRef): Promise<void>;
  /** Run `replicas` replicas now (the management API's manual scale); the autoscaler may change it later. */
  scale(ref: FunctionRef, replicas: number): Promise<void>;
}

/** A ScaleTarget call as the autoscaler receives it (over NATS, or in memory). */
export type ScaleRequest =
  | { readonly type: "activate"; readonly ref: FunctionRef }
  | { readonly type: "scale"; readonly ref: FunctionRef; readonly replicas: number };

/**
 * One function's demand as one gateway saw it over one window (one second). See docs/gateway.md for
 * the exact definition; the autoscaler sums samples of the same window across gateways.
 */
export interface ConcurrencySample {
  /** "namespace/name". */
  readonly function: string;
  /** Which gateway measured it, so samples from several gateways are summed, not overwritten. */
  readonly source: string;
  /** End of the window, epoch milliseconds; windows are aligned to whole seconds of the clock. */
  readonly timestampMs: number;
  /** Length of the window in milliseconds (1000). */
  readonly windowMs: number;
  /** Time-weighted average of calls admitted and not yet finished (queued + in flight) over the window. */
  readonly averageConcurrency: number;
  /** The queued part of averageConcurrency: calls waiting for a replica or for a free slot. */
  readonly averageQueued: number;
  /** Highest number of admitted, unfinished calls at any instant of the window. */
  readonly peakConcurrency: number;
  /** Calls admitted during the window. */
  readonly requests: number;
  /** Replicas taking calls at the end of the window, as this gateway sees them. */
  readonly readyReplicas: number;
  /**
   * Async calls pending in the function's queue (shared by all gateways: take the largest report of a
   * window, do not add them up). Calls a consumer has taken are already in averageConcurrency.
   */
  readonly asyncQueued: number;
}

/** Where the gateway publishes what the autoscaler needs: NATS on Kubernetes, in memory locally. */
export interface Bus {
  /** Fire and forget: a lost sample costs one second of precision, never a call. */
  publishConcurrency(sample: ConcurrencySample): void;
}

/** A change to the set of Functions, as `FunctionStore.watch` delivers it. */
export type FunctionEvent =
  | { readonly type: "put"; readonly function: FunctionResource }
  | { readonly type: "delete"; readonly ref: FunctionRef }
  /** Every Function that existed when the watch started has been delivered as a "put". */
  | { readonly type: "synced" };

/**
 * The Function resources: CRs on Kubernetes, memory (or a folder of manifests) locally. Methods
 * reject with the gateway's FunctionNotFoundError, FunctionExistsError and ConflictError.
 */
export interface FunctionStore {
  get(ref: FunctionRef): Promise<FunctionResource | undefined>;
  /** Every Function, or those in `namespace`, sorted by namespace then name. */
  list(namespace?: string): Promise<FunctionResource[]>;
  /** Stores a new Function; FunctionExistsError when the name is taken. Returns it as stored. */
  create(fn: FunctionResource): Promise<FunctionResource>;
  /**
   * Replaces an existing Function's spec, labels and annotations; FunctionNotFoundError when there
   * is none. When `fn.metadata.resourceVersion` is set it must match the stored one (ConflictError).
   */
  update(fn: FunctionResource): Promise<FunctionResource>;
  /** FunctionNotFoundError when there is none. */
  delete(ref: FunctionRef): Promise<void>;
  /**
   * Delivers every existing Function as "put", then "synced", then each change, to `listener`.
   * The returned function stops the watch.
   */
  watch(listener: (event: FunctionEvent) => void): () => void;
}

/** One replica as `flint describe` shows it. */
export interface ReplicaInfo {
  readonly id: string;
  readonly state: string;
  /** host:port the gateway calls, once known. */
  readonly address: string | undefined;
  readonly startedAtMs: number;
  /** Process id (local platform) or pod name (Kubernetes), when the platform knows one. */
  readonly process?: string;
}

/** One line a replica wrote, as `flint logs` shows it. */
export interface ReplicaLogLine {
  readonly timeMs: number;
  readonly replica: string;
  readonly stream: "stdout" | "stderr";
  readonly line: string;
}

/** The last lines of a function's replicas, and what the platform's bounded buffer let go. */
export interface ReplicaLogs {
  /** Oldest first. */
  readonly items: readonly ReplicaLogLine[];
  /** Since the buffer started: whole lines evicted, bytes of those and cut off long lines, lines cut. */
  readonly dropped: { readonly lines: number; readonly bytes: number; readonly cutLines: number };
  /** The buffer's bounds: lines and UTF-8 bytes kept per function, and bytes per line. */
  readonly limits: { readonly lines: number; readonly bytes: number; readonly lineBytes: number };
}

/**
 * What the platform can say about a function's running replicas beyond its status. Optional: the
 * local platform has it (it runs the processes); on Kubernetes, kubectl shows pods and logs.
 */
export interface FunctionRuntime {
  replicas(ref: FunctionRef): readonly ReplicaInfo[];
  /** The last `limit` lines, oldest first, with what was dropped. */
  logs(ref: FunctionRef, limit: number): ReplicaLogs;
}
