// Dispatch across real watchdog replicas: the hard per-replica limit, load spread, a replica drained
// and removed under load, and a replica that dies without notice.
import type { Agent } from "node:http";
import {
  call,
  loadAgent,
  makeFunction,
  startGateway,
  startReplica,
  waitFor,
  type Reply,
  type ReplicaProcess,
  type TestGateway,
} from "../testing/gateway.js";

const ref = (name: string): { name: string; namespace: string } => ({ name, namespace: "default" });

/** Runs `total` calls with at most `parallel` at a time; resolves with every reply. */
async function runCalls(
  total: number,
  parallel: number,
  next: (index: number) => Promise<Reply>,
): Promise<Reply[]> {
  const replies: Reply[] = [];
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < total) {
      const index = started++;
      replies[index] = await next(index);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return replies;
}

function countBy(replies: readonly Reply[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const reply of replies) {
    const replica = String(reply.headers["x-replica"]);
    counts.set(replica, (counts.get(replica) ?? 0) + 1);
  }
  return counts;
}

describe("dispatch", () => {
  let gw: TestGateway;
  let agent: Agent;
  const replicas: ReplicaProcess[] = [];
  const start = async (id: string, env?: Record<string, string>): Promise<ReplicaProcess> => {
    const replica = await startReplica(id, { env });
    replicas.push(replica);
    return replica;
  };

  beforeAll(async () => {
    gw = await startGateway();
    agent = loadAgent();
  });
  afterAll(async () => {
    agent.destroy();
    await gw.close();
    await Promise.all(replicas.map((replica) => replica.stop("SIGKILL")));
  });

  it("never sends a replica more than scale.concurrency calls; the excess waits in the queue", async () => {
    // The watchdogs enforce the same limit with 429, so a single excess call would fail the test.
    const env = { FLINT_MAX_INFLIGHT: "2" };
    const [a, b] = await Promise.all([start("limit-a", env), start("limit-b", env)]);
    await gw.store.create(makeFunction("limited", { scale: { concurrency: 2, target: 2 } }));
    gw.endpoints.set(ref("limited"), [a.endpoint("ready"), b.endpoint("ready")]);

    let peakQueued = 0;
    const watch = setInterval(() => {
      peakQueued = Math.max(peakQueued, gw.gateway.snapshot(ref("limited"))?.queued ?? 0);
    }, 5);
    const replies = await Promise.all(
      Array.from({ length: 16 }, () => call(`${gw.url}/function/limited/hold?ms=150`, { agent })),
    ).finally(() => clearInterval(watch));

    expect(replies.map((reply) => reply.status)).toEqual(Array<number>(16).fill(200));
    for (const replica of [a, b]) {
      const stats = JSON.parse((await call(`http://127.0.0.1:${replica.port}/stats`)).body) as {
        maxInFlight: number;
        served: number;
      };
      expect(stats.maxInFlight).toBe(2);
      expect(stats.served).toBe(8);
    }
    expect(peakQueued).toBeGreaterThanOrEqual(8);
  });

  it("spreads calls evenly over the replicas", async () => {
    const spread = await Promise.all([start("spread-a"), start("spread-b"), start("spread-c")]);
    await gw.store.create(makeFunction("spread"));
    gw.endpoints.set(
      ref("spread"),
      spread.map((replica) => replica.endpoint("ready")),
    );
    const replies = await runCalls(300, 30, () => call(`${gw.url}/function/spread/hold?ms=20`, { agent }));
    expect(replies.every((reply) => reply.status === 200)).toBe(true);
    const counts = countBy(replies);
    expect([...counts.keys()].sort()).toEqual(["spread-a", "spread-b", "spread-c"]);
    // Least-loaded sends less to a replica that answers slower (on a busy machine, one will), so
    // this asks for a fair share within a wide margin; the sequential check below is exact.
    for (const count of counts.values()) expect(count).toBeGreaterThanOrEqual(50);

    // One keep-alive client connection is not pinned to one replica (an OpenFaaS complaint).
    const single = loadAgent(1);
    const sequential = await runCalls(30, 1, () => call(`${gw.url}/function/spread`, { agent: single }));
    single.destroy();
    expect([...countBy(sequential).values()]).toEqual([10, 10, 10]);
  });

  it("drains a replica under load: no new calls reach it, its calls finish, and none fail", async () => {
    const [leaving, staying] = await Promise.all([start("leaving"), start("staying")]);
    await gw.store.create(makeFunction("rolling"));
    gw.endpoints.set(ref("rolling"), [leaving.endpoint("ready"), staying.endpoint("ready")]);

    let stop = false;
    let drainedAt = Number.POSITIVE_INFINITY;
    const failures: string[] = [];
    const after: string[] = [];
    let succeeded = 0;
    const worker = async (): Promise<void> => {
      while (!stop) {
        const startedAt = performance.now();
        try {
          const reply = await call(`${gw.url}/function/rolling/hold?ms=20`, { agent });
          if (reply.status !== 200) failures.push(`${reply.status} ${reply.body}`);
          else succeeded++;
          if (startedAt > drainedAt) after.push(String(reply.headers["x-replica"]));
        } catch (error) {
          failures.push(String(error));
        }
      }
    };
    const workers = Array.from({ length: 16 }, worker);

    await waitFor("load on both replicas", () => succeeded >= 100);
    // The platform's order on scale-down: mark the endpoint draining, then SIGTERM the replica.
    gw.endpoints.set(ref("rolling"), [leaving.endpoint("draining"), staying.endpoint("ready")]);
    drainedAt = performance.now();
    expect(await leaving.stop("SIGTERM")).toBe(0);
    gw.endpoints.set(ref("rolling"), [staying.endpoint("ready")]);
    const atRemoval = succeeded;
    await waitFor("load after the removal", () => succeeded >= atRemoval + 100);
    stop = true;
    await Promise.all(workers);

    expect(failures).toEqual([]);
    expect(after.length).toBeGreaterThan(100);
    expect(new Set(after)).toEqual(new Set(["staying"]));
    expect(gw.gateway.snapshot(ref("rolling"))?.replicas).toEqual([
      { id: "staying", state: "ready", inFlight: 0 },
    ]);
  }, 60_000);

  it("retries calls on another replica when one dies without notice, and stops using it", async () => {
    const [dead, alive] = await Promise.all([start("dead"), start("alive")]);
    await gw.store.create(makeFunction("crashy"));
    gw.endpoints.set(ref("crashy"), [dead.endpoint("ready"), alive.endpoint("ready")]);
    // Warm keep-alive connections to both, so both kinds of failure happen: reset and refused.
    await runCalls(10, 2, () => call(`${gw.url}/function/crashy`, { agent }));

    await dead.stop("SIGKILL");
    const gets = await runCalls(30, 3, () => call(`${gw.url}/function/crashy`, { agent }));
    const posts = await runCalls(10, 2, () =>
      call(`${gw.url}/function/crashy/count`, { agent, method: "POST", body: "abc" }),
    );
    expect(gets.map((reply) => reply.status)).toEqual(Array<number>(30).fill(200));
    expect(posts.map((reply) => JSON.parse(reply.body) as unknown)).toEqual(
      Array<unknown>(10).fill({ replica: "alive", bytes: 3 }),
    );
    expect(gw.gateway.snapshot(ref("crashy"))?.replicas).toContainEqual({
      id: "dead",
      state: "starting",
      inFlight: 0,
    });
    gw.endpoints.set(ref("crashy"), [alive.endpoint("ready")]);
  });
});
