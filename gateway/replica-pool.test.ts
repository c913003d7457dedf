import { pino } from "pino";
import { ManualClock } from "../platform/clock.js";
import {
  QueueBudget,
  ReplicaPool,
  callSettings,
  type CallSettings,
  type PoolLimits,
  type WaitingCall,
} from "./replica-pool.js";
import {
  ActivationQueueFullError,
  ActivationTimeoutError,
  ConcurrencyLimitError,
  QueueBytesExhaustedError,
  QueueTimeoutError,
  type KnownError,
} from "./errors.js";
import { FunctionNotFoundError } from "../platform/errors.js";
import type { Endpoint } from "../platform/ports.js";
import type { Replica } from "./replica.js";
import { RecordingScaleTarget, makeFunction } from "../testing/gateway.js";

const ref = { name: "hello", namespace: "default" };
const limits: PoolLimits = {
  queueDepth: 100,
  activationTimeoutMs: 30_000,
  retryAfterSeconds: 1,
  probeIntervalMs: 50,
  maxSocketsPerReplica: 8,
};
const settings: CallSettings = { concurrency: 0, timeoutMs: 30_000, maxBodyBytes: 0, authRequired: false };

/** A replica nobody connects to in these tests: they exercise choice, limits and the queue only. */
const endpoint = (id: string, state: Endpoint["state"] = "ready"): Endpoint => ({
  id,
  host: "127.0.0.1",
  port: 9,
  state,
});

class FakeCall implements WaitingCall {
  replica: Replica | undefined;
  error: KnownError | undefined;
  waitedMs: number | undefined;
  cold: boolean | undefined;
  admit(replica: Replica, waitedMs: number, cold: boolean): void {
    [this.replica, this.waitedMs, this.cold] = [replica, waitedMs, cold];
  }
  reject(error: KnownError): void {
    this.error = error;
  }
}

function setup(
  overrides: { settings?: Partial<CallSettings>; limits?: Partial<PoolLimits>; budgetBytes?: number } = {},
) {
  const clock = new ManualClock();
  const scaleTarget = new RecordingScaleTarget();
  const budget = new QueueBudget(overrides.budgetBytes ?? 1_000_000);
  const pool = new ReplicaPool({
    ref,
    settings: { ...settings, ...overrides.settings },
    limits: { ...limits, ...overrides.limits },
    budget,
    clock,
    scaleTarget,
    logger: pino({ level: "silent" }),
  });
  return { clock, scaleTarget, budget, pool };
}

describe("callSettings", () => {
  it("reads the limits the data path enforces from the spec", () => {
    const fn = makeFunction("hello", {
      timeout: "1m30s",
      maxBodyBytes: 1024,
      scale: { concurrency: 4, target: 4 },
    });
    expect(callSettings(fn)).toEqual({
      concurrency: 4,
      timeoutMs: 90_000,
      maxBodyBytes: 1024,
      authRequired: false,
    });
    fn.metadata.annotations = { "flint.dev/invoke-auth": "required" };
    expect(callSettings(fn).authRequired).toBe(true);
  });
});

describe("ReplicaPool", () => {
  it("sends each call to the least-loaded ready replica", () => {
    const { pool } = setup();
    pool.update([endpoint("a"), endpoint("b"), endpoint("c")]);
    const taken = Array.from({ length: 6 }, () => pool.tryAcquire()!.id);
    expect(taken.sort()).toEqual(["a", "a", "b", "b", "c", "c"]);
    const b = pool.snapshot().replicas.find((r) => r.id === "b")!;
    expect(b.inFlight).toBe(2);
    // Free one slot on b: b is now the least loaded, whatever the scan order.
    const replicaB = (pool as unknown as { replicas: Map<string, Replica> }).replicas.get("b")!;
    pool.release(replicaB);
    expect(pool.tryAcquire()!.id).toBe("b");
  });

  it("lets equally loaded replicas take turns (no pinning to the first)", () => {
    const { pool } = setup();
    pool.update([endpoint("a"), endpoint("b"), endpoint("c")]);
    const used = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const replica = pool.tryAcquire()!;
      used.set(replica.id, (used.get(replica.id) ?? 0) + 1);
      pool.release(replica);
    }
    expect([...used.values()]).toEqual([10, 10, 10]);
  });

  it("never gives a replica more than scale.concurrency calls; the rest queue in order", () => {
    const { pool } = setup({ settings: { concurrency: 2 } });
    pool.update([endpoint("a"), endpoint("b")]);
    const held = Array.from({ length: 4 }, () => pool.tryAcquire()!);
    expect(pool.tryAcquire()).toBeUndefined();
    const first = new FakeCall();
    const second = new FakeCall();
    pool.enqueue(first, 100);
    pool.enqueue(second, 100);
    expect(pool.snapshot()).toMatchObject({ inFlight: 4, queued: 2 });

    pool.release(held[2]!);
    expect(first.replica).toBe(held[2]);
    expect(first.cold).toBe(false);
    expect(second.replica).toBeUndefined();
    // A newcomer does not overtake the call still waiting, even when a slot is free.
    pool.release(held[0]!);
    expect(second.replica).toBe(held[0]);
    expect(Math.max(...pool.snapshot().replicas.map((r) => r.inFlight))).toBeLessThanOrEqual(2);
  });

  it("gives a draining replica no new calls, while its calls in flight finish", () => {
    const { pool } = setup();
    pool.update([endpoint("a"), endpoint("b")]);
    const onA = [pool.tryAcquire()!, pool.tryAcquire()!].find((r) => r.id === "a")!;
    pool.update([endpoint("a", "draining"), endpoint("b")]);
    for (let i = 0; i < 5; i++) expect(pool.tryAcquire()!.id).toBe("b");
    pool.release(onA);
    expect(pool.snapshot().replicas).toEqual([
      { id: "a", state: "draining", inFlight: 0 },
      { id: "b", state: "ready", inFlight: 6 },
    ]);
  });

  it("closes a removed replica's connections only after its last call", () => {
    const { pool } = setup();
    pool.update([endpoint("a")]);
    const replica = pool.tryAcquire()!;
    let closed = 0;
    replica.close = () => void closed++;
    pool.update([]);
    expect(pool.snapshot().replicas).toEqual([]);
    expect(closed).toBe(0);
    pool.release(replica);
    expect(closed).toBe(1);
  });

  it("sends one activation for any number of calls waiting at zero, and serves them in order once a replica is ready", () => {
    const { pool, clock, scaleTarget } = setup({ settings: { concurrency: 1 } });
    const calls = Array.from({ length: 50 }, () => new FakeCall());
    for (const call of calls) pool.enqueue(call, 100);
    expect(scaleTarget.activations).toEqual([ref]);
    expect(pool.activations).toBe(1);

    clock.advance(1200);
    pool.update([endpoint("a"), endpoint("b")]);
    expect(calls.map((c) => c.replica?.id)).toEqual(["a", "b", ...Array<undefined>(48).fill(undefined)]);
    expect(calls[0]).toMatchObject({ waitedMs: 1200, cold: true });
    for (let i = 0; i < 48; i++) pool.release(calls[i]!.replica!);
    expect(calls.every((c) => c.replica !== undefined)).toBe(true);
    expect(scaleTarget.activations).toHaveLength(1);
  });

  it("activates again when the last ready replica goes while calls wait", () => {
    const { pool, scaleTarget } = setup({ settings: { concurrency: 1 } });
    pool.update([endpoint("a")]);
    pool.tryAcquire();
    pool.enqueue(new FakeCall(), 100);
    expect(scaleTarget.activations).toHaveLength(0);
    pool.update([endpoint("a", "draining")]);
    expect(scaleTarget.activations).toHaveLength(1);
  });

  it("refuses past the queue depth: 503 when cold, 429 when busy", () => {
    const cold = setup({ limits: { queueDepth: 2 } }).pool;
    cold.enqueue(new FakeCall(), 1);
    cold.enqueue(new FakeCall(), 1);
    expect(() => cold.enqueue(new FakeCall(), 1)).toThrow(ActivationQueueFullError);

    const busy = setup({ limits: { queueDepth: 1 }, settings: { concurrency: 1 } }).pool;
    busy.update([endpoint("a")]);
    busy.tryAcquire();
    busy.enqueue(new FakeCall(), 1);
    expect(() => busy.enqueue(new FakeCall(), 1)).toThrow(ConcurrencyLimitError);
  });

  it("holds waiting calls to the global byte budget, shared by all functions", () => {
    const { pool, budget, clock, scaleTarget } = setup({ budgetBytes: 10_000 });
    const other = new ReplicaPool({
      ref: { name: "other", namespace: "default" },
      settings,
      limits,
      budget,
      clock,
      scaleTarget,
      logger: pino({ level: "silent" }),
    });
    const ticket = pool.enqueue(new FakeCall(), 4000);
    other.enqueue(new FakeCall(), 4000);
    expect(() => pool.enqueue(new FakeCall(), 4000)).toThrow(QueueBytesExhaustedError);
    expect(budget.usedBytes).toBe(8000);
    pool.cancel(ticket);
    pool.cancel(ticket);
    expect(budget.usedBytes).toBe(4000);
    pool.enqueue(new FakeCall(), 4000);
    other.update([endpoint("x")]);
    expect(budget.usedBytes).toBe(4000);
  });

  it("fails waiting calls at the activation deadline with 503, and asks again for those still waiting", () => {
    const { pool, clock, scaleTarget } = setup({ limits: { activationTimeoutMs: 1000 } });
    const early = new FakeCall();
    const late = new FakeCall();
    pool.enqueue(early, 1);
    clock.advance(400);
    pool.enqueue(late, 1);
    clock.advance(599);
    expect(early.error).toBeUndefined();
    clock.advance(1);
    expect(early.error).toBeInstanceOf(ActivationTimeoutError);
    expect(early.error?.retryAfterSeconds).toBe(1);
    expect(late.error).toBeUndefined();
    expect(scaleTarget.activations).toHaveLength(2);
    clock.advance(400);
    expect(late.error).toBeInstanceOf(ActivationTimeoutError);
    expect(pool.queueLength).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it("fails a call that waited for a free slot at the deadline with QUEUE_TIMEOUT", () => {
    const { pool, clock } = setup({ settings: { concurrency: 1 }, limits: { activationTimeoutMs: 1000 } });
    pool.update([endpoint("a")]);
    pool.tryAcquire();
    const call = new FakeCall();
    pool.enqueue(call, 1);
    clock.advance(1000);
    expect(call.error).toBeInstanceOf(QueueTimeoutError);
  });

  it("lets waiting calls through when the concurrency limit is raised", () => {
    const { pool } = setup({ settings: { concurrency: 1 } });
    pool.update([endpoint("a")]);
    pool.tryAcquire();
    const call = new FakeCall();
    pool.enqueue(call, 1);
    pool.configure({ ...settings, concurrency: 2 });
    expect(call.replica?.id).toBe("a");
  });

  it("fails every waiting call when the function goes", () => {
    const { pool, budget } = setup();
    const calls = [new FakeCall(), new FakeCall()];
    for (const call of calls) pool.enqueue(call, 10);
    pool.close(new FunctionNotFoundError("default/hello"));
    expect(calls.map((c) => c.error?.code)).toEqual(["FUNCTION_NOT_FOUND", "FUNCTION_NOT_FOUND"]);
    expect(budget.usedBytes).toBe(0);
  });

  it("takes an unreachable replica out of rotation", () => {
    const { pool } = setup();
    pool.update([endpoint("a"), endpoint("b")]);
    const a = [pool.tryAcquire()!, pool.tryAcquire()!].find((r) => r.id === "a")!;
    pool.markUnreachable(a);
    expect(pool.readyReplicas).toBe(1);
    for (let i = 0; i < 3; i++) expect(pool.tryAcquire()!.id).toBe("b");
    pool.close(new FunctionNotFoundError("default/hello"));
  });

  it("counts admitted calls for the concurrency stats", () => {
    const { pool } = setup();
    pool.enter();
    pool.enter();
    pool.leave();
    expect(pool.active).toBe(1);
  });
});
