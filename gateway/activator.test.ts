// The activator as a timeline: one poke per cold episode, a lost poke sent again after the
// activation timeout, and nothing sent while a ready replica serves.
import { pino } from "pino";
import type { FunctionRef } from "../api/index.js";
import { ManualClock } from "../platform/clock.js";
import type { ScaleTarget } from "../platform/ports.js";
import { Activator } from "./activator.js";

const ref: FunctionRef = { namespace: "team", name: "hello" };
const TIMEOUT_MS = 5_000;

function setup(activate: ScaleTarget["activate"] = () => Promise.resolve()) {
  const clock = new ManualClock();
  const pokes: number[] = [];
  const scaleTarget: ScaleTarget = {
    activate: (r) => {
      pokes.push(clock.now());
      return activate(r);
    },
    scale: () => Promise.resolve(),
  };
  let counted = 0;
  const activator = new Activator({
    ref,
    clock,
    scaleTarget,
    logger: pino({ level: "silent" }),
    activationTimeoutMs: TIMEOUT_MS,
    onActivation: () => counted++,
  });
  return { clock, pokes, activator, counted: () => counted };
}

describe("Activator", () => {
  it("sends one poke however many calls ask while it is outstanding", () => {
    const { clock, pokes, activator, counted } = setup();
    const t0 = clock.now();
    activator.request(1);
    clock.advance(100);
    activator.request(2);
    activator.request(3);
    expect(pokes).toEqual([t0]);
    expect(activator.sent).toBe(1);
    expect(counted()).toBe(1);
    expect(activator.outstanding).toBe(true);
  });

  it("sends again after a ready replica ended the episode and the function went cold again", () => {
    const { clock, pokes, activator } = setup();
    const t0 = clock.now();
    activator.request(1);
    clock.advance(300);
    activator.satisfied();
    expect(activator.outstanding).toBe(false);
    clock.advance(60_000);
    activator.request(1);
    expect(pokes).toEqual([t0, t0 + 60_300]);
  });

  it.each([
    ["before the timeout: keeps trusting the poke", TIMEOUT_MS - 1, 1, 1],
    ["at the timeout with calls waiting: sends again", TIMEOUT_MS, 1, 2],
    ["at the timeout with nobody waiting: forgets it, sends nothing", TIMEOUT_MS, 0, 1],
  ])("a poke that produced no replica, checked %s", (_what, afterMs, waiting, expectedPokes) => {
    const { clock, pokes, activator } = setup();
    activator.request(1);
    clock.advance(afterMs);
    activator.checkOverdue(waiting);
    expect(pokes).toHaveLength(expectedPokes);
    expect(activator.outstanding).toBe(waiting > 0 || afterMs < TIMEOUT_MS);
  });

  it("survives a scale target that rejects or throws: the poke counts as sent", async () => {
    const rejecting = setup(() => Promise.reject(new Error("NATS is down")));
    rejecting.activator.request(1);
    const throwing = setup(() => {
      throw new Error("not connected");
    });
    throwing.activator.request(1);
    await Promise.resolve();
    expect(rejecting.activator.sent).toBe(1);
    expect(throwing.activator.sent).toBe(1);
    expect(throwing.activator.outstanding).toBe(true);
  });
});
