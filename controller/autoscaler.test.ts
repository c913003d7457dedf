// The leader's autoscaler with an explicit clock: resumes what runs (no write, no early scale-down),
// acts on activation pokes at once, writes scale, and hands its history to a successor.
import type { V1Deployment } from "@kubernetes/client-node";
import { pino } from "pino";
import { policyByName } from "../autoscaler/index.js";
import { ManualClock } from "../platform/clock.js";
import { MemoryBus } from "../platform/memory.js";
import { ClusterAutoscaler, type PolicyStateStore } from "./autoscaler.js";
import { functionFixture } from "../testing/controller.js";

class MemoryStateStore implements PolicyStateStore {
  readonly states = new Map<string, unknown>();
  load(keys: readonly string[]): Promise<Map<string, unknown>> {
    return Promise.resolve(
      new Map(keys.filter((k) => this.states.has(k)).map((k) => [k, this.states.get(k)])),
    );
  }
  save(states: ReadonlyMap<string, unknown>): Promise<void> {
    for (const [key, state] of states) this.states.set(key, JSON.parse(JSON.stringify(state)));
    return Promise.resolve();
  }
  delete(key: string): Promise<void> {
    this.states.delete(key);
    return Promise.resolve();
  }
}

/** Deployments whose scale writes land at once (ready as soon as asked). */
class Deployments {
  readonly byKey = new Map<string, V1Deployment>();
  readonly writes: { key: string; replicas: number }[] = [];
  set(key: string, replicas: number): void {
    this.byKey.set(key, {
      spec: { replicas, selector: {}, template: {} },
      status: { readyReplicas: replicas },
    });
  }
  get = (namespace: string, name: string): V1Deployment | undefined => this.byKey.get(`${namespace}/${name}`);
  scale = (namespace: string, name: string, replicas: number): Promise<void> => {
    this.writes.push({ key: `${namespace}/${name}`, replicas });
    this.set(`${namespace}/${name}`, replicas);
    return Promise.resolve();
  };
}

function setup(store = new MemoryStateStore(), deployments = new Deployments()) {
  const clock = new ManualClock(1_700_000_000_000);
  const bus = new MemoryBus();
  const autoscaler = new ClusterAutoscaler({
    policy: policyByName("flint"),
    signals: bus,
    store,
    deployments,
    scale: deployments.scale,
    config: { autoscalerTickMs: 1000, initialScale: 1 },
    clock,
    logger: pino({ level: "silent" }),
  });
  return { clock, bus, autoscaler, store, deployments };
}

const hello = functionFixture(
  "  image: registry.example/hello:1\n  handler: { mode: module, entry: h.js }\n  scale: { min: 0, max: 10 }",
);
const ref = { name: "hello", namespace: "team" };

describe("ClusterAutoscaler", () => {
  it("resumes a running function without writing and without scaling it down in its first window", async () => {
    const { clock, autoscaler, deployments } = setup();
    deployments.set("team/hello", 3);
    autoscaler.onFunction("put", hello);
    await autoscaler.start();
    clock.advance(10_000);
    expect(deployments.writes).toEqual([]);
    await autoscaler.stop();
  });

  it("scales from zero at once on an activation poke", async () => {
    const { bus, autoscaler, deployments } = setup();
    deployments.set("team/hello", 0);
    autoscaler.onFunction("put", hello);
    await autoscaler.start();
    await bus.activate(ref);
    expect(deployments.writes).toEqual([{ key: "team/hello", replicas: 1 }]);
    await autoscaler.stop();
  });

  it("does nothing before it leads and after it stops", async () => {
    const { bus, autoscaler, deployments } = setup();
    deployments.set("team/hello", 0);
    autoscaler.onFunction("put", hello);
    await bus.activate(ref);
    expect(deployments.writes).toEqual([]);
    await autoscaler.start();
    await autoscaler.stop();
    await bus.activate(ref);
    expect(deployments.writes).toEqual([]);
  });

  it("stores each function's state when it stops, and a successor starts from it", async () => {
    const first = setup();
    first.deployments.set("team/hello", 0);
    first.autoscaler.onFunction("put", hello);
    await first.autoscaler.start();
    await first.bus.activate(ref);
    first.clock.advance(3000);
    await first.autoscaler.stop();
    const stored = first.store.states.get("team/hello");
    expect(stored).toBeDefined();

    const second = setup(first.store, first.deployments);
    second.autoscaler.onFunction("put", hello);
    await second.autoscaler.start();
    second.clock.advance(1000);
    await second.autoscaler.stop();
    expect(second.store.states.get("team/hello")).toBeDefined();
  });

  it("tracks a function created while it leads at the replicas its Deployment will start with", async () => {
    const { clock, autoscaler, deployments } = setup();
    await autoscaler.start();
    autoscaler.onFunction("put", hello);
    clock.advance(5000);
    expect(deployments.writes).toEqual([]);
    autoscaler.onFunction("delete", hello);
    await autoscaler.stop();
  });
});
