// Scale from zero through the activator: one activation for a burst, probing a starting replica,
// bounded queues (depth and bytes) and the activation deadline, the cold-start header and metric,
// and the concurrency samples the autoscaler reads.
import { request } from "node:http";
import { ManualClock } from "../platform/clock.js";
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

function metricValue(metrics: string, line: string): number {
  const found = metrics.split("\n").find((candidate) => candidate.startsWith(`${line} `));
  if (found === undefined) throw new Error(`no metric ${line} in\n${metrics}`);
  return Number(found.slice(line.length + 1));
}

describe("activation", () => {
  const replicas: ReplicaProcess[] = [];
  const gateways: TestGateway[] = [];
  const gateway = async (options: Parameters<typeof startGateway>[0]): Promise<TestGateway> => {
    const gw = await startGateway(options);
    gateways.push(gw);
    return gw;
  };
  const replica = async (id: string, waitReady = true): Promise<ReplicaProcess> => {
    const started = await startReplica(id, { waitReady });
    replicas.push(started);
    return started;
  };
  afterAll(async () => {
    await Promise.all(gateways.map((gw) => gw.close()));
    await Promise.all(replicas.map((r) => r.stop("SIGKILL")));
  });

  it("holds 1,000 concurrent calls at zero replicas, activates once, and serves all of them", async () => {
    const gw = await gateway({});
    await gw.store.create(makeFunction("cold"));
    const total = 1000;
    gw.scaleTarget.onActivate = () => {
      // The platform starts a replica only once the whole burst waits, and reports it as starting:
      // the gateway's probe of /_/ready is what lets the calls through.
      void waitFor("the whole burst to queue", () => gw.gateway.snapshot(ref("cold"))?.queued === total)
        .then(() => replica("cold-1", false))
        .then((started) => gw.endpoints.set(ref("cold"), [started.endpoint("starting")]))
        .catch((error: unknown) => console.error("could not start the replica", error));
    };
    const agent = loadAgent(total);
    let replies: Reply[];
    try {
      replies = await Promise.all(
        Array.from({ length: total }, () => call(`${gw.url}/function/cold`, { agent })),
      );
    } finally {
      agent.destroy();
    }

    expect(gw.scaleTarget.activations).toEqual([ref("cold")]);
    expect(replies.filter((reply) => reply.status === 200)).toHaveLength(total);
    expect(replies.every((reply) => /^\d+$/.test(String(reply.headers["x-flint-cold-start"])))).toBe(true);
    const metrics = (await call(`${gw.url}/metrics`)).body;
    expect(
      metricValue(metrics, 'flint_gateway_cold_start_duration_seconds_count{function="default/cold"}'),
    ).toBe(total);
    expect(metricValue(metrics, 'flint_gateway_activations_total{function="default/cold"}')).toBe(1);
    expect(metricValue(metrics, 'flint_gateway_requests_total{function="default/cold",code="200"}')).toBe(
      total,
    );
    expect(gw.gateway.snapshot(ref("cold"))).toMatchObject({ queued: 0, inFlight: 0 });
    expect(metricValue(metrics, "flint_gateway_queue_bytes")).toBe(0);
  }, 60_000);

  it("answers 503 with Retry-After once the function's queue is full, and serves the calls it kept", async () => {
    const gw = await gateway({ env: { FLINT_QUEUE_DEPTH: "50", FLINT_RETRY_AFTER: "2s" } });
    await gw.store.create(makeFunction("full"));
    const agent = loadAgent(100);
    const pending = Array.from({ length: 80 }, () => call(`${gw.url}/function/full/hold?ms=1`, { agent }));
    await waitFor("the queue to fill", () => gw.gateway.snapshot(ref("full"))?.queued === 50);

    const started = await replica("full-1");
    gw.endpoints.set(ref("full"), [started.endpoint("ready")]);
    const replies = await Promise.all(pending);
    agent.destroy();

    const refused = replies.filter((reply) => reply.status === 503);
    expect(refused).toHaveLength(30);
    for (const reply of refused) {
      expect(reply.headers["retry-after"]).toBe("2");
      expect(JSON.parse(reply.body)).toMatchObject({ error: { code: "ACTIVATION_QUEUE_FULL" } });
    }
    expect(replies.filter((reply) => reply.status === 200)).toHaveLength(50);
    expect(gw.scaleTarget.activations).toHaveLength(1);
  });

  it("keeps waiting calls within the global byte budget, however many arrive", async () => {
    const limitBytes = 64 * 1024;
    const gw = await gateway({ env: { FLINT_QUEUE_BYTES: "64Ki", FLINT_QUEUE_DEPTH: "100000" } });
    await gw.store.create(makeFunction("heavy"));
    const body = "x".repeat(10_000);
    const agent = loadAgent(3000);
    const queueBytes = async (): Promise<number> =>
      metricValue((await call(`${gw.url}/metrics`)).body, "flint_gateway_queue_bytes");

    const kept = Array.from({ length: 4 }, () =>
      call(`${gw.url}/function/heavy/count`, { method: "POST", body, agent }),
    );
    await waitFor("four calls to wait", () => gw.gateway.snapshot(ref("heavy"))?.queued === 4);
    const heldBytes = await queueBytes();
    expect(heldBytes).toBeGreaterThan(4 * 10_000);
    expect(heldBytes).toBeLessThanOrEqual(limitBytes);

    // A flood: every further call is refused at once, and what is held does not grow.
    const flood = await Promise.all(
      Array.from({ length: 2000 }, () =>
        call(`${gw.url}/function/heavy/count`, { method: "POST", body, agent }),
      ),
    );
    expect(flood.every((reply) => reply.status === 503)).toBe(true);
    expect(JSON.parse(flood[0]!.body)).toMatchObject({ error: { code: "QUEUE_BYTES_EXHAUSTED" } });
    expect(flood[0]!.headers["retry-after"]).toBe("1");
    expect(await queueBytes()).toBe(heldBytes);
    expect(gw.gateway.snapshot(ref("heavy"))?.queued).toBe(4);

    const started = await replica("heavy-1");
    gw.endpoints.set(ref("heavy"), [started.endpoint("ready")]);
    const replies = await Promise.all(kept);
    agent.destroy();
    expect(replies.map((reply) => JSON.parse(reply.body) as unknown)).toEqual(
      Array<unknown>(4).fill({ replica: "heavy-1", bytes: 10_000 }),
    );
    expect(await queueBytes()).toBe(0);
  }, 60_000);

  it("fails waiting calls with 503 at the activation deadline when no replica comes", async () => {
    const clock = new ManualClock();
    const gw = await gateway({ clock, env: { FLINT_ACTIVATION_TIMEOUT: "10s" } });
    await gw.store.create(makeFunction("never"));
    const pending = Array.from({ length: 3 }, () => call(`${gw.url}/function/never`));
    await waitFor("the calls to wait", () => gw.gateway.snapshot(ref("never"))?.queued === 3);

    clock.advance(9999);
    expect(gw.gateway.snapshot(ref("never"))?.queued).toBe(3);
    clock.advance(1);
    const replies = await Promise.all(pending);
    for (const reply of replies) {
      expect(reply.status).toBe(503);
      expect(reply.headers["retry-after"]).toBe("1");
      expect(JSON.parse(reply.body)).toMatchObject({ error: { code: "ACTIVATION_TIMEOUT" } });
    }
    expect(gw.scaleTarget.activations).toHaveLength(1);

    // The next call starts a new cold episode with a new activation request.
    const next = call(`${gw.url}/function/never`);
    await waitFor("a second activation", () => gw.scaleTarget.activations.length === 2);
    clock.advance(10_000);
    expect((await next).status).toBe(503);
  });

  it("fails calls waiting for a function that is deleted with 404", async () => {
    const gw = await gateway({});
    await gw.store.create(makeFunction("doomed"));
    const pending = call(`${gw.url}/function/doomed`);
    await waitFor("the call to wait", () => gw.gateway.snapshot(ref("doomed"))?.queued === 1);
    await gw.store.delete(ref("doomed"));
    const reply = await pending;
    expect(reply.status).toBe(404);
    expect(JSON.parse(reply.body)).toMatchObject({ error: { code: "FUNCTION_NOT_FOUND" } });
    expect((await call(`${gw.url}/metrics`)).body).not.toContain("default/doomed");
  });

  it("publishes each second's time-weighted concurrency, queued calls included, and marks cold calls", async () => {
    const clock = new ManualClock();
    const gw = await gateway({ clock, env: { FLINT_GATEWAY_ID: "gw-test" } });
    const warm = await replica("stats-1");
    await gw.store.create(makeFunction("busy"));
    await gw.store.create(makeFunction("sleepy"));
    gw.endpoints.set(ref("busy"), [warm.endpoint("ready")]);

    const hanging = Array.from({ length: 2 }, () => {
      const req = request(`${gw.url}/function/busy/hang`);
      req.on("error", () => undefined);
      req.end();
      return req;
    });
    const cold = call(`${gw.url}/function/sleepy`);
    await waitFor("two calls in flight", () => gw.gateway.snapshot(ref("busy"))?.inFlight === 2);
    await waitFor("one call waiting", () => gw.gateway.snapshot(ref("sleepy"))?.queued === 1);

    clock.advance(1000);
    const t1 = clock.now();
    expect(gw.bus.samples).toEqual([
      {
        function: "default/busy",
        source: "gw-test",
        timestampMs: t1,
        windowMs: 1000,
        averageConcurrency: 2,
        averageQueued: 0,
        peakConcurrency: 2,
        requests: 2,
        readyReplicas: 1,
        asyncQueued: 0,
      },
      {
        function: "default/sleepy",
        source: "gw-test",
        timestampMs: t1,
        windowMs: 1000,
        averageConcurrency: 1,
        averageQueued: 1,
        peakConcurrency: 1,
        requests: 1,
        readyReplicas: 0,
        asyncQueued: 0,
      },
    ]);

    gw.endpoints.set(ref("sleepy"), [warm.endpoint("ready")]);
    const reply = await cold;
    expect(reply.headers["x-flint-cold-start"]).toBe("1000");
    for (const req of hanging) req.destroy();
    await waitFor("the hanging calls to end", () => gw.gateway.snapshot(ref("busy"))?.inFlight === 0);
    clock.advance(1000);
    const second = gw.bus.samples.slice(2);
    expect(second.map((s) => [s.function, s.averageConcurrency, s.averageQueued, s.requests])).toEqual([
      ["default/busy", 0, 0, 0],
      ["default/sleepy", 0, 0, 0],
    ]);
  });
});
