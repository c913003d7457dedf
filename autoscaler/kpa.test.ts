import { InvalidPolicyStateError } from "./errors.js";
import { flintPolicy } from "./flint.js";
import { kpaPolicy, kpaTarget, type KpaState } from "./kpa.js";
import { at, drive, observe, spec, T0 } from "./timeline.js";

const kpa = kpaPolicy();

describe("kpaTarget", () => {
  it.each([
    [{ target: 10 }, 7],
    [{ target: 10, concurrency: 4 }, 2.8],
    [{ target: 100, concurrency: 0 }, 70],
  ])("%j → %d per replica", (scale, target) => {
    expect(kpaTarget(spec(scale), 0.7)).toBeCloseTo(target, 9);
  });
});

describe("kpa: steady load", () => {
  it("asks for ceil(concurrency / (target × 0.7)) and decides every 2 s", () => {
    const desired = drive(kpa, spec({ min: 1 }), { seconds: 30, initialReady: 1, load: () => 21 });
    expect(desired.get(30_000)).toBe(3);
  });
});

describe("kpa: a step burst panics, never scales down while panicking, and calms after a stable window", () => {
  // 7 in flight (one replica's worth) for 10 s, 70 for the next 10 s, then 7 again. Decisions at odd
  // seconds (the first call is at t0 + 1 s); replicas start at once.
  const desired = drive(kpa, spec({ min: 1 }), {
    seconds: 81,
    initialReady: 1,
    load: (s) => (s > 10 && s <= 20 ? 70 : 7),
  });
  it.each([
    [10, 1],
    [11, 3], // panic window (7 × 5 + 70) / 6 = 17.5 → 3 ≥ 2 × 1 ready: panic
    [12, 3], // no decision between ticks
    [13, 6], // 38.5 → 6 ≥ 2 × 3: still over the threshold, panic extended to t0 + 13 s
    [15, 9],
    [17, 10],
    [21, 10], // the load is back to 7 but a panic never scales down
    [71, 10], // 58 s since the last tick over the threshold
    [73, 10], // exactly 60 s: Knative still panics (it leaves when panic time + 60 s is before now)
    [75, 5], // panic over: stable says 3, but at most ÷2 per decision
    [77, 2],
    [81, 1],
  ])("t0 + %d s: %d replicas", (second, replicas) => {
    expect(desired.get(second * 1000)).toBe(replicas);
  });
});

describe("kpa: scale to zero", () => {
  // Busy until t0 + 10 s. The stable window is all zeros first at the decision at t0 + 71 s; the
  // last replica then waits out the 30 s grace period: zero 91 s after the last busy second.
  const desired = drive(kpa, spec(), { seconds: 105, initialReady: 1, load: (s) => (s <= 10 ? 1 : 0) });
  it.each([
    [69, 1],
    [71, 1],
    [99, 1],
    [100, 1],
    [101, 0],
    [105, 0],
  ])("t0 + %d s: %d replicas", (second, replicas) => {
    expect(desired.get(second * 1000)).toBe(replicas);
  });
});

describe("kpa: without history, nothing scales down in the first window", () => {
  const desired = drive(kpa, spec(), { seconds: 97, initialReady: 6, load: () => 0 });
  it.each([
    [1, 6],
    [60, 6],
    [61, 3],
    [63, 1],
    [65, 1], // the windows ask for zero from here: 30 s of grace
    [93, 1],
    [95, 0],
  ])("six idle replicas found at t0 + 1 s; t0 + %d s: %d", (second, replicas) => {
    expect(desired.get(second * 1000)).toBe(replicas);
  });
});

describe("kpa: a restarted autoscaler resumes from the stored state", () => {
  it("decides exactly as if it had never stopped", () => {
    const load = (s: number): number => (s % 600 < 90 ? 40 + 30 * Math.sin(s / 7) : 0);
    const options = { seconds: 1800, startupSeconds: 2, load } as const;
    const straight = drive(kpa, spec({ max: 50 }), options);
    const restarted = drive(kpa, spec({ max: 50 }), { ...options, restart: () => kpaPolicy() });
    expect(restarted).toEqual(straight);
  });

  it("refuses a state it did not write", () => {
    const flintState = flintPolicy().initialState(T0);
    expect(() => kpa.restoreState(flintState)).toThrow(InvalidPolicyStateError);
    expect(() => kpa.restoreState(flintState)).toThrow('kpa state: was written by "flint"');
    const damaged: KpaState = {
      ...kpa.initialState(T0),
      window: { lastSecond: 1, firstSecond: 1, samples: [1] },
    };
    expect(() => kpa.restoreState(damaged)).toThrow("kpa state: window must hold 60 samples");
  });
});

describe("kpa: scale from zero does not wait for the decision tick", () => {
  it("asks for a replica at the poke, between ticks", () => {
    let state = kpa.initialState(T0);
    state = kpa.decide(spec(), observe({}), state, at(1)).next;
    const poke = kpa.decide(spec(), observe({ activation: true, concurrency: 1 }), state, at(1) + 300);
    expect(poke.desired).toBe(1);
  });
});

describe("kpa: a burst's panic ends only when a full stable window has passed since its last tick over the threshold", () => {
  // Knative's Scale() leaves panic when `panicTime + StableWindow` is strictly before now, so the tick
  // exactly 60 s after the last tick over the threshold still panics. Decisions at t0, t0 + 2 s, …; 7 in
  // flight (one replica's worth) except a burst of 70 in seconds 2 and 3; replicas are ready at once.
  const desired = new Map<number, number>();
  let state = kpa.initialState(T0);
  let ready = 1;
  for (let second = 0; second <= 70; second++) {
    const concurrency = second === 2 || second === 3 ? 70 : 7;
    const decision = kpa.decide(
      spec({ min: 1 }),
      observe({ concurrency, readyReplicas: ready }),
      state,
      at(second),
    );
    state = decision.next;
    ready = decision.desired;
    desired.set(second, decision.desired);
  }
  it.each([
    [0, 1],
    [2, 4], // panic window (7 + 7 + 70) / 3 s seen = 28 → 4 ≥ 2 × 1 ready: panic begins at t0 + 2 s
    [4, 5], // 32.2 → 5, but 5 / 4 ready < 2: the last tick over the threshold was t0 + 2 s
    [60, 5], // a panic never scales down
    [62, 5], // t0 + 2 s + 60 s is not before now: still panicking (a `>=` comparison leaves here)
    [64, 2], // panic over: stable says 1 (the burst has left the window), at most ÷2 per decision
    [66, 1],
  ])("t0 + %d s: %d replicas", (second, replicas) => {
    expect(desired.get(second)).toBe(replicas);
  });
});
