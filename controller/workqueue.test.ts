// The reconcile queue: dedupe, one worker per key, per-key backoff on failure, bounded workers.
import { ManualClock } from "../platform/clock.js";
import { WorkQueue } from "./workqueue.js";

/** A reconcile whose calls the test resolves or rejects by hand. */
class ManualReconcile {
  readonly calls: string[] = [];
  private readonly pending = new Map<string, { resolve: () => void; reject: (e: Error) => void }[]>();
  readonly fn = (key: string): Promise<void> =>
    new Promise((resolve, reject) => {
      this.calls.push(key);
      const list = this.pending.get(key) ?? [];
      list.push({ resolve, reject });
      this.pending.set(key, list);
    });
  async finish(key: string, error?: Error): Promise<void> {
    const next = this.pending.get(key)?.shift();
    if (next === undefined) throw new Error(`no call of ${key} is running`);
    if (error === undefined) next.resolve();
    else next.reject(error);
    // Let the queue's continuation run.
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
}

describe("WorkQueue", () => {
  const options = (clock: ManualClock, workers = 2) => ({
    clock,
    baseDelayMs: 100,
    maxDelayMs: 1000,
    workers,
  });

  it("processes a key added twice while waiting once", async () => {
    const reconcile = new ManualReconcile();
    const queue = new WorkQueue(reconcile.fn, options(new ManualClock(0), 1));
    queue.add("a");
    queue.add("b");
    queue.add("b");
    expect(reconcile.calls).toEqual(["a"]);
    await reconcile.finish("a");
    expect(reconcile.calls).toEqual(["a", "b"]);
    await reconcile.finish("b");
    await queue.idle();
    expect(reconcile.calls).toEqual(["a", "b"]);
  });

  it("never runs one key twice at once, and runs it again if it changed meanwhile", async () => {
    const reconcile = new ManualReconcile();
    const queue = new WorkQueue(reconcile.fn, options(new ManualClock(0), 4));
    queue.add("a");
    queue.add("a");
    expect(reconcile.calls).toEqual(["a"]);
    await reconcile.finish("a");
    expect(reconcile.calls).toEqual(["a", "a"]);
    await reconcile.finish("a");
    await queue.idle();
  });

  it("bounds the workers", () => {
    const reconcile = new ManualReconcile();
    const queue = new WorkQueue(reconcile.fn, options(new ManualClock(0), 2));
    for (const key of ["a", "b", "c", "d"]) queue.add(key);
    expect(reconcile.calls).toEqual(["a", "b"]);
    expect(queue.length).toBe(4);
  });

  it("retries a failing key with exponential backoff up to the cap, and resets after success", async () => {
    const clock = new ManualClock(0);
    const reconcile = new ManualReconcile();
    const delays: number[] = [];
    const queue = new WorkQueue(reconcile.fn, options(clock, 1), (_key, _error, delay) => delays.push(delay));
    queue.add("a");
    for (let attempt = 0; attempt < 6; attempt++) {
      await reconcile.finish("a", new Error("conflict"));
      clock.advance(delays.at(-1) ?? 0);
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(queue.failuresOf("a")).toBe(6);
    await reconcile.finish("a");
    expect(queue.failuresOf("a")).toBe(0);
  });

  it("runs a key at once when it changes during its backoff", async () => {
    const clock = new ManualClock(0);
    const reconcile = new ManualReconcile();
    const queue = new WorkQueue(reconcile.fn, options(clock, 1));
    queue.add("a");
    await reconcile.finish("a", new Error("not yet"));
    expect(reconcile.calls).toHaveLength(1);
    queue.add("a");
    expect(reconcile.calls).toHaveLength(2);
    await reconcile.finish("a");
    clock.advance(10_000);
    expect(reconcile.calls).toHaveLength(2);
  });

  it("stops: no new keys, retries cancelled", async () => {
    const clock = new ManualClock(0);
    const reconcile = new ManualReconcile();
    const queue = new WorkQueue(reconcile.fn, options(clock, 1));
    queue.add("a");
    await reconcile.finish("a", new Error("x"));
    await queue.stop();
    clock.advance(10_000);
    queue.add("b");
    expect(reconcile.calls).toEqual(["a"]);
  });
});
