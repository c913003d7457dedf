// The interfaces async calls are built on: a durable queue of calls (NATS JetStream, or memory for
// `flint up`) and a store of call records and idempotency keys (Redis, or memory).
import type { CallRecord, CallState, DeadLetterEntry, FunctionRef } from "../../api/index.js";

// What GET /async-function/calls/:id and the dead-letter routes send is defined with the rest of
// the management API's wire types (api/management.ts); the records are stored in the same shape.
export type { AttemptRecord, CallRecord, CallState } from "../../api/index.js";

/** One async call as it was accepted: everything needed to send it to the function later. */
export interface QueuedCall {
  readonly callId: string;
  readonly function: FunctionRef;
  readonly method: string;
  /** Path and query the replica sees, as for a sync call ("/" at least). */
  readonly path: string;
  /** Headers to forward, [name, value, name, value, ...]: hop-by-hop removed, X-Forwarded-* set. */
  readonly headers: readonly string[];
  readonly body: Uint8Array;
  /** Where the result is POSTed, if the caller asked (X-Callback-Url). */
  readonly callbackUrl: string | undefined;
  /** When the gateway accepted the call, epoch ms. */
  readonly acceptedAtMs: number;
}

/** A call handed to a consumer. Exactly one of ack, retry and deadLetter ends it. */
export interface Delivery {
  readonly call: QueuedCall;
  /** 1 for the first attempt; counts every delivery, including ones a crashed consumer never finished. */
  readonly attempt: number;
  /** Done (succeeded, failed for good, or dead-lettered): the queue forgets the call. */
  ack(): Promise<void>;
  /** Deliver it again after `delayMs`. */
  retry(delayMs: number): void;
  /** Still working on it: extends the time before the queue assumes the consumer died. */
  inProgress(): void;
}

/** Calls handed out by `CallQueue.fetch`; `stop` ends the wait early. */
export interface DeliveryBatch extends AsyncIterable<Delivery> {
  stop(): void;
}

/**
 * A dead-lettered call: the call and why it died. The management API lists it as a DeadLetterEntry
 * (the call's fields without its body).
 */
export interface DeadLetter extends Pick<DeadLetterEntry, "id" | "attempts" | "deadAtMs"> {
  readonly call: QueuedCall;
}

/** Counts of a function's async backlog. */
export interface QueueDepth {
  /** Calls accepted and not yet finished, including those being worked on. */
  readonly pending: number;
  /** Age of the oldest of them in ms, 0 when there is none. */
  readonly oldestAgeMs: number;
}

/** Per-function consumer settings. */
export interface ConsumerSettings {
  /**
   * How long a delivered call may go without `ack`/`retry`/`inProgress` before the queue delivers it
   * again, in ms: longer than the function's timeout plus the activation timeout.
   */
  readonly ackWaitMs: number;
}

/** The durable queue of async calls. Every method rejects with QueueUnavailableError when it is down. */
export interface CallQueue {
  /** Resolves once the call is stored durably; a repeated call id within minutes is stored once. */
  publish(call: QueuedCall): Promise<void>;
  /** The largest body the queue can store (the server's message size limit less room for headers). */
  maxBodyBytes(): number;
  /** Makes sure the function's consumer exists with these settings. */
  ensureConsumer(ref: FunctionRef, settings: ConsumerSettings): Promise<void>;
  /** Up to `max` calls for `ref`, each as soon as it is available, waiting at most `waitMs` in all. */
  fetch(ref: FunctionRef, max: number, waitMs: number): Promise<DeliveryBatch>;
  depth(ref: FunctionRef): Promise<QueueDepth>;

  /** Stores a call that ran out of attempts. */
  deadLetter(letter: Omit<DeadLetter, "id">): Promise<void>;
  /** Oldest first, up to `limit`; all functions when `ref` is undefined. */
  listDead(ref: FunctionRef | undefined, limit: number): Promise<DeadLetter[]>;
  /**
   * Queues dead letters again (the one with `id`, or all of `ref`'s, or all) and removes them;
   * `before` runs for each letter just before it is queued. Returns how many were queued.
   */
  redrive(
    ref: FunctionRef | undefined,
    id: string | undefined,
    before: (letter: DeadLetter) => Promise<void>,
  ): Promise<number>;
  /** Removes dead letters (all of `ref`'s, or all); returns how many. */
  purgeDead(ref: FunctionRef | undefined): Promise<number>;

  /** A result to POST to a callback URL, stored durably and retried by the callback sender. */
  publishCallback(callback: CallbackJob): Promise<void>;
  fetchCallbacks(max: number, waitMs: number): Promise<CallbackBatch>;

  close(): Promise<void>;
}

/** What a callback receiver is sent. */
export interface CallbackJob {
  readonly callId: string;
  readonly function: FunctionRef;
  readonly url: string;
  readonly state: "succeeded" | "failed" | "dead";
  /** The function's response status, or the gateway's error status for the last attempt. */
  readonly status: number;
  readonly headers: readonly string[];
  readonly body: Uint8Array;
  readonly attempts: number;
}

export interface CallbackDelivery {
  readonly job: CallbackJob;
  readonly attempt: number;
  ack(): Promise<void>;
  retry(delayMs: number): void;
}

export interface CallbackBatch extends AsyncIterable<CallbackDelivery> {
  stop(): void;
}

/** Who holds an Idempotency-Key: the call, and a digest of its method, path and body. */
export interface IdempotencyClaim {
  readonly callId: string;
  /** Undefined for a key stored before fingerprints were kept: it matches any request. */
  readonly fingerprint: string | undefined;
}

/** The states a call does not leave. */
export const TERMINAL_STATES: ReadonlySet<CallState> = new Set(["succeeded", "failed", "dead"]);

/** Call records and idempotency keys. Every method rejects with RecordsUnavailableError when it is down. */
export interface CallRecords {
  /**
   * Claims `key` for `claim.callId`: resolves undefined if it was free (now taken), or the claim
   * that holds it. Keys expire after the configured TTL.
   */
  claimIdempotencyKey(
    scope: string,
    key: string,
    claim: IdempotencyClaim,
  ): Promise<IdempotencyClaim | undefined>;
  /** Frees a key claimed by a call that was then not accepted. */
  releaseIdempotencyKey(scope: string, key: string): Promise<void>;
  /** Stores the first record of a new call; false (and nothing written) if its call id exists. */
  create(record: CallRecord): Promise<boolean>;
  put(record: CallRecord): Promise<void>;
  /** Stores `record` and returns the one it replaced, in one step. */
  swap(record: CallRecord): Promise<CallRecord | undefined>;
  get(callId: string): Promise<CallRecord | undefined>;
  /** Removes a record of a call that was not accepted after all. */
  delete(callId: string): Promise<void>;
  close(): Promise<void>;
}
