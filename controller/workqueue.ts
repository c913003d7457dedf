// The reconcile queue: keys, not objects; a key queued twice is processed once; a key is never
// processed by two workers at once; a failed key comes back after a per-key exponential backoff.
import type { Clock } from "../platform/ports.js";

export interface WorkQueueOptions {
  readonly clock: Clock;
  /** First retry delay of a failing key, in ms (client-go: 5 ms; Flint's API calls are slower). */
  readonly baseDelayMs: number;
  /** Longest retry delay, in ms. */
  readonly maxDelayMs: number;
  /** Keys processed at once. */
  readonly workers: number;
}

export const DEFAULT_WORKQUEUE_OPTIONS = { baseDelayMs: 100, maxDelayMs: 60_000, workers: 4 } as const;

/** What a worker does with a key; a rejection schedules a retry. */
export type Reconcile = (key: string) => Promise<void>;

export class WorkQueue {
  /** Keys waiting, in order; `queued` mirrors it for dedupe. */
  private readonly order: string[] = [];
  private readonly queued = new Set<string>();
  /** Keys being processed; a key added meanwhile is marked dirty and queued again after. */
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly retryTimers = new Map<string, () => void>();
  private running = 0;
  private stopped = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly reconcile: Reconcile,
    private readonly options: WorkQueueOptions,
    private readonly onError: (key: string, error: unknown, retryInMs: number) => void = () => undefined,
  ) {}

  /** Queues `key` now (a pending retry of it is replaced). */
  add(key: string): void {
    if (this.stopped) return;
    this.retryTimers.get(key)?.();
    this.retryTimers.delete(key);
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.order.push(key);
    this.pump();
  }

  /** Keys waiting or being processed, and retries pending. */
  get length(): number {
    return this.order.length + this.active.size + this.retryTimers.size;
  }

  /** Retries scheduled for `key` so far (0 after a success). */
  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Resolves when nothing is queued or being processed (pending retries do not count). */
  idle(): Promise<void> {
    if (this.order.length === 0 && this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Takes no more keys, cancels retries, and waits for keys being processed. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const cancel of this.retryTimers.values()) cancel();
    this.retryTimers.clear();
    this.order.length = 0;
    this.queued.clear();
    await this.idle();
  }

  private pump(): void {
    while (this.running < this.options.workers && this.order.length > 0) {
      const key = this.order.shift() as string;
      this.queued.delete(key);
      this.active.add(key);
      this.running++;
      void this.process(key);
    }
    if (this.order.length === 0 && this.active.size === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private async process(key: string): Promise<void> {
    try {
      await this.reconcile(key);
      this.failures.delete(key);
    } catch (error) {
      const failures = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, failures);
      const delayMs = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** (failures - 1));
      this.onError(key, error, delayMs);
      if (!this.stopped && !this.dirty.has(key)) {
        this.retryTimers.set(
          key,
          this.options.clock.setTimer(() => {
            this.retryTimers.delete(key);
            this.add(key);
          }, delayMs),
        );
      }
    } finally {
      this.active.delete(key);
      this.running--;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }
}
