// The local status: what the supervisor reports, as the conditions Kubernetes shows.
import type { FunctionRef, FunctionStatus } from "../api/index.js";
import { ManualClock } from "../platform/clock.js";
import { MemoryFunctionStore } from "../platform/function-store.js";
import { makeFunction } from "../testing/gateway.js";
import { LiveStatusStore, observeReplicas, type ReplicaView } from "./live-status.js";

interface FakeReplica {
  state: "spawned" | "starting" | "ready" | "draining";
  version: string;
  startedAtMs: number;
}

/** A supervisor as the status sees it; tests set what it reports. */
class FakeSupervisor implements ReplicaView {
  desired: number | undefined = 0;
  list: FakeReplica[] = [];
  crashes = 0;
  lastExit: string | undefined;
  outOfMemory = false;
  replicas(_ref: FunctionRef): readonly FakeReplica[] {
    return this.list;
  }
  health(_ref: FunctionRef): { crashes: number; lastExit: string | undefined; outOfMemory: boolean } {
    return { crashes: this.crashes, lastExit: this.lastExit, outOfMemory: this.outOfMemory };
  }
  desiredReplicas(_ref: FunctionRef): number | undefined {
    return this.desired;
  }
}

const replica = (state: FakeReplica["state"], version = "v1", startedAtMs = 1): FakeReplica => ({
  state,
  version,
  startedAtMs,
});

describe("observeReplicas", () => {
  it.each<[string, Partial<FakeSupervisor>, Record<string, unknown>]>([
    ["unknown to the supervisor", { desired: undefined }, { state: { kind: "absent" }, desiredReplicas: 0 }],
    ["at zero", { desired: 0 }, { state: { kind: "current" }, replicas: 0, readyReplicas: 0 }],
    [
      "draining replicas do not count",
      { desired: 1, list: [replica("ready"), replica("draining")] },
      { state: { kind: "current" }, replicas: 1, readyReplicas: 1 },
    ],
    [
      "crash-looping: crashes and no replica ready",
      { desired: 1, crashes: 2, lastExit: "replica hello-2 exited (code 1, signal null); see flint logs" },
      {
        state: {
          kind: "failing",
          reason: "ReplicaCrashing",
          message: "replica hello-2 exited (code 1, signal null); see flint logs",
        },
      },
    ],
    [
      "crash-looping over the memory limit: OOMKilled",
      { desired: 1, crashes: 1, outOfMemory: true, lastExit: "replica hello-2 was killed for using more" },
      {
        state: { kind: "failing", reason: "OOMKilled", message: "replica hello-2 was killed for using more" },
      },
    ],
    [
      "a crash while another replica serves is not a crash loop",
      { desired: 2, crashes: 1, list: [replica("ready")] },
      { state: { kind: "current" } },
    ],
    [
      "a crash after scaling to zero is forgotten",
      { desired: 0, crashes: 3 },
      { state: { kind: "current" } },
    ],
    [
      "two versions: rolling out",
      {
        desired: 2,
        list: [replica("ready", "v1", 1), replica("ready", "v1", 2), replica("starting", "v2", 9)],
      },
      {
        state: { kind: "rollingOut", message: "rolling out: 1 of 2 replicas updated, 2 ready" },
        replicas: 3,
      },
    ],
  ])("%s", (_name, reported, want) => {
    const supervisor = Object.assign(new FakeSupervisor(), reported);
    const observed = observeReplicas(makeFunction("hello"), supervisor, {
      baseUrl: "http://127.0.0.1:8080",
      defaultNamespace: "default",
    });
    expect(observed).toMatchObject({ url: "http://127.0.0.1:8080/function/hello", ...want });
  });

  it("names a function of another namespace with it, in the URL and the logs command", () => {
    const observed = observeReplicas(makeFunction("hello", {}, "team"), new FakeSupervisor(), {
      baseUrl: "http://127.0.0.1:8080",
      defaultNamespace: "default",
    });
    expect(observed).toMatchObject({
      url: "http://127.0.0.1:8080/function/hello.team",
      inspectCommand: "flint logs hello.team",
    });
  });
});

describe("LiveStatusStore", () => {
  const ref = { name: "hello", namespace: "default" };
  let clock: ManualClock;
  let supervisor: FakeSupervisor;
  let inner: MemoryFunctionStore;
  let store: LiveStatusStore;
  beforeEach(async () => {
    clock = new ManualClock(Date.parse("2026-03-01T10:00:00.000Z"));
    supervisor = new FakeSupervisor();
    inner = new MemoryFunctionStore(clock);
    store = new LiveStatusStore(inner, {
      supervisor,
      clock,
      baseUrl: () => "http://127.0.0.1:8080",
      defaultNamespace: "default",
    });
    await inner.create(makeFunction("hello"));
  });

  const ready = async (): Promise<string> => {
    const fn = await store.get(ref);
    const c = fn?.status?.conditions?.find((condition) => condition.type === "Ready");
    return `${c?.status} ${c?.reason} @ ${c?.lastTransitionTime}`;
  };

  it("answers the same conditions as Kubernetes, keeping transition times between reads", async () => {
    const fn = await store.get(ref);
    expect(fn?.status?.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ["Ready", "True", "ScaledToZero"],
      ["ConfigValid", "True", "Valid"],
      ["DeploymentReady", "True", "ScaledToZero"],
    ]);
    expect(fn?.status).toMatchObject({
      observedGeneration: 1,
      replicas: 0,
      readyReplicas: 0,
      url: "http://127.0.0.1:8080/function/hello",
    });

    clock.advance(5_000); // a call wakes it
    supervisor.desired = 1;
    supervisor.list = [replica("starting")];
    expect(await ready()).toBe("True Activating @ 2026-03-01T10:00:00Z");

    clock.advance(5_000); // the replica crashes, and again
    supervisor.list = [];
    supervisor.crashes = 2;
    supervisor.lastExit = "replica hello-1 exited (code 1, signal null); see flint logs";
    expect(await ready()).toBe("False ReplicaCrashing @ 2026-03-01T10:00:10Z");
    clock.advance(5_000);
    expect(await ready()).toBe("False ReplicaCrashing @ 2026-03-01T10:00:10Z");

    clock.advance(5_000); // fixed: a replica is ready
    supervisor.crashes = 0;
    supervisor.list = [replica("ready")];
    expect(await ready()).toBe("True Ready @ 2026-03-01T10:00:20Z");
  });

  it("lists with the same status as get", async () => {
    const [listed] = await store.list();
    expect(listed?.status).toEqual((await store.get(ref))?.status);
  });

  it("starts afresh for a function deleted and created again behind its back (a manifest file)", async () => {
    const first: FunctionStatus | undefined = (await store.get(ref))?.status;
    clock.advance(60_000);
    await inner.delete(ref);
    await inner.create(makeFunction("hello"));
    const again = (await store.get(ref))?.status;
    expect(again?.conditions?.[0]?.lastTransitionTime).not.toBe(first?.conditions?.[0]?.lastTransitionTime);
    expect(again?.conditions?.[0]?.lastTransitionTime).toBe("2026-03-01T10:01:00Z");
  });
});
