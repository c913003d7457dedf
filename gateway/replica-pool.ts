// ReplicaPool: per function, its replicas and in-flight counts, least-loaded choice under the hard
// per-replica limit, and the bounded queue that holds calls while the function activates (through
// its Activator, activator.ts) or is busy.
import { functionKey, parseDurationMs, type FunctionRef, type FunctionResource } from "../api/index.js";
import type { Logger } from "pino";
import {
  ActivationQueueFullError,
  ActivationTimeoutError,
  ConcurrencyLimitError,
  QueueBytesExhaustedError,
  QueueTimeoutError,
  type KnownError,
} from "./errors.js";
import type { Clock, Endpoint, EndpointState, ScaleTarget } from "../platform/ports.js";
import { Activator } from "./activator.js";
import { Replica } from "./replica.js";
import { ConcurrencyWindow } from "./stats.js";

/** Annotation by which a function asks that its calls carry the gateway's credential. */
export const INVOKE_AUTH_ANNOTATION = "flint.dev/invoke-auth";

/** What the data path reads from a function's spec; recomputed when the spec changes. */
export interface CallSettings {
  /** Hard limit of calls in flight per replica; 0 means none. */
  readonly concurrency: number;
  /** Deadline for one call once it reaches a replica, in ms. */
  readonly timeoutMs: number;
  /** Largest declared request body, in bytes; larger is refused before the function is woken. */
  readonly maxBodyBytes: number;
  /** Whether calls need the gateway's credential (annotation flint.dev/invoke-auth: required). */
  readonly authRequired: boolean;
}

export function callSettings(fn: FunctionResource): CallSettings {
  return {
    concurrency: fn.spec.scale.concurrency,
    timeoutMs: parseDurationMs(fn.spec.timeout),
    maxBodyBytes: fn.spec.maxBodyBytes,
    authRequired: fn.metadata.annotations?.[INVOKE_AUTH_ANNOTATION] === "required",
  };
}

/** The bounds every pool shares, from the gateway's config. */
export interface PoolLimits {
  /** Calls that may wait per function. */
  readonly queueDepth: number;
  /** How long a call may wait, in ms. */
  readonly activationTimeoutMs: number;
  readonly retryAfterSeconds: number;
  /** How often a starting replica is probed, in ms. */
  readonly probeIntervalMs: number;
  /** Upstream connections per replica when the function has no concurrency limit. */
  readonly maxSocketsPerReplica: number;
}

/**
 * The global budget of bytes that waiting calls may hold. A waiting call's body is not read (the
 * socket is paused by backpressure), so what it holds is bounded and known when it is queued.
 */
export class QueueBudget {
  usedBytes = 0;

  constructor(readonly limitBytes: number) {}

  tryReserve(bytes: number): boolean {
    if (this.usedBytes + bytes > this.limitBytes) return false;
    this.usedBytes += bytes;
    return true;
  }

  release(bytes: number): void {
    this.usedBytes -= bytes;
  }
}

/** A call as the queue sees it: it is handed a replica, or an error, exactly once. */
export interface WaitingCall {
  /**
   * A slot on `replica` is now reserved for the call (release it with `ReplicaPool.release`).
   * `waitedMs` is the time spent queued; `cold` is whether the function had no ready replica then.
   */
  admit(replica: Replica, waitedMs: number, cold: boolean): void;
  reject(error: KnownError): void;
}

/** A call's place in the queue; pass it to `ReplicaPool.cancel` if the caller gives up. */
export interface QueueTicket {
  readonly call: WaitingCall;
  readonly costBytes: number;
  readonly enqueuedMs: number;
  readonly deadlineMs: number;
  readonly cold: boolean;
  prev: QueueTicket | undefined;
  next: QueueTicket | undefined;
  queued: boolean;
}

export interface PoolOptions {
  readonly ref: FunctionRef;
  readonly settings: CallSettings;
  readonly limits: PoolLimits;
  readonly budget: QueueBudget;
  readonly clock: Clock;
  readonly scaleTarget: ScaleTarget;
  readonly logger: Logger;
  /** Told about each activation poke (for metrics). */
  readonly onActivation?: (pool: ReplicaPool) => void;
}

/**
 * One function's replicas and queue. Invariants: a replica in `ready` never has more than
 * `settings.concurrency` calls (when it is > 0); a queued call is served before any later arrival;
 * while calls wait and no replica is ready, exactly one activation poke is outstanding.
 */
export class ReplicaPool {
  readonly ref: FunctionRef;
  readonly key: string;
  readonly window: ConcurrencyWindow;
  settings: CallSettings;
  /** Calls holding a replica slot. */
  inFlight = 0;
  /** Calls waiting in the queue. */
  queueLength = 0;

  private readonly replicas = new Map<string, Replica>();
  /** The replicas in state `ready`, in arrival order: scanned on every call, so kept as an array. */
  private ready: Replica[] = [];
  /** Where the next least-loaded scan starts, so equally loaded replicas take turns. */
  private cursor = 0;
  private head: QueueTicket | undefined;
  private tail: QueueTicket | undefined;
  private cancelExpiry: (() => void) | undefined;
  private readonly activator: Activator;
  private readonly probing = new Set<Replica>();
  private closed = false;

  constructor(private readonly options: PoolOptions) {
    this.ref = options.ref;
    this.key = functionKey(options.ref);
    this.settings = options.settings;
    this.window = new ConcurrencyWindow(options.clock.now());
    const { clock, scaleTarget, logger, onActivation, limits } = options;
    this.activator = new Activator({
      ref: options.ref,
      clock,
      scaleTarget,
      logger,
      activationTimeoutMs: limits.activationTimeoutMs,
      onActivation: onActivation === undefined ? undefined : () => onActivation(this),
    });
  }

  /** Activation pokes sent. */
  get activations(): number {
    return this.activator.sent;
  }

  get readyReplicas(): number {
    return this.ready.length;
  }

  /** Calls admitted and not yet finished (queued + in flight). */
  get active(): number {
    return this.window.level;
  }

  /** Counts a call from admission until `leave`; this is what the concurrency stats measure. */
  enter(): void {
    this.window.admit(this.options.clock.now());
  }

  leave(): void {
    this.window.finish(this.options.clock.now());
  }

  /**
   * Reserves a slot on the least-loaded ready replica with room, or returns undefined (then queue).
   * Calls already waiting go first, so a newcomer never overtakes them.
   */
  tryAcquire(): Replica | undefined {
    return this.head === undefined ? this.pick() : undefined;
  }

  /** Frees the slot a call held on `replica` and gives it to the next waiting call, if any. */
  release(replica: Replica): void {
    replica.inFlight--;
    this.inFlight--;
    if (replica.state === "removed" && replica.inFlight === 0) replica.close();
    if (this.head !== undefined) this.drainQueue();
  }

  /**
   * Queues `call` until a replica has room. Throws (503/429) when the function's queue or the
   * gateway's byte budget is full. The first call to wait at zero ready replicas sends the
   * activation poke, at once.
   */
  enqueue(call: WaitingCall, costBytes: number): QueueTicket {
    const { limits, budget, clock } = this.options;
    const cold = this.ready.length === 0;
    if (this.queueLength >= limits.queueDepth) {
      throw cold
        ? new ActivationQueueFullError(this.key, limits.queueDepth, limits.retryAfterSeconds)
        : new ConcurrencyLimitError(this.key, limits.queueDepth, limits.retryAfterSeconds);
    }
    if (!budget.tryReserve(costBytes))
      throw new QueueBytesExhaustedError(budget.limitBytes, limits.retryAfterSeconds);

    const nowMs = clock.now();
    const ticket: QueueTicket = {
      call,
      costBytes,
      enqueuedMs: nowMs,
      deadlineMs: nowMs + limits.activationTimeoutMs,
      cold,
      prev: this.tail,
      next: undefined,
      queued: true,
    };
    if (this.tail === undefined) this.head = ticket;
    else this.tail.next = ticket;
    this.tail = ticket;
    this.queueLength++;
    this.window.enqueue(nowMs);
    if (cold) this.activator.request(this.queueLength);
    this.armExpiry();
    return ticket;
  }

  /** Takes a call out of the queue (its client went away). Does nothing if it already left. */
  cancel(ticket: QueueTicket): void {
    if (!ticket.queued) return;
    this.unlink(ticket);
  }

  /** Applies a changed spec: a higher concurrency limit lets waiting calls through at once. */
  configure(settings: CallSettings): void {
    this.settings = settings;
    const sockets = this.socketsPerReplica();
    for (const replica of this.replicas.values()) replica.setMaxSockets(sockets);
    this.drainQueue();
  }

  /** Applies the platform's full replica set for the function. */
  update(endpoints: readonly Endpoint[]): void {
    if (this.closed) return;
    const seen = new Set<string>();
    for (const endpoint of endpoints) {
      seen.add(endpoint.id);
      let replica = this.replicas.get(endpoint.id);
      if (replica !== undefined && (replica.host !== endpoint.host || replica.port !== endpoint.port)) {
        this.retire(replica);
        replica = undefined;
      }
      if (replica === undefined) {
        replica = new Replica(
          endpoint.id,
          endpoint.host,
          endpoint.port,
          endpoint.state,
          this.socketsPerReplica(),
        );
        this.replicas.set(endpoint.id, replica);
      }
      this.applyReported(replica, endpoint.state);
    }
    for (const replica of this.replicas.values()) {
      if (!seen.has(replica.id)) this.retire(replica);
    }
    this.afterChange();
  }

  /**
   * The replica failed a connection: take it out of rotation and probe it until it answers again
   * (or the platform removes it). Its calls in flight are not touched.
   */
  markUnreachable(replica: Replica): void {
    if (replica.state !== "ready") return;
    this.options.logger.warn(
      { replica: replica.id },
      "replica unreachable; probing it before sending more calls",
    );
    replica.state = "starting";
    this.afterChange();
  }

  /** Stops serving: every waiting call gets `error`; calls in flight finish, then connections close. */
  close(error: KnownError): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelExpiry?.();
    this.cancelExpiry = undefined;
    while (this.head !== undefined) {
      const ticket = this.head;
      this.unlink(ticket);
      ticket.call.reject(error);
    }
    for (const replica of this.replicas.values()) this.retire(replica);
    this.ready = [];
  }

  /** A read-only view for the management API, tests and `flint up`. */
  snapshot(): PoolSnapshot {
    return {
      function: this.key,
      inFlight: this.inFlight,
      queued: this.queueLength,
      activations: this.activations,
      replicas: [...this.replicas.values()].map((r) => ({ id: r.id, state: r.state, inFlight: r.inFlight })),
    };
  }

  // --- Choosing a replica ------------------------------------------------------------------------

  /**
   * Least loaded among ready replicas under the limit, scanning from a rotating start so ties take
   * turns (a fleet of idle replicas all get traffic, not the first one). O(ready replicas).
   */
  private pick(): Replica | undefined {
    const ready = this.ready;
    const count = ready.length;
    if (count === 0) return undefined;
    const limit = this.settings.concurrency;
    const start = this.cursor < count ? this.cursor : 0;
    this.cursor = start + 1;
    let best: Replica | undefined;
    for (let i = 0; i < count; i++) {
      const replica = ready[(start + i) % count] as Replica;
      if (limit > 0 && replica.inFlight >= limit) continue;
      if (best === undefined || replica.inFlight < best.inFlight) {
        best = replica;
        if (best.inFlight === 0) break;
      }
    }
    if (best !== undefined) {
      best.inFlight++;
      this.inFlight++;
    }
    return best;
  }

  private drainQueue(): void {
    while (this.head !== undefined) {
      const replica = this.pick();
      if (replica === undefined) return;
      const ticket = this.head;
      this.unlink(ticket);
      ticket.call.admit(replica, this.options.clock.now() - ticket.enqueuedMs, ticket.cold);
    }
  }

  private unlink(ticket: QueueTicket): void {
    ticket.queued = false;
    if (ticket.prev === undefined) this.head = ticket.next;
    else ticket.prev.next = ticket.next;
    if (ticket.next === undefined) this.tail = ticket.prev;
    else ticket.next.prev = ticket.prev;
    ticket.prev = ticket.next = undefined;
    this.queueLength--;
    this.options.budget.release(ticket.costBytes);
    this.window.dequeue(this.options.clock.now());
  }

  // --- Deadlines ---------------------------------------------------------------------------------

  /**
   * Every call waits the same time at most, so deadlines run in queue order and one timer, set for
   * the head, covers the whole queue.
   */
  private armExpiry(): void {
    if (this.cancelExpiry !== undefined || this.head === undefined) return;
    this.cancelExpiry = this.options.clock.setTimer(
      this.expire,
      this.head.deadlineMs - this.options.clock.now(),
    );
  }

  private readonly expire = (): void => {
    this.cancelExpiry = undefined;
    const { clock, limits } = this.options;
    const nowMs = clock.now();
    const cold = this.ready.length === 0;
    while (this.head !== undefined && this.head.deadlineMs <= nowMs) {
      const ticket = this.head;
      this.unlink(ticket);
      ticket.call.reject(
        cold
          ? new ActivationTimeoutError(this.key, limits.activationTimeoutMs, limits.retryAfterSeconds)
          : new QueueTimeoutError(this.key, limits.activationTimeoutMs, limits.retryAfterSeconds),
      );
    }
    // Calls still waiting (or the next to arrive) ask again rather than trust a lost poke.
    if (cold) this.activator.checkOverdue(this.queueLength);
    this.armExpiry();
  };

  // --- Replica states and probes -----------------------------------------------------------------

  private applyReported(replica: Replica, reported: EndpointState): void {
    const previous = replica.reported;
    replica.reported = reported;
    if (replica.state === "removed") return;
    if (reported === "starting" && replica.state === "ready" && previous === "starting") {
      // Our probe saw it ready before the platform did: keep using it.
      return;
    }
    replica.state = reported;
  }

  private retire(replica: Replica): void {
    replica.state = "removed";
    this.replicas.delete(replica.id);
    this.probing.delete(replica);
    if (replica.inFlight === 0) replica.close();
  }

  /** Rebuilds the ready list, starts probes, and either serves the queue or asks for activation. */
  private afterChange(): void {
    this.ready = [...this.replicas.values()].filter((replica) => replica.state === "ready");
    for (const replica of this.replicas.values()) {
      if (replica.state === "starting" && !this.probing.has(replica)) this.startProbing(replica);
    }
    if (this.ready.length > 0) {
      this.activator.satisfied();
      this.drainQueue();
    } else if (this.head !== undefined) {
      this.activator.request(this.queueLength);
    }
  }

  private startProbing(replica: Replica): void {
    this.probing.add(replica);
    const { clock, limits, logger } = this.options;
    const attempt = (): void => {
      if (!this.probing.has(replica) || replica.state !== "starting") {
        this.probing.delete(replica);
        return;
      }
      const timeoutMs = Math.max(1000, limits.probeIntervalMs);
      replica.probe(timeoutMs).then(
        (ready) => {
          if (!this.probing.has(replica) || replica.state !== "starting") {
            this.probing.delete(replica);
          } else if (ready) {
            this.probing.delete(replica);
            logger.info({ replica: replica.id }, "replica answered its readiness probe");
            replica.state = "ready";
            this.afterChange();
          } else {
            clock.setTimer(attempt, limits.probeIntervalMs);
          }
        },
        (error: unknown) => logger.error({ err: error }, "probe failed unexpectedly"),
      );
    };
    attempt();
  }

  private socketsPerReplica(): number {
    const { concurrency } = this.settings;
    return concurrency > 0 ? concurrency : this.options.limits.maxSocketsPerReplica;
  }
}

export interface PoolSnapshot {
  readonly function: string;
  readonly inFlight: number;
  readonly queued: number;
  readonly activations: number;
  readonly replicas: readonly { readonly id: string; readonly state: string; readonly inFlight: number }[];
}
