// In-memory call queue and call records: what `flint up` uses when NATS_URL / REDIS_URL are not set.
// Same semantics as JetStream and Redis (redelivery after the ack wait, delayed retries, dead letters,
// TTLs), but nothing survives the process: a product feature for one laptop, not a durable queue.
import { functionKey, type FunctionRef } from "../../api/index.js";
import type { Clock } from "../../platform/ports.js";
import { AsyncQueueFullError } from "../errors.js";
import type {
  CallQueue,
  CallRecord,
  CallRecords,
  CallbackBatch,
  CallbackDelivery,
  CallbackJob,
  ConsumerSettings,
  DeadLetter,
  Delivery,
  DeliveryBatch,
  IdempotencyClaim,
  QueueDepth,
  QueuedCall,
} from "./ports.js";

/** Ids, times and object headers of one queued entry, beside its body and headers. */
const ENTRY_OVERHEAD_BYTES = 512;
/** What a refused call is told to wait, in seconds: the queue drains as calls finish. */
const RETRY_AFTER_SECONDS = 1;

interface Entry<T> {
  readonly item: T;
  readonly enqueuedMs: number;
  deliveries: number;
  /** Cancels the redelivery timer of a delivered entry. */
  cancelRedelivery: (() => void) | undefined;
  done: boolean;
}

/** A work queue with at-least-once delivery: an entry is handed out until it is acknowledged. */
class WorkQueue<T> {
  private readonly available: Entry<T>[] = [];
  private readonly waiters = new Set<() => void>();
  /** Entries not yet acknowledged (available, delayed or delivered). */
  pending = 0;
  private readonly entries = new Set<Entry<T>>();

  constructor(
    private readonly clock: Clock,
    public ackWaitMs: number,
  ) {}

  push(item: T): void {
    const entry: Entry<T> = {
      item,
      enqueuedMs: this.clock.now(),
      deliveries: 0,
      cancelRedelivery: undefined,
      done: false,
    };
    this.entries.add(entry);
    this.pending++;
    this.makeAvailable(entry);
  }

  oldestMs(): number | undefined {
    let oldest: number | undefined;
    for (const entry of this.entries) oldest = Math.min(oldest ?? entry.enqueuedMs, entry.enqueuedMs);
    return oldest;
  }

  /** Hands out up to `max` entries as they become available, for at most `waitMs`. */
  take<D>(max: number, waitMs: number, wrap: (entry: Entry<T>) => D): AsyncIterable<D> & { stop(): void } {
    let stopped = false;
    let wake: (() => void) | undefined;
    const cancel = this.clock.setTimer(() => {
      stopped = true;
      wake?.();
    }, waitMs);
    const stop = (): void => {
      stopped = true;
      cancel();
      wake?.();
    };
    const next = async (): Promise<Entry<T> | undefined> => {
      while (!stopped) {
        const entry = this.available.shift();
        if (entry !== undefined) return entry;
        await new Promise<void>((resolve) => {
          wake = resolve;
          this.waiters.add(resolve);
        });
        this.waiters.delete(wake as () => void);
        wake = undefined;
      }
      return undefined;
    };
    const deliver = (entry: Entry<T>): D => {
      entry.deliveries++;
      entry.cancelRedelivery = this.clock.setTimer(() => this.redeliver(entry), this.ackWaitMs);
      return wrap(entry);
    };
    return {
      stop,
      async *[Symbol.asyncIterator]() {
        for (let given = 0; given < max; given++) {
          const entry = await next();
          if (entry === undefined) break;
          yield deliver(entry);
        }
        cancel();
      },
    };
  }

  /** Ends an entry; false if it had already ended. */
  ack(entry: Entry<T>): boolean {
    if (entry.done) return false;
    entry.done = true;
    entry.cancelRedelivery?.();
    this.entries.delete(entry);
    this.pending--;
    return true;
  }

  retry(entry: Entry<T>, delayMs: number): void {
    if (entry.done) return;
    entry.cancelRedelivery?.();
    entry.cancelRedelivery = this.clock.setTimer(() => this.redeliver(entry), delayMs);
  }

  working(entry: Entry<T>): void {
    if (entry.done) return;
    entry.cancelRedelivery?.();
    entry.cancelRedelivery = this.clock.setTimer(() => this.redeliver(entry), this.ackWaitMs);
  }

  private redeliver(entry: Entry<T>): void {
    entry.cancelRedelivery = undefined;
    if (!entry.done) this.makeAvailable(entry);
  }

  private makeAvailable(entry: Entry<T>): void {
    this.available.push(entry);
    for (const waiter of this.waiters) waiter();
    this.waiters.clear();
  }
}

/**
 * The call queue of `flint up`: per-function work queues, dead letters and callbacks in memory,
 * together bounded by `maxBytes`. A new call past the bound is refused; a dead letter or a callback
 * of a call already taken is always kept (refusing it would lose an accepted call), so the bound
 * holds for intake and is passed by at most what calls in flight turn into.
 */
export class MemoryCallQueue implements CallQueue {
  private readonly queues = new Map<string, WorkQueue<QueuedCall>>();
  private readonly dead: DeadLetter[] = [];
  private readonly callbacks: WorkQueue<CallbackJob>;
  private nextDeadId = 1;
  /** Bytes held by queued calls, dead letters and callbacks. */
  private heldBytes = 0;

  constructor(
    private readonly clock: Clock,
    private readonly maxBytes: number = Number.MAX_SAFE_INTEGER,
  ) {
    this.callbacks = new WorkQueue(clock, 60_000);
  }

  /** What the queue holds now, in bytes (calls, dead letters, callbacks). */
  get usedBytes(): number {
    return this.heldBytes;
  }

  publish(call: QueuedCall): Promise<void> {
    const size = callBytes(call);
    if (this.heldBytes + size > this.maxBytes) {
      return Promise.reject(new AsyncQueueFullError(this.maxBytes, RETRY_AFTER_SECONDS));
    }
    this.heldBytes += size;
    this.queueOf(call.function).push(call);
    return Promise.resolve();
  }

  maxBodyBytes(): number {
    return Number.MAX_SAFE_INTEGER;
  }

  ensureConsumer(ref: FunctionRef, settings: ConsumerSettings): Promise<void> {
    this.queueOf(ref).ackWaitMs = settings.ackWaitMs;
    return Promise.resolve();
  }

  fetch(ref: FunctionRef, max: number, waitMs: number): Promise<DeliveryBatch> {
    const queue = this.queueOf(ref);
    return Promise.resolve(
      queue.take(max, waitMs, (entry): Delivery => ({
        call: entry.item,
        attempt: entry.deliveries,
        ack: () => {
          if (queue.ack(entry)) this.heldBytes -= callBytes(entry.item);
          return Promise.resolve();
        },
        retry: (delayMs) => queue.retry(entry, delayMs),
        inProgress: () => queue.working(entry),
      })),
    );
  }

  depth(ref: FunctionRef): Promise<QueueDepth> {
    const queue = this.queueOf(ref);
    const oldest = queue.oldestMs();
    return Promise.resolve({
      pending: queue.pending,
      oldestAgeMs: oldest === undefined ? 0 : this.clock.now() - oldest,
    });
  }

  deadLetter(letter: Omit<DeadLetter, "id">): Promise<void> {
    this.heldBytes += callBytes(letter.call);
    this.dead.push({ ...letter, id: String(this.nextDeadId++) });
    return Promise.resolve();
  }

  listDead(ref: FunctionRef | undefined, limit: number): Promise<DeadLetter[]> {
    return Promise.resolve(this.deadOf(ref).slice(0, limit));
  }

  async redrive(
    ref: FunctionRef | undefined,
    id: string | undefined,
    before: (letter: DeadLetter) => Promise<void>,
  ): Promise<number> {
    const chosen = this.deadOf(ref).filter((letter) => id === undefined || letter.id === id);
    for (const letter of chosen) {
      await before(letter);
      // Its bytes move from the dead letters to the queue.
      this.dead.splice(this.dead.indexOf(letter), 1);
      this.queueOf(letter.call.function).push(letter.call);
    }
    return chosen.length;
  }

  purgeDead(ref: FunctionRef | undefined): Promise<number> {
    const chosen = this.deadOf(ref);
    for (const letter of chosen) {
      this.dead.splice(this.dead.indexOf(letter), 1);
      this.heldBytes -= callBytes(letter.call);
    }
    return Promise.resolve(chosen.length);
  }

  publishCallback(job: CallbackJob): Promise<void> {
    this.heldBytes += callbackBytes(job);
    this.callbacks.push(job);
    return Promise.resolve();
  }

  fetchCallbacks(max: number, waitMs: number): Promise<CallbackBatch> {
    const queue = this.callbacks;
    return Promise.resolve(
      queue.take(max, waitMs, (entry): CallbackDelivery => ({
        job: entry.item,
        attempt: entry.deliveries,
        ack: () => {
          if (queue.ack(entry)) this.heldBytes -= callbackBytes(entry.item);
          return Promise.resolve();
        },
        retry: (delayMs) => queue.retry(entry, delayMs),
      })),
    );
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private deadOf(ref: FunctionRef | undefined): DeadLetter[] {
    if (ref === undefined) return [...this.dead];
    const key = functionKey(ref);
    return this.dead.filter((letter) => functionKey(letter.call.function) === key);
  }

  private queueOf(ref: FunctionRef): WorkQueue<QueuedCall> {
    const key = functionKey(ref);
    let queue = this.queues.get(key);
    if (queue === undefined) {
      queue = new WorkQueue(this.clock, 60_000);
      this.queues.set(key, queue);
    }
    return queue;
  }
}

/** What a call costs the queue: its body, headers and path, and a fixed allowance for the rest. */
function callBytes(call: QueuedCall): number {
  let bytes = ENTRY_OVERHEAD_BYTES + call.body.byteLength + call.path.length;
  for (const text of call.headers) bytes += text.length;
  return bytes;
}

function callbackBytes(job: CallbackJob): number {
  let bytes = ENTRY_OVERHEAD_BYTES + job.body.byteLength + job.url.length;
  for (const text of job.headers) bytes += text.length;
  return bytes;
}

/** Call records and idempotency keys in maps, each entry expiring after its TTL. */
export class MemoryCallRecords implements CallRecords {
  private readonly records = new Map<string, { record: CallRecord; expiresMs: number }>();
  private readonly keys = new Map<string, { claim: IdempotencyClaim; expiresMs: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly recordTtlMs: number,
    private readonly idempotencyTtlMs: number,
  ) {}

  claimIdempotencyKey(
    scope: string,
    key: string,
    claim: IdempotencyClaim,
  ): Promise<IdempotencyClaim | undefined> {
    const id = `${scope}\n${key}`;
    const held = this.keys.get(id);
    if (held !== undefined && held.expiresMs > this.clock.now()) return Promise.resolve(held.claim);
    this.keys.set(id, { claim, expiresMs: this.clock.now() + this.idempotencyTtlMs });
    return Promise.resolve(undefined);
  }

  releaseIdempotencyKey(scope: string, key: string): Promise<void> {
    this.keys.delete(`${scope}\n${key}`);
    return Promise.resolve();
  }

  async create(record: CallRecord): Promise<boolean> {
    if ((await this.get(record.callId)) !== undefined) return false;
    await this.put(record);
    return true;
  }

  put(record: CallRecord): Promise<void> {
    this.sweep();
    this.records.set(record.callId, { record, expiresMs: this.clock.now() + this.recordTtlMs });
    return Promise.resolve();
  }

  async swap(record: CallRecord): Promise<CallRecord | undefined> {
    const previous = await this.get(record.callId);
    await this.put(record);
    return previous;
  }

  get(callId: string): Promise<CallRecord | undefined> {
    const held = this.records.get(callId);
    if (held === undefined || held.expiresMs <= this.clock.now()) return Promise.resolve(undefined);
    return Promise.resolve(held.record);
  }

  delete(callId: string): Promise<void> {
    this.records.delete(callId);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Drops expired entries, a few per write, so memory stays bounded by the TTL. */
  private sweep(): void {
    const nowMs = this.clock.now();
    let checked = 0;
    for (const [id, held] of this.records) {
      if (++checked > 8) break;
      if (held.expiresMs <= nowMs) this.records.delete(id);
    }
    checked = 0;
    for (const [id, held] of this.keys) {
      if (++checked > 8) break;
      if (held.expiresMs <= nowMs) this.keys.delete(id);
    }
  }
}
