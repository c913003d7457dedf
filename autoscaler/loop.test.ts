import { parseFunction, type FunctionRef } from "../api/index.js";
import { policyByName } from "./index.js";
import { ManualClock } from "../platform/clock.js";
import type { ConcurrencySample } from "../platform/ports.js";
import { ScalerLoop, type ReplicaTarget, type ScaleEvent } from "./loop.js";

const fn = (scale: string) =>
  parseFunction(`apiVersion: flint.dev/v1alpha1
kind: Function
metadata: { name: hello }
spec: { handler: { mode: module, entry: h.js }, scale: ${scale} }`);
const ref = { name: "hello", namespace: "default" };

/** A replica target whose replicas become ready the moment they are asked for. */
class InstantReplicas implements ReplicaTarget {
  replicas = 0;
  writes: number[] = [];
  counts(_ref: FunctionRef) {
    return { ready: this.replicas, starting: 0 };
  }
  setReplicas(_ref: FunctionRef, replicas: number): void {
    this.replicas = replicas;
    this.writes.push(replicas);
  }
}

function sample(clock: ManualClock, averageConcurrency: number, source = "gw-1"): ConcurrencySample {
  const timestampMs = Math.floor(clock.now() / 1000) * 1000;
  return {
    ...{ function: "default/hello", source, timestampMs, windowMs: 1000, averageConcurrency },
    ...{
      averageQueued: 0,
      peakConcurrency: Math.ceil(averageConcurrency),
      requests: 1,
      readyReplicas: 1,
      asyncQueued: 0,
    },
  };
}

describe("ScalerLoop", () => {
  let clock: ManualClock;
  let target: InstantReplicas;
  let events: ScaleEvent[];
  let loop: ScalerLoop;

  beforeEach(() => {
    clock = new ManualClock(1_700_000_000_000);
    target = new InstantReplicas();
    events = [];
    loop = new ScalerLoop(policyByName("fixed-keepalive:10s"), target, {
      clock,
      tickMs: 1000,
      onScale: (e) => events.push(e),
    });
    loop.start();
  });
  afterEach(() => loop.close());

  it("activates from zero at once, without waiting for a tick", () => {
    loop.track(fn("{ min: 0, max: 5 }"));
    expect(target.replicas).toBe(0);
    loop.activate(ref);
    expect(target.replicas).toBe(1);
    expect(events).toEqual([{ function: "default/hello", from: 0, to: 1, reason: "activation" }]);
  });

  it("scales on the gateways' summed concurrency each tick, then to zero after the keep-alive", () => {
    loop.track(fn("{ min: 0, max: 10, target: 2 }"));
    loop.activate(ref);
    // Two gateways see 3 and 5 calls on average in each second: 8 in all, target 2 → 4 replicas once
    // the policy's reaction window has filled.
    for (let second = 0; second < 3; second++) {
      clock.advance(1000);
      loop.record(sample(clock, 3, "gw-1"));
      loop.record(sample(clock, 5, "gw-2"));
    }
    clock.advance(1000);
    expect(target.replicas).toBe(4);
    // Then silence: the policy keeps replicas through its first stable window and the 10 s keep-alive,
    // then steps down to zero.
    clock.advance(8_000);
    expect(target.replicas).toBeGreaterThan(0);
    clock.advance(120_000);
    expect(target.replicas).toBe(0);
    expect(events.at(-1)).toMatchObject({ to: 0, reason: "tick" });
  });

  it("ignores a sample older than the newest window", () => {
    loop.track(fn("{ min: 0, max: 10, target: 1 }"));
    loop.activate(ref);
    for (let second = 0; second < 3; second++) {
      clock.advance(1000);
      const newer = sample(clock, 2);
      loop.record(newer);
      loop.record({ ...newer, timestampMs: newer.timestampMs - 1000, averageConcurrency: 50 });
    }
    clock.advance(1000);
    expect(target.replicas).toBe(2);
  });

  it("clamps a manual scale to min and max", () => {
    loop.track(fn("{ min: 1, max: 3 }"));
    expect(target.replicas).toBe(1);
    loop.scale(ref, 10);
    expect(target.replicas).toBe(3);
    expect(events.at(-1)).toEqual({ function: "default/hello", from: 1, to: 3, reason: "manual" });
  });

  it("forgets an untracked function", () => {
    loop.track(fn("{ min: 0, max: 3 }"));
    loop.untrack(ref);
    loop.activate(ref);
    expect(target.writes).toEqual([0]);
    expect(loop.desired(ref)).toBeUndefined();
  });
});

describe("ScalerLoop resuming after a restart", () => {
  it("keeps what runs, writes nothing, and does not scale down in the first window", () => {
    const clock = new ManualClock(1_700_000_000_000);
    const target = new InstantReplicas();
    target.replicas = 3;
    const loop = new ScalerLoop(policyByName("flint"), target, { clock, tickMs: 1000 });
    loop.start();
    loop.track(fn("{ min: 0, max: 10 }"), { replicas: 3 });
    expect(target.writes).toEqual([]);
    clock.advance(5000);
    expect(target.replicas).toBe(3);
    void loop.close();
  });

  it("carries a stored state on, and ignores one the policy does not accept", () => {
    const clock = new ManualClock(1_700_000_000_000);
    const target = new InstantReplicas();
    const first = new ScalerLoop(policyByName("flint"), target, { clock, tickMs: 1000 });
    first.track(fn("{ min: 0, max: 10 }"));
    first.activate(ref);
    const [stored] = first.states();
    expect(stored?.ref).toEqual(ref);
    const saved: unknown = JSON.parse(JSON.stringify(stored?.state));

    const second = new ScalerLoop(policyByName("flint"), target, { clock, tickMs: 1000 });
    second.track(fn("{ min: 0, max: 10 }"), { replicas: target.replicas, state: saved });
    expect(second.states()[0]?.state).toEqual(saved);

    const third = new ScalerLoop(policyByName("flint"), target, { clock, tickMs: 1000 });
    third.track(fn("{ min: 0, max: 10 }"), { replicas: target.replicas, state: { nonsense: true } });
    expect(third.states()[0]?.state).not.toEqual({ nonsense: true });
  });
});
