// Leader election timelines with an explicit clock and an in-memory Lease (resourceVersion checked).
import type { V1Lease } from "@kubernetes/client-node";
import { pino } from "pino";
import { ManualClock } from "../platform/clock.js";
import { LeaderElector, type LeaseClient } from "./leader.js";

/** One Lease in memory, with optimistic concurrency like the API server. */
class MemoryLease {
  lease: V1Lease | undefined;
  private version = 0;
  client(partitioned: () => boolean = () => false): LeaseClient {
    const check = (): void => {
      if (partitioned()) throw new Error("connection refused");
    };
    return {
      get: () => {
        check();
        return Promise.resolve(this.lease === undefined ? undefined : structuredClone(this.lease));
      },
      create: (lease) => {
        check();
        if (this.lease !== undefined) throw new Error("already exists");
        this.lease = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(++this.version) } };
        return Promise.resolve(this.lease);
      },
      replace: (lease) => {
        check();
        if (lease.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion)
          throw new Error("conflict");
        this.lease = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(++this.version) } };
        return Promise.resolve(this.lease);
      },
    };
  }
}

const settings = (identity: string) => ({
  leaseName: "flint-controller",
  leaseNamespace: "flint",
  identity,
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
});
const logger = pino({ level: "silent" });

/** Lets the elector's awaited lease calls settle. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

async function advance(clock: ManualClock, ms: number): Promise<void> {
  for (let step = 0; step < ms; step += 500) {
    clock.advance(500);
    await settle();
  }
}

describe("LeaderElector", () => {
  it("one candidate leads; the other takes over once the leader stops renewing for a lease duration", async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const store = new MemoryLease();
    let partitioned = false;
    const events: string[] = [];
    const a = new LeaderElector(
      store.client(() => partitioned),
      settings("a"),
      clock,
      logger,
      {
        onStartedLeading: () => events.push("a leads"),
        onStoppedLeading: () => events.push("a stops"),
      },
    );
    const b = new LeaderElector(store.client(), settings("b"), clock, logger, {
      onStartedLeading: () => events.push("b leads"),
      onStoppedLeading: () => events.push("b stops"),
    });
    a.start();
    await settle();
    b.start();
    await advance(clock, 20_000);
    expect(events).toEqual(["a leads"]);
    expect(store.lease?.spec?.holderIdentity).toBe("a");

    // a is cut off from the API server: it steps down after the renew deadline; b waits a full
    // lease duration from when it last saw a renewal, then takes the lease.
    partitioned = true;
    await advance(clock, 10_000);
    expect(events).toEqual(["a leads", "a stops"]);
    expect(b.leader).toBe(false);
    await advance(clock, 8_000);
    expect(events).toEqual(["a leads", "a stops", "b leads"]);
    expect(store.lease?.spec).toMatchObject({ holderIdentity: "b", leaseTransitions: 1 });

    // a comes back and does not take the lease from a live leader.
    partitioned = false;
    await advance(clock, 30_000);
    expect(store.lease?.spec?.holderIdentity).toBe("b");
    expect(a.leader).toBe(false);
    await a.stop();
    await b.stop();
  });

  it("releases the lease on stop, so a successor takes it at its next try", async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const store = new MemoryLease();
    const a = new LeaderElector(store.client(), settings("a"), clock, logger, {
      onStartedLeading: () => undefined,
      onStoppedLeading: () => undefined,
    });
    let bLeads = false;
    const b = new LeaderElector(store.client(), settings("b"), clock, logger, {
      onStartedLeading: () => (bLeads = true),
      onStoppedLeading: () => undefined,
    });
    a.start();
    await settle();
    b.start();
    await advance(clock, 4_000);
    await a.stop();
    expect(store.lease?.spec?.holderIdentity).toBe("");
    await advance(clock, 2_000);
    expect(bLeads).toBe(true);
    await b.stop();
  });
});
