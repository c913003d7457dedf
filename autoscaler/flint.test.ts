import { demandOf, fixedKeepAlivePolicy, flintPolicy, type FlintState } from "./flint.js";
import { InvalidPolicyStateError } from "./errors.js";
import { kpaPolicy } from "./kpa.js";
import type { ScaleSpec, ScalingPolicy } from "./types.js";
import { at, drive, observe, spec, T0 } from "./timeline.js";

const flint = flintPolicy();

describe("flint: a ramp", () => {
  // Concurrency grows by 5 a second; replicas start at once. Up follows the 3-second reaction window.
  const desired = drive(flint, spec({ min: 1 }), { seconds: 10, initialReady: 1, load: (s) => 5 * s });
  it.each([
    [1, 1], // 5
    [3, 1], // (5 + 10 + 15) / 3 = 10
    [4, 2], // 15
    [6, 3], // 25
    [8, 4], // 35
    [10, 5], // 45
  ])("t0 + %d s: %d replicas", (second, replicas) => {
    expect(desired.get(second * 1000)).toBe(replicas);
  });
});

describe("flint: a step burst", () => {
  // 10 in flight for 10 s, then 100: the reaction window reaches the new level in 3 ticks.
  const desired = drive(flint, spec({ min: 1 }), {
    seconds: 14,
    initialReady: 1,
    load: (s) => (s <= 10 ? 10 : 100),
  });
  it.each([
    [10, 1],
    [11, 4], // (10 + 10 + 100) / 3 = 40
    [12, 7], // 70
    [13, 10],
    [14, 10],
  ])("t0 + %d s: %d replicas", (second, replicas) => {
    expect(desired.get(second * 1000)).toBe(replicas);
  });
});

describe("a burst from zero during a slow start (5 s), flint beside kpa", () => {
  // 100 requests a second arrive at a function with no replica; the first request pokes at 0.2 s.
  // Nothing is served until 5.2 s, so the gateway's queue grows: the time-weighted concurrency of
  // second k is 100k − 50. Flint counts the queue by its growth (100 a second → 10 replicas) and
  // stops there; Knative counts the whole queue again at every decision.
  const drivePolicy = <S>(policy: ScalingPolicy<S>): Map<number, number> =>
    drive(policy, spec({ max: 100 }), {
      seconds: 5,
      startupSeconds: 5,
      pokes: new Map([[200, 1]]),
      load: (s) => 100 * s - 50,
    });
  const flintDesired = drivePolicy(flint);
  const kpaDesired = drivePolicy(kpaPolicy());
  it.each([
    // t0 + ms, flint, kpa
    [200, 1, 1],
    [1000, 5, 1], // flint: (50 − 1) / 10 → 5; kpa: next decision 2 s after the poke
    [2000, 8, 1], // flint: (49 + 100) / 2 → 8
    [3000, 9, 22], // flint: (49 + 100 + 100) / 3 → 9; kpa: panic, 150 / 7 → 22
    [4000, 10, 22],
    [5000, 10, 36], // kpa: 250 / 7 → 36, and a panic never scales down
  ])("t0 + %d ms: flint %d, kpa %d", (offsetMs, flintReplicas, kpaReplicas) => {
    expect(flintDesired.get(offsetMs)).toBe(flintReplicas);
    expect(kpaDesired.get(offsetMs)).toBe(kpaReplicas);
  });
});

describe("flint: long idle → zero at the expected second", () => {
  // Busy (2 in flight) for the first 10 s, then idle: the last busy tick is t0 + 10 s.
  const busyThenIdle = (s: number): number => (s <= 10 ? 2 : 0);
  it.each([
    // idle setting, last second with a replica, first second at zero
    ["5m", 309, 310],
    ["30s", 60, 61], // the first-window rule keeps it until t0 + 61 s (first call at t0 + 1 s)
    ["auto", 609, 610], // no idle history yet: the 10-minute fallback
  ])("idle %s: warm at t0 + %d s, zero at t0 + %d s", (idle, lastWarm, zeroAt) => {
    const desired = drive(flint, spec({ idle }), { seconds: zeroAt + 5, load: busyThenIdle });
    expect(desired.get(lastWarm * 1000)).toBe(1);
    expect(desired.get(zeroAt * 1000)).toBe(0);
    expect(desired.get((zeroAt + 5) * 1000)).toBe(0);
  });

  it("fixed-keepalive ignores scale.idle and keeps its own", () => {
    const desired = drive(fixedKeepAlivePolicy(120_000), spec({ idle: "5m" }), {
      seconds: 135,
      load: busyThenIdle,
    });
    expect([desired.get(129_000), desired.get(130_000)]).toEqual([1, 0]);
  });
});

describe("flint: activation from zero", () => {
  // An idle history: a function seen at zero for a while.
  const idleState = (): FlintState => {
    let state = flint.initialState(T0);
    for (let s = 1; s <= 90; s++) state = flint.decide(spec(), observe({}), state, at(s)).next;
    return state;
  };

  it.each([
    ["a poke", observe({ activation: true, concurrency: 1 }), 1],
    ["a poke for many waiting requests", observe({ activation: true, concurrency: 35 }), 4],
    ["async calls waiting", observe({ queueDepth: 5 }), 1],
  ])("%s, between ticks, asks for replicas at once", (_, observed, replicas) => {
    const { desired } = flint.decide(spec(), observed, idleState(), at(90) + 437);
    expect(desired).toBe(replicas);
  });
});

describe("flint: an async backlog is demand", () => {
  it("asks for replicas for calls waiting in the queue, none in flight yet", () => {
    // 50 calls waiting and a target of 10 → 5 replicas, from the first tick that sees them.
    let state = flint.initialState(T0);
    const replicas: number[] = [];
    for (let s = 1; s <= 3; s++) {
      const ready = replicas.at(-1) ?? 0;
      const decision = flint.decide(spec(), observe({ queueDepth: 50, readyReplicas: ready }), state, at(s));
      state = decision.next;
      replicas.push(decision.desired);
    }
    expect(replicas).toEqual([5, 5, 5]);
  });
});

describe("flint: periodic arrivals are learned and pre-warmed", () => {
  // One short request every 30 minutes (busy for one tick at t0 + 1800k s). Idle times are 1800 s:
  // bin 30, so the learned window is [27 min, 34.1 min). Each one after the first is foretold, and
  // the window is trusted once its lead over a fixed keep-alive of equal cost exceeds 2√n, n judged:
  // after the 6th idle time (the 7th request, at t0 + 12600 s).
  const period = 1800;
  const desired = drive(flint, spec(), {
    seconds: 9 * period - 10,
    load: (s) => (s % period === 0 ? 0.5 : 0),
  });
  const seconds = (s: number): number | undefined => desired.get(s * 1000);

  it.each([
    // second, replicas: before the window is trusted, the 10-minute fallback after each request
    [6 * period + 599, 1],
    [6 * period + 600, 0],
    [7 * period - 1, 0],
    // after the 7th request: straight to zero, pre-warmed at 27 min, so warm when the 8th comes
    [7 * period + 1, 0],
    [7 * period + 1619, 0],
    [7 * period + 1620, 1],
    [8 * period - 1, 1],
    [8 * period + 1, 0],
    [8 * period + 1620, 1],
  ])("t0 + %d s: %d replicas", (second, replicas) => {
    expect(seconds(second)).toBe(replicas);
  });
});

describe("flint: scale.min and scale.max", () => {
  it.each<[Partial<ScaleSpec>, number, number]>([
    [{ min: 2 }, 0, 2],
    [{ min: 1, idle: "1m" }, 0, 1],
    [{ max: 3 }, 500, 3],
    [{ max: 100 }, 500, 50],
  ])("%j at concurrency %d → %d replicas", (scale, concurrency, replicas) => {
    const desired = drive(flint, spec(scale), {
      seconds: 200,
      initialReady: scale.min ?? 0,
      load: () => concurrency,
    });
    expect(desired.get(200_000)).toBe(replicas);
  });
});

describe("flint: without history, nothing scales down in the first window", () => {
  it.each([
    [1, 6],
    [60, 6],
    [61, 3], // from then on ÷2 per tick
    [62, 1],
    [63, 0], // never busy: no keep-alive to honour
  ])("six idle replicas found at t0 + 1 s; t0 + %d s: %d", (second, replicas) => {
    const desired = drive(flint, spec(), { seconds: 63, initialReady: 6, load: () => 0 });
    expect(desired.get(second * 1000)).toBe(replicas);
  });

  it("treats a stale stored state (last seen 10 minutes ago) as no recent history", () => {
    let state = flint.initialState(T0);
    state = flint.decide(spec(), observe({ concurrency: 30, readyReplicas: 3 }), state, at(1)).next;
    const resumed = flint.restoreState(JSON.parse(JSON.stringify(state)));
    const later = at(601);
    expect(flint.decide(spec(), observe({ readyReplicas: 3 }), resumed, later).desired).toBe(3);
    expect(flint.decide(spec(), observe({ readyReplicas: 3 }), resumed, later).next.noScaleDownUntilMs).toBe(
      later + 60_000,
    );
  });
});

describe("flint: a restarted or newly elected autoscaler resumes from the stored state", () => {
  it("decides exactly as if it had never stopped", () => {
    const load = (s: number): number => (s % 1800 < 40 ? 20 + 10 * Math.sin(s) : 0);
    const options = { seconds: 4 * 1800, startupSeconds: 1, load } as const;
    const straight = drive(flint, spec({ max: 50 }), options);
    const restarted = drive(flint, spec({ max: 50 }), { ...options, restart: () => flintPolicy() });
    expect(restarted).toEqual(straight);
  });

  it("refuses a state it did not write", () => {
    const kpaState = kpaPolicy().initialState(T0);
    expect(() => flint.restoreState(kpaState)).toThrow(InvalidPolicyStateError);
    expect(() => flint.restoreState(kpaState)).toThrow('flint state: was written by "kpa"');
    expect(() => flint.restoreState({ ...flint.initialState(T0), lastReady: -1 })).toThrow(
      "flint state: lastReady must be an integer ≥ 0, was -1",
    );
  });
});

describe("flint: decide is pure", () => {
  it("does not change its inputs", () => {
    let state = flint.initialState(T0);
    for (let s = 1; s <= 5; s++)
      state = flint.decide(spec(), observe({ concurrency: 5 * s }), state, at(s)).next;
    const frozen = deepFreeze(structuredClone(state));
    const before = JSON.stringify(frozen);
    const first = flint.decide(
      spec(),
      deepFreeze(observe({ concurrency: 40, readyReplicas: 2 })),
      frozen,
      at(6),
    );
    const second = flint.decide(spec(), observe({ concurrency: 40, readyReplicas: 2 }), frozen, at(6));
    expect(JSON.stringify(frozen)).toBe(before);
    expect(second).toEqual(first);
  });
});

describe("demandOf", () => {
  it.each([
    // hard limit, ready before, ready now, concurrency, concurrency before → demand
    [0, 1, 1, 25, 10, 25], // no hard limit, a replica ready: everything is in flight
    [0, 0, 0, 30, 10, 20], // nothing ready: the queue counts by its growth
    [10, 2, 2, 35, 30, 25], // both replicas at their limit (20 in flight) plus 5 more queued
    [10, 2, 2, 15, 30, 15], // under the limit: no queue
    [10, 2, 2, 25, 40, 20], // a queue that shrinks adds nothing
    [10, 1, 3, 25, 5, 25], // two became ready during the second: only one served it
  ])(
    "limit %d, ready %d→%d, concurrency %d (was %d) → %d",
    (limit, lastReady, ready, concurrency, last, demand) => {
      const observed = observe({ concurrency, readyReplicas: ready });
      expect(demandOf(spec({ concurrency: limit }), observed, { lastConcurrency: last, lastReady })).toBe(
        demand,
      );
    },
  );
});

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
