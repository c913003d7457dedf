// What every call through a function's ReplicaPool shares: take a slot on a replica now, or wait in
// the pool's queue (which may activate the function), and then be sent; or be refused.
import type { QueueTicket, ReplicaPool, WaitingCall } from "./replica-pool.js";
import type { KnownError } from "./errors.js";
import type { Replica } from "./replica.js";

export abstract class PooledCall implements WaitingCall {
  /** The replica whose slot this call holds, while it holds one. */
  protected replica: Replica | undefined;
  protected ticket: QueueTicket | undefined;
  /** How long the call waited in the queue, in ms (0 if it never did). */
  protected waitedMs = 0;
  /** Set when the call waited for the function to get its first ready replica (a cold start). */
  protected coldStartMs: number | undefined;

  constructor(protected readonly pool: ReplicaPool) {}

  /** Counts a cold start (the pool's metrics belong to the caller). */
  protected abstract observeColdStart(waitedMs: number): void;
  /** Sends the call to `replica`, whose slot it now holds. */
  protected abstract send(replica: Replica): void;
  /** Ends the call with `error` (or success when undefined); must cancel `ticket` and release `replica`. */
  protected abstract finish(error: unknown): void;
  /** What waiting costs against the gateway's queue byte budget. */
  protected abstract queueCostBytes(): number;

  /** Takes a free slot now, or queues; either way ends in `send` or `finish`. */
  protected acquire(): void {
    const replica = this.pool.tryAcquire();
    if (replica !== undefined) return this.send(replica);
    try {
      this.ticket = this.pool.enqueue(this, this.queueCostBytes());
    } catch (error) {
      this.finish(error);
    }
  }

  admit(replica: Replica, waitedMs: number, cold: boolean): void {
    this.ticket = undefined;
    this.waitedMs = waitedMs;
    if (cold) {
      this.coldStartMs = waitedMs;
      this.observeColdStart(waitedMs);
    }
    this.send(replica);
  }

  reject(error: KnownError): void {
    this.ticket = undefined;
    this.finish(error);
  }

  /** Gives up this replica's slot and tries again (another replica, or the queue). */
  protected retryElsewhere(): void {
    const replica = this.replica as Replica;
    this.replica = undefined;
    this.pool.release(replica);
    this.acquire();
  }
}
