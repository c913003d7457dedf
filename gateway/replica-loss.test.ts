// Losing replicas under load: real watchdog processes behind a real gateway, steady GETs and POSTs,
// and `kill -9` of replicas mid-load. Idempotent calls are sent again elsewhere; a POST that may have
// run is answered with the named error (502, X-Flint-Error: replica-lost), never a bare 502.
import type { Agent } from "node:http";
import { freeLoopbackPort } from "../platform/free-port.js";
import type { Endpoint } from "../platform/ports.js";
import {
  call,
  loadAgent,
  makeFunction,
  startGateway,
  startReplica,
  waitFor,
  type ReplicaProcess,
  type TestGateway,
} from "../testing/gateway.js";

const steady = { name: "steady", namespace: "default" };

/** What one call ended with: its status and X-Flint-Error, or the client-side error. */
interface Outcome {
  readonly method: string;
  readonly status: number;
  readonly flintError: string | undefined;
  readonly detail: string;
}

/** Calls in a loop until stopped, each keeping its own keep-alive connections, like a real client. */
class Load {
  readonly outcomes: Outcome[] = [];
  private stopped = false;
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly url: string,
    private readonly agent: Agent,
  ) {}

  start(method: "GET" | "POST", workers: number, path: string): void {
    for (let i = 0; i < workers; i++) this.loops.push(this.loop(method, path));
  }

  get done(): number {
    return this.outcomes.length;
  }

  failures(method: string): Outcome[] {
    return this.outcomes.filter((outcome) => outcome.method === method && outcome.status !== 200);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  private async loop(method: "GET" | "POST", path: string): Promise<void> {
    while (!this.stopped) {
      try {
        const reply = await call(`${this.url}${path}`, {
          method,
          agent: this.agent,
          ...(method === "POST" ? { body: "payload", headers: { "content-type": "text/plain" } } : {}),
        });
        const flintError = reply.headers["x-flint-error"];
        this.outcomes.push({
          method,
          status: reply.status,
          flintError: typeof flintError === "string" ? flintError : undefined,
          detail: reply.status === 200 ? "" : reply.body,
        });
      } catch (error) {
        this.outcomes.push({ method, status: 0, flintError: undefined, detail: String(error) });
      }
    }
  }
}

describe("kill -9 of replicas under load", () => {
  let gw: TestGateway;
  let replicas: ReplicaProcess[];
  let agent: Agent;

  beforeAll(async () => {
    [gw, ...replicas] = await Promise.all([
      startGateway(),
      startReplica("r1"),
      startReplica("r2"),
      startReplica("r3"),
    ]);
    agent = loadAgent(64);
    await gw.store.create(makeFunction("steady"));
    gw.endpoints.set(
      steady,
      replicas.map((replica) => replica.endpoint("ready")),
    );
  }, 60_000);
  afterAll(async () => {
    agent.destroy();
    await gw.close();
    await Promise.all(replicas.map((replica) => replica.stop("SIGKILL")));
  });

  /** Calls the gateway has in flight on `replica`. */
  const inFlightOn = (replica: ReplicaProcess): number =>
    gw.gateway.snapshot(steady)?.replicas.find((r) => r.id === replica.id)?.inFlight ?? 0;

  it("fails no GET, and answers every POST it loses with replica-lost", async () => {
    const load = new Load(gw.url, agent);
    // The handler holds each call, so every kill lands on calls in flight, POSTs among them.
    load.start("GET", 6, "/function/steady/hold?ms=20");
    load.start("POST", 6, "/function/steady/hold?ms=40");
    try {
      const [first, second] = replicas as [ReplicaProcess, ReplicaProcess, ReplicaProcess];
      await waitFor("load on every replica", () => load.done > 200 && inFlightOn(first) >= 2);

      // First kill: the platform has not noticed, so the dead replica still looks ready.
      first.child.kill("SIGKILL");
      await first.exited;
      let mark = load.done;
      await waitFor("calls after the first kill", () => load.done > mark + 300, { timeoutMs: 30_000 });

      // The platform notices and drops it; then the second replica dies too, mid-load.
      gw.endpoints.set(
        steady,
        replicas.slice(1).map((replica) => replica.endpoint("ready")),
      );
      await waitFor("load on the second replica", () => inFlightOn(second) >= 2);
      second.child.kill("SIGKILL");
      await second.exited;
      mark = load.done;
      await waitFor("calls after the second kill", () => load.done > mark + 300, { timeoutMs: 30_000 });
    } finally {
      await load.stop();
    }

    const gets = load.outcomes.filter((outcome) => outcome.method === "GET").length;
    const posts = load.outcomes.length - gets;
    const failedPosts = load.failures("POST");
    console.log(
      `calls: ${gets} GETs, ${posts} POSTs; failed: ${load.failures("GET").length} GETs, ${failedPosts.length} POSTs`,
    );
    expect(load.failures("GET")).toEqual([]);
    for (const failed of failedPosts) {
      expect(failed).toMatchObject({ status: 502, flintError: "replica-lost" });
      expect(JSON.parse(failed.detail)).toMatchObject({ error: { code: "REPLICA_LOST" } });
    }
    // The survivor served everything after the kills.
    expect((await call(`${gw.url}/function/steady`)).body).toBe("hello from r3\n");
  }, 120_000);
});

describe("replicas that refuse connections", () => {
  let gw: TestGateway;
  let live: ReplicaProcess;

  beforeAll(async () => {
    [gw, live] = await Promise.all([startGateway(), startReplica("live")]);
    await gw.store.create(makeFunction("refused"));
  });
  afterAll(async () => {
    await gw.close();
    await live.stop();
  });

  it("sends a POST whose connection was refused on to the next replica, body intact", async () => {
    const ref = { name: "refused", namespace: "default" };
    // Nothing listens on these ports: each send to one is refused before a byte is written.
    const dead = async (id: string): Promise<Endpoint> => ({
      id,
      host: "127.0.0.1",
      port: await freeLoopbackPort(),
      state: "ready",
    });
    // In this order the rotating pick tries both dead replicas before the live one.
    gw.endpoints.set(ref, [await dead("dead-1"), live.endpoint("ready"), await dead("dead-2")]);
    const reply = await call(`${gw.url}/function/refused/count`, { method: "POST", body: "x".repeat(1000) });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ replica: "live", bytes: 1000 });
    const states = gw.gateway.snapshot(ref)?.replicas.map(({ id, state }) => `${id}=${state}`);
    expect(states).toEqual(["dead-1=starting", "live=ready", "dead-2=starting"]);
  });
});
