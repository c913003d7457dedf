// The consumer of one function's async calls, inside the gateway: pulls calls only while the function
// has room, runs each through the function's ReplicaPool, and records, retries, dead-letters and
// schedules the callback of each one.
import type { Logger } from "pino";
import { functionKey, parseDurationMs, type FunctionRef, type FunctionResource } from "../../api/index.js";
import type { ReplicaPool } from "../replica-pool.js";
import type { FunctionMetrics } from "../metrics.js";
import type { Clock } from "../../platform/ports.js";
import { attemptCall, type AttemptOutcome } from "./attempt.js";
import type { AsyncMetrics } from "./metrics.js";
import { redactedUrl } from "./call-access.js";
import {
  TERMINAL_STATES,
  type AttemptRecord,
  type CallQueue,
  type CallRecord,
  type CallRecords,
  type Delivery,
  type DeliveryBatch,
} from "./ports.js";
import {
  backoffMs,
  isRetryableStatus,
  parseRetryAfterMs,
  type RetryOn,
  type RetrySettings,
} from "./retry.js";

/** Attempts kept in a call's record and dead letter; older ones are dropped. */
export const MAX_HISTORY = 20;
/** Longest wait of one fetch, in ms: also how soon a stopped consumer notices. */
const FETCH_WAIT_MS = 2000;
/** While a consumer has no room, how often it looks again (replicas may have become ready), in ms. */
const ROOM_POLL_MS = 100;
/** Delay before a call is tried again when the records or the queue failed around it, in ms. */
const INFRASTRUCTURE_RETRY_MS = 1000;

/** What every function's consumer shares. */
export interface ConsumerDeps {
  readonly queue: CallQueue;
  readonly records: CallRecords;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: AsyncMetrics;
  readonly random: () => number;
  /** Async calls one function may have in flight (or waiting for a replica) in this gateway. */
  readonly maxInFlight: number;
  readonly retryOn: RetryOn;
  /** Most response body kept for the callback, in bytes. */
  readonly resultMaxBytes: number;
  /** FLINT_ACTIVATION_TIMEOUT in ms: an attempt may wait this long for a replica before it runs. */
  readonly activationTimeoutMs: number;
}

/** What a consumer reads from its function's spec. */
interface AsyncSettings extends RetrySettings {
  readonly deadLetter: boolean;
  readonly ackWaitMs: number;
}

function asyncSettings(fn: FunctionResource, activationTimeoutMs: number): AsyncSettings {
  const { async: spec, timeout } = fn.spec;
  return {
    maxRetries: spec.maxRetries,
    initialBackoffMs: parseDurationMs(spec.backoff.initial),
    maxBackoffMs: parseDurationMs(spec.backoff.max),
    deadLetter: spec.deadLetter,
    // Longer than any attempt can take (wait for a replica, then run to the timeout), so the queue
    // only redelivers when this gateway is gone; long attempts also send "in progress" as they go.
    ackWaitMs: parseDurationMs(timeout) + activationTimeoutMs + 10_000,
  };
}

export class FunctionConsumer {
  readonly key: string;
  /** Calls taken from the queue and not yet ended. */
  inFlight = 0;
  /** The backlog as last read from the queue, for the autoscaler and metrics. */
  queued = 0;
  private settings: AsyncSettings;
  private consumerReady = false;
  private stopped = false;
  private batch: DeliveryBatch | undefined;
  private wake: (() => void) | undefined;
  private readonly logger: Logger;
  private running: Promise<void> | undefined;
  private readonly idle: Array<() => void> = [];

  constructor(
    private readonly ref: FunctionRef,
    fn: FunctionResource,
    private readonly pool: ReplicaPool,
    private readonly functionMetrics: FunctionMetrics,
    private readonly deps: ConsumerDeps,
  ) {
    this.key = functionKey(ref);
    this.settings = asyncSettings(fn, deps.activationTimeoutMs);
    this.logger = deps.logger.child({ function: this.key, component: "async" });
  }

  start(): void {
    this.running ??= this.run();
  }

  /** Takes a changed spec: retry settings at once, a new ack wait on the next fetch. */
  configure(fn: FunctionResource): void {
    const next = asyncSettings(fn, this.deps.activationTimeoutMs);
    if (next.ackWaitMs !== this.settings.ackWaitMs) this.consumerReady = false;
    this.settings = next;
  }

  /**
   * Stops taking calls and waits up to `deadlineMs` for those in flight to end. Calls still running
   * then are left unacknowledged: the queue gives them to another gateway after the ack wait.
   */
  async stop(deadlineMs: number): Promise<void> {
    this.stopped = true;
    this.batch?.stop();
    this.wake?.();
    await this.running;
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => {
      const cancel = this.deps.clock.setTimer(resolve, deadlineMs);
      this.idle.push(() => {
        cancel();
        resolve();
      });
    });
  }

  /** Reads the backlog from the queue (for metrics and the autoscaler). */
  async refreshDepth(): Promise<void> {
    if (!this.consumerReady) return;
    const depth = await this.deps.queue.depth(this.ref);
    this.queued = depth.pending;
    this.deps.metrics.queueDepth.labels(this.key).set(depth.pending);
    this.deps.metrics.oldestAge.labels(this.key).set(depth.oldestAgeMs / 1000);
  }

  /**
   * The most calls this consumer may hold at once now. At zero ready replicas: one, so the function
   * is activated without a crowd of calls behind it. Otherwise the function's slots, or the gateway's
   * per-function bound when the function sets no limit (and never more than that bound).
   */
  capacity(): number {
    const { pool } = this;
    if (pool.readyReplicas === 0) return 1;
    const { concurrency } = pool.settings;
    const limit = this.deps.maxInFlight;
    return concurrency === 0 ? limit : Math.min(limit, pool.readyReplicas * concurrency);
  }

  /** Calls this consumer may take now: its capacity less what it holds, within the slots sync calls leave free. */
  room(): number {
    const own = this.capacity() - this.inFlight;
    const { pool } = this;
    const { concurrency } = pool.settings;
    if (pool.readyReplicas === 0 || concurrency === 0) return Math.max(0, own);
    const free = pool.readyReplicas * concurrency - pool.inFlight - pool.queueLength;
    return Math.max(0, Math.min(free, own));
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      const room = this.room();
      // While calls are running, wait until a quarter of the room is free rather than pulling one
      // call per round trip: fewer, larger pulls drain a backlog faster at the same bound.
      const worthPulling = this.inFlight === 0 || room >= Math.max(1, Math.floor(this.capacity() / 4));
      if (room <= 0 || !worthPulling) {
        await this.pause(ROOM_POLL_MS);
        continue;
      }
      try {
        if (!this.consumerReady) {
          await this.deps.queue.ensureConsumer(this.ref, { ackWaitMs: this.settings.ackWaitMs });
          this.consumerReady = true;
        }
        this.batch = await this.deps.queue.fetch(this.ref, room, FETCH_WAIT_MS);
        if (this.stopped) this.batch.stop();
        for await (const delivery of this.batch) void this.handle(delivery);
        failures = 0;
      } catch (error) {
        failures++;
        const delayMs = Math.min(5000, 100 * 2 ** Math.min(failures, 6));
        if (failures === 1 || failures % 20 === 0) {
          this.logger.warn(
            { err: errorText(error), failures, retryInMs: delayMs },
            "cannot take async calls",
          );
        }
        await this.pause(delayMs);
      } finally {
        this.batch = undefined;
      }
    }
  }

  private pause(delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      const cancel = this.deps.clock.setTimer(() => {
        this.wake = undefined;
        resolve();
      }, delayMs);
      this.wake = () => {
        cancel();
        this.wake = undefined;
        resolve();
      };
    });
  }

  private async handle(delivery: Delivery): Promise<void> {
    this.inFlight++;
    try {
      await this.process(delivery);
    } catch (error) {
      // The records or the queue failed around the attempt: nothing is lost, the call comes back.
      this.logger.warn({ callId: delivery.call.callId, err: errorText(error) }, "async call deferred");
      delivery.retry(INFRASTRUCTURE_RETRY_MS);
    } finally {
      this.inFlight--;
      this.wake?.();
      if (this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  // eslint-disable-next-line complexity -- one async attempt from delivery to ack/nak/dead letter: each outcome is a branch, kept together so the ack rules read in one place
  private async process(delivery: Delivery): Promise<void> {
    const { call } = delivery;
    const { records, queue, clock, metrics } = this.deps;
    // One round trip: mark the call running and learn what the record said before.
    const startedAtMs = clock.now();
    const running: CallRecord = {
      callId: call.callId,
      function: this.key,
      state: "running",
      attempts: 1,
      acceptedAtMs: call.acceptedAtMs,
      updatedAtMs: startedAtMs,
      history: [],
      ...(call.callbackUrl === undefined ? {} : { callbackUrl: redactedUrl(call.callbackUrl) }),
    };
    const existing = await records.swap(running);
    if (existing !== undefined && TERMINAL_STATES.has(existing.state)) {
      // It ended, but the consumer that ended it died before acknowledging: do not run it again.
      await records.put(existing);
      metrics.count("duplicate", this.key);
      await delivery.ack();
      return;
    }
    const history = existing?.history ?? [];
    const base: Omit<CallRecord, "state" | "updatedAtMs"> = {
      ...running,
      attempts: history.length + 1,
      history,
    };
    if (history.length > 0) await records.put({ ...base, state: "running", updatedAtMs: startedAtMs });
    metrics.count("started", this.key);

    const outcome = await this.attempt(delivery);
    const finishedAtMs = clock.now();
    const attempt: AttemptRecord = {
      attempt: history.length + 1,
      startedAtMs,
      finishedAtMs,
      status: outcome.status,
      ...(outcome.error === undefined ? {} : { error: outcome.error }),
    };
    const record = {
      ...base,
      history: [...history, attempt].slice(-MAX_HISTORY),
      status: outcome.status,
      updatedAtMs: finishedAtMs,
      ...(outcome.error === undefined ? {} : { error: outcome.error }),
    };

    // The function not answering is always worth another try; its answers are retried by status.
    const retryable = outcome.error !== undefined || isRetryableStatus(outcome.status, this.deps.retryOn);
    if (retryable && delivery.attempt <= this.settings.maxRetries) {
      const delayMs = backoffMs(
        delivery.attempt,
        this.settings,
        this.deps.random,
        parseRetryAfterMs(outcome.retryAfter, Date.now()),
      );
      await records.put({ ...record, state: "queued" });
      delivery.retry(delayMs);
      metrics.count("retried", this.key);
      this.logger.info(
        { callId: call.callId, attempt: delivery.attempt, status: outcome.status, retryInMs: delayMs },
        "async attempt failed; retrying",
      );
      return;
    }

    const state = retryable ? "dead" : outcome.status < 400 ? "succeeded" : "failed";
    // Order matters for at-least-once: the dead letter and the callback are stored before the record
    // says the call ended, and the record before the queue forgets the call.
    if (state === "dead" && this.settings.deadLetter) {
      await queue.deadLetter({ call, attempts: record.history, deadAtMs: finishedAtMs });
    }
    if (call.callbackUrl !== undefined) {
      await queue.publishCallback({
        callId: call.callId,
        function: this.ref,
        url: call.callbackUrl,
        state,
        status: outcome.status,
        headers: outcome.headers,
        body: outcome.body,
        attempts: record.attempts,
      });
    }
    await records.put({
      ...record,
      state,
      finishedAtMs,
      ...(call.callbackUrl === undefined ? {} : { callback: "pending" as const }),
    });
    await delivery.ack();
    metrics.count(state === "dead" ? "dead_lettered" : state, this.key);
    if (state !== "succeeded") {
      this.logger.warn(
        { callId: call.callId, attempts: record.attempts, status: outcome.status, state },
        state === "dead" ? "async call dead-lettered" : "async call failed",
      );
    }
  }

  /** One attempt, telling the queue it is still in progress while it runs. */
  private async attempt(delivery: Delivery): Promise<AttemptOutcome> {
    const { clock } = this.deps;
    let cancel: (() => void) | undefined;
    const beat = (): void => {
      delivery.inProgress();
      cancel = clock.setTimer(beat, this.settings.ackWaitMs / 3);
    };
    cancel = clock.setTimer(beat, this.settings.ackWaitMs / 3);
    try {
      return await attemptCall(delivery.call, {
        pool: this.pool,
        metrics: this.functionMetrics,
        clock,
        resultMaxBytes: this.deps.resultMaxBytes,
        attempt: delivery.attempt,
      });
    } finally {
      cancel();
    }
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
