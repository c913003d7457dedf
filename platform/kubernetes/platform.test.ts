// The platform's readiness rule (synced, and failing for less than the grace) as a timeline, and the
// store whose "synced" waits for the EndpointSlices.
import { MemoryFunctionStore } from "../function-store.js";
import type { FunctionEvent } from "../ports.js";
import { makeFunction } from "../../testing/gateway.js";
import { InformerGroup } from "./informers.js";
import { informersReady, syncedAfter } from "./platform.js";
import type { Informer, ReflectorHealth } from "./reflector.js";

/** An informer whose health the test sets. */
function fakeInformer(
  health: ReflectorHealth,
): Informer & { health: () => ReflectorHealth; set(next: ReflectorHealth): void } {
  let current = health;
  return {
    start: () => undefined,
    stop: () => Promise.resolve(),
    whenSynced: () => Promise.resolve(),
    health: () => current,
    set: (next) => void (current = next),
  };
}

describe("informersReady", () => {
  const t0 = 1_700_000_000_000;
  const healthy: ReflectorHealth = { synced: true, failingSinceMs: undefined, lastError: undefined };

  it("is false until every informer of every group has synced", () => {
    const slices = fakeInformer(healthy);
    const functions = fakeInformer({ ...healthy, synced: false });
    const groups = [new InformerGroup([slices]), new InformerGroup([functions])];
    expect(informersReady(groups, t0, 60_000)).toBe(false);
    functions.set(healthy);
    expect(informersReady(groups, t0, 60_000)).toBe(true);
  });

  it("stays true through a failure shorter than the grace, then turns false until it recovers", () => {
    const informer = fakeInformer(healthy);
    const groups = [new InformerGroup([fakeInformer(healthy), informer])];
    informer.set({ synced: true, failingSinceMs: t0, lastError: "connect ECONNREFUSED" });
    expect(informersReady(groups, t0 + 59_999, 60_000)).toBe(true);
    expect(informersReady(groups, t0 + 60_000, 60_000)).toBe(false);
    informer.set(healthy);
    expect(informersReady(groups, t0 + 61_000, 60_000)).toBe(true);
  });

  it("with no grace, fails at the first error", () => {
    const informer = fakeInformer({ synced: true, failingSinceMs: t0, lastError: "boom" });
    expect(informersReady([new InformerGroup([informer])], t0, 0)).toBe(false);
  });
});

describe("syncedAfter", () => {
  it("passes puts at once and holds synced until the EndpointSlices have synced", async () => {
    const store = new MemoryFunctionStore();
    await store.create(makeFunction("hello"));
    let endpointsSynced: () => void = () => undefined;
    const gated = syncedAfter(store, new Promise<void>((resolve) => (endpointsSynced = resolve)));
    const events: FunctionEvent["type"][] = [];
    gated.watch((event) => events.push(event.type));
    await Promise.resolve();
    expect(events).toEqual(["put"]);
    endpointsSynced();
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual(["put", "synced"]);
  });

  it("delivers nothing to a watch stopped before the EndpointSlices synced", async () => {
    let endpointsSynced: () => void = () => undefined;
    const gated = syncedAfter(
      new MemoryFunctionStore(),
      new Promise<void>((resolve) => (endpointsSynced = resolve)),
    );
    const events: string[] = [];
    const stop = gated.watch((event) => events.push(event.type));
    stop();
    endpointsSynced();
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual([]);
  });
});
