// Async calls end to end in one process: a real gateway, real nats-server -js and redis-server, and a
// real HTTP function whose behaviour each test chooses by path.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { startNats, startRedis, type TestServer } from "../../testing/servers.js";
import { loadConfig } from "../config.js";
import { call, makeFunction, startGateway, TOKEN, waitFor, type TestGateway } from "../../testing/gateway.js";
import { openAsyncBackends } from "./connect.js";
import type { CallRecord } from "./ports.js";

const logger = pino({ level: process.env["FLINT_TEST_LOG"] ?? "silent" });
const auth = { authorization: `Bearer ${TOKEN}` };

/** The function: counts attempts per call id and answers as the path says. */
class FunctionServer {
  readonly attempts = new Map<string, number>();
  readonly bodies = new Map<string, string>();
  server!: Server;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const callId = String(req.headers["x-call-id"]);
    const attempt = (this.attempts.get(callId) ?? 0) + 1;
    this.attempts.set(callId, attempt);
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      this.bodies.set(callId, body);
      const path = req.url ?? "/";
      if (path.startsWith("/fail-twice") && attempt <= 2) return void res.writeHead(500).end("not yet");
      if (path.startsWith("/always-fail")) return void res.writeHead(503).end("down");
      if (path.startsWith("/bad-request")) return void res.writeHead(400).end("no");
      if (path.startsWith("/slow")) return void setTimeout(() => res.writeHead(200).end("slow"), 300);
      res.writeHead(200, { "content-type": "text/plain", "x-attempt": String(attempt) });
      res.end(`done ${body} attempt=${String(req.headers["x-flint-attempt"])}`);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A callback receiver that refuses the first `failures` POSTs. */
class CallbackReceiver {
  readonly received: { headers: IncomingMessage["headers"]; body: string }[] = [];
  posts = 0;
  server!: Server;
  url = "";

  constructor(private readonly failures: number) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        this.posts++;
        if (this.posts <= this.failures) return void res.writeHead(500).end();
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const fastRetries = { maxRetries: 3, backoff: { initial: "20ms", max: "100ms" }, deadLetter: true };

describe.each([
  ["NATS JetStream and Redis", true],
  ["memory, the flint up default", false],
])("async calls on %s", (_backends, real) => {
  let nats: TestServer;
  let redis: TestServer;
  let fnServer: FunctionServer;
  let gw: TestGateway;

  beforeAll(async () => {
    if (real) [nats, redis] = await Promise.all([startNats(), startRedis()]);
    fnServer = new FunctionServer();
    await fnServer.start();
    const servers: Record<string, string> = real ? { NATS_URL: nats.url, REDIS_URL: redis.url } : {};
    const env = { ...servers, FLINT_ASYNC_MAX_BODY: "64Ki", FLINT_CALLBACK_RETRIES: "3" };
    const config = loadConfig({ FLINT_AUTH_TOKEN: TOKEN, ...env });
    const backends = await openAsyncBackends(config.async, {
      clock: { now: Date.now, setTimer },
      logger,
      name: "test",
    });
    gw = await startGateway({ env, logger, async: backends });
    await gw.store.create(makeFunction("worker", { async: fastRetries }));
    gw.endpoints.set({ name: "worker", namespace: "default" }, [
      { id: "r1", host: "127.0.0.1", port: fnServer.port, state: "ready" },
    ]);
  }, 60_000);

  afterAll(async () => {
    await gw?.close();
    await fnServer?.close();
    if (real) await Promise.all([nats.close(), redis.close()]);
  });

  async function record(callId: string): Promise<CallRecord> {
    const reply = await call(`${gw.url}/async-function/calls/${callId}`, { headers: auth });
    expect(reply.status).toBe(200);
    return JSON.parse(reply.body) as CallRecord;
  }

  async function finalRecord(callId: string, timeoutMs = 20_000): Promise<CallRecord> {
    let last: CallRecord | undefined;
    await waitFor(
      `call ${callId} to end`,
      async () => {
        last = await record(callId);
        return ["succeeded", "failed", "dead"].includes(last.state);
      },
      { timeoutMs: timeoutMs },
    );
    return last as CallRecord;
  }

  it("accepts a call with 202 and X-Call-Id, runs it, and records the result", async () => {
    const reply = await call(`${gw.url}/async-function/worker/ok?x=1`, { method: "POST", body: "hello" });
    expect(reply.status).toBe(202);
    const callId = reply.headers["x-call-id"] as string;
    expect(callId).toMatch(/^[0-9a-f-]{36}$/);
    const token = reply.headers["x-call-token"] as string;
    expect(JSON.parse(reply.body)).toEqual({ callId, status: `/async-function/calls/${callId}`, token });
    const done = await finalRecord(callId);
    expect(done).toMatchObject({ state: "succeeded", attempts: 1, status: 200, function: "default/worker" });
    expect(done.history).toHaveLength(1);
    expect(fnServer.bodies.get(callId)).toBe("hello");
  });

  it("keeps a caller's X-Call-Id, so the handler sees it on every attempt", async () => {
    const reply = await call(`${gw.url}/async-function/worker/fail-twice`, {
      method: "POST",
      headers: { "x-call-id": "my-call-0001" },
      body: "x",
    });
    expect(reply.headers["x-call-id"]).toBe("my-call-0001");
    const done = await finalRecord("my-call-0001");
    expect(done).toMatchObject({ state: "succeeded", attempts: 3, status: 200 });
    expect(done.history.map((attempt) => attempt.status)).toEqual([500, 500, 200]);
    expect(fnServer.attempts.get("my-call-0001")).toBe(3);
  });

  it("returns the same call id for a repeated Idempotency-Key and runs the call once", async () => {
    const headers = { "idempotency-key": `order-${Date.now()}` };
    const first = await call(`${gw.url}/async-function/worker/ok`, { method: "POST", headers, body: "1" });
    const second = await call(`${gw.url}/async-function/worker/ok`, { method: "POST", headers, body: "1" });
    expect(second.status).toBe(202);
    expect(second.headers["x-call-id"]).toBe(first.headers["x-call-id"]);
    expect(second.headers["x-flint-idempotent-replay"]).toBe("true");
    await finalRecord(first.headers["x-call-id"] as string);
    expect(fnServer.attempts.get(first.headers["x-call-id"] as string)).toBe(1);
  });

  it("refuses a body over the limit with 413 naming it, before storing anything", async () => {
    const reply = await call(`${gw.url}/async-function/worker/ok`, {
      method: "POST",
      body: Buffer.alloc(64 * 1024 + 1, 97),
    });
    expect(reply.status).toBe(413);
    expect(reply.body).toContain("65536 bytes");
  });

  it.each([
    ["an unknown function", "/async-function/nope", 404, "FUNCTION_NOT_FOUND"],
    ["a bad name", "/async-function/Bad_Name", 400, "BAD_FUNCTION_NAME"],
  ])("answers %s with its status", async (_what, path, status, code) => {
    const reply = await call(`${gw.url}${path}`, { method: "POST", body: "x" });
    expect(reply.status).toBe(status);
    expect(errorCode(reply.body)).toBe(code);
  });

  it("refuses a callback URL that is not http(s)", async () => {
    const reply = await call(`${gw.url}/async-function/worker/ok`, {
      method: "POST",
      headers: { "x-callback-url": "file:///etc/passwd" },
      body: "x",
    });
    expect(reply.status).toBe(400);
  });

  it("ends a call that gets a non-retried status as failed, after one attempt", async () => {
    const reply = await call(`${gw.url}/async-function/worker/bad-request`, { method: "POST", body: "x" });
    const done = await finalRecord(reply.headers["x-call-id"] as string);
    expect(done).toMatchObject({ state: "failed", attempts: 1, status: 400 });
  });

  it("dead-letters a call that fails every attempt, lists it, and redrives it", async () => {
    const reply = await call(`${gw.url}/async-function/worker/always-fail`, {
      method: "POST",
      body: "doomed",
    });
    const callId = reply.headers["x-call-id"] as string;
    const dead = await finalRecord(callId);
    expect(dead).toMatchObject({ state: "dead", attempts: 4, status: 503 });

    const listed = await call(`${gw.url}/system/async/dead-letters?function=worker`, { headers: auth });
    expect(listed.status).toBe(200);
    const letters = (
      JSON.parse(listed.body) as { items: { id: string; callId: string; attempts: unknown[] }[] }
    ).items;
    const letter = letters.find((item) => item.callId === callId);
    expect(letter?.attempts).toHaveLength(4);

    const redriven = await call(
      `${gw.url}/system/async/dead-letters/redrive?function=worker&id=${letter?.id}`,
      {
        method: "POST",
        headers: auth,
      },
    );
    expect(JSON.parse(redriven.body)).toEqual({ redriven: 1 });
    // It fails again (the function is still down) and comes back to the dead letters with its history.
    const again = await finalRecord(callId);
    expect(again.state).toBe("dead");
    expect(again.history.length).toBe(8);
    expect(fnServer.attempts.get(callId)).toBe(8);

    const purged = await call(`${gw.url}/system/async/dead-letters?function=worker`, {
      method: "DELETE",
      headers: auth,
    });
    expect((JSON.parse(purged.body) as { purged: number }).purged).toBeGreaterThanOrEqual(1);
    const missing = await call(`${gw.url}/system/async/dead-letters/redrive?id=${letter?.id}`, {
      method: "POST",
      headers: auth,
    });
    expect(missing.status).toBe(404);
  });

  it("needs the management credential for dead letters", async () => {
    const reply = await call(`${gw.url}/system/async/dead-letters`);
    expect(reply.status).toBe(401);
  });

  it("POSTs the result to X-Callback-Url, retrying a receiver that fails", async () => {
    const receiver = new CallbackReceiver(2);
    await receiver.start();
    try {
      const reply = await call(`${gw.url}/async-function/worker/ok`, {
        method: "POST",
        headers: { "x-callback-url": receiver.url },
        body: "cb",
      });
      const callId = reply.headers["x-call-id"] as string;
      await waitFor("the callback", () => receiver.received.length === 1, { timeoutMs: 30_000 });
      const [delivered] = receiver.received;
      expect(delivered?.body).toBe("done cb attempt=1");
      expect(delivered?.headers).toMatchObject({
        "x-call-id": callId,
        "x-flint-state": "succeeded",
        "x-flint-status": "200",
        "x-flint-attempts": "1",
        "x-flint-callback-attempt": "3",
        "x-flint-function": "default/worker",
        "content-type": "text/plain",
      });
      expect(receiver.posts).toBe(3);
      await waitFor(
        "the record to say delivered",
        async () => (await record(callId)).callback === "delivered",
      );
    } finally {
      await receiver.close();
    }
  });

  it("activates a function at zero, publishes its backlog for the autoscaler, and drains it once a replica is ready", async () => {
    const ref = { name: "parked", namespace: "default" };
    await gw.store.create(makeFunction("parked", { async: fastRetries }));
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const reply = await call(`${gw.url}/async-function/parked/ok`, { method: "POST", body: String(i) });
      ids.push(reply.headers["x-call-id"] as string);
    }
    await waitFor("an activation poke", () => gw.scaleTarget.activations.some((r) => r.name === "parked"));
    await waitFor("the backlog in a concurrency sample", () =>
      gw.bus.samples.some((sample) => sample.function === "default/parked" && sample.asyncQueued >= 5),
    );
    gw.endpoints.set(ref, [{ id: "r1", host: "127.0.0.1", port: fnServer.port, state: "ready" }]);
    for (const id of ids) expect((await finalRecord(id)).state).toBe("succeeded");
    const metrics = await call(`${gw.url}/metrics`);
    expect(metrics.body).toMatch(/flint_async_calls_enqueued_total\{function="default\/parked"\} 6/);
    expect(metrics.body).toMatch(/flint_async_calls_succeeded_total\{function="default\/parked"\} 6/);
    expect(metrics.body).toContain("flint_async_queue_depth");
  });

  it("shows a record only to the management credential or the call's own read token", async () => {
    const mine = await call(`${gw.url}/async-function/worker/ok`, { method: "POST", body: "mine" });
    const theirs = await call(`${gw.url}/async-function/worker/ok`, { method: "POST", body: "theirs" });
    const id = mine.headers["x-call-id"] as string;
    const token = mine.headers["x-call-token"] as string;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const url = `${gw.url}/async-function/calls/${id}`;

    const anonymous = await call(url);
    expect(anonymous.status).toBe(401);
    expect(errorCode(anonymous.body)).toBe("UNAUTHORIZED");
    const wrongCredential = await call(url, { headers: { authorization: "Bearer guess" } });
    expect(wrongCredential.status).toBe(401);
    // Another call's token reads nothing, and cannot tell a real id from an unknown one.
    const otherToken = { "x-call-token": theirs.headers["x-call-token"] as string };
    const borrowed = await call(url, { headers: otherToken });
    expect(borrowed.status).toBe(404);
    expect(errorCode(borrowed.body)).toBe("CALL_NOT_FOUND");
    const probe = await call(`${gw.url}/async-function/calls/no-such-call`, { headers: otherToken });
    expect(probe.status).toBe(404);

    const own = await call(url, { headers: { "x-call-token": token } });
    expect(own.status).toBe(200);
    expect(JSON.parse(own.body)).toMatchObject({ callId: id, function: "default/worker" });
    expect((await call(url, { headers: auth })).status).toBe(200);
  });

  it("shows a callback URL without its query or user info", async () => {
    const reply = await call(`${gw.url}/async-function/worker/ok`, {
      method: "POST",
      headers: { "x-callback-url": "https://user:pw@hooks.example:8443/done?sig=s3cret&t=1#frag" },
      body: "x",
    });
    const callId = reply.headers["x-call-id"] as string;
    const queued = await record(callId);
    expect(queued.callbackUrl).toBe("https://redacted@hooks.example:8443/done?redacted");
    const later = await finalRecord(callId);
    expect(JSON.stringify(later)).not.toContain("s3cret");
    expect(later.callbackUrl).toBe("https://redacted@hooks.example:8443/done?redacted");
  });

  it("refuses an X-Call-Id that names an existing call, on any function, and runs nothing twice", async () => {
    await gw.store.create(makeFunction(`open-${real ? "real" : "memory"}`, { async: fastRetries }));
    const other = `open-${real ? "real" : "memory"}`;
    gw.endpoints.set({ name: other, namespace: "default" }, [
      { id: "r1", host: "127.0.0.1", port: fnServer.port, state: "ready" },
    ]);
    const id = `taken-${real ? "r" : "m"}-${Date.now()}`;
    const first = await call(`${gw.url}/async-function/worker/ok`, {
      method: "POST",
      headers: { "x-call-id": id },
      body: "first",
    });
    expect(first.status).toBe(202);
    expect((await finalRecord(id)).state).toBe("succeeded");
    for (const path of ["/async-function/worker/ok", `/async-function/${other}/ok`]) {
      const again = await call(`${gw.url}${path}`, {
        method: "POST",
        headers: { "x-call-id": id },
        body: "second",
      });
      expect(again.status).toBe(409);
      expect(errorCode(again.body)).toBe("CALL_ID_TAKEN");
      expect(again.headers["x-call-token"]).toBeUndefined();
    }
    const kept = await record(id);
    expect(kept).toMatchObject({ function: "default/worker", state: "succeeded", attempts: 1 });
    expect(fnServer.attempts.get(id)).toBe(1);
    expect(fnServer.bodies.get(id)).toBe("first");
  });

  it("refuses an Idempotency-Key reused with another body (422), and replays it with the same one", async () => {
    const headers = { "idempotency-key": `pay-${real ? "r" : "m"}-${Date.now()}` };
    const first = await call(`${gw.url}/async-function/worker/ok`, {
      method: "POST",
      headers,
      body: "10 EUR",
    });
    const otherBody = await call(`${gw.url}/async-function/worker/ok`, {
      method: "POST",
      headers,
      body: "99 EUR",
    });
    expect(otherBody.status).toBe(422);
    expect(errorCode(otherBody.body)).toBe("IDEMPOTENCY_KEY_REUSED");
    const otherPath = await call(`${gw.url}/async-function/worker/other`, {
      method: "POST",
      headers,
      body: "10 EUR",
    });
    expect(otherPath.status).toBe(422);
    const same = await call(`${gw.url}/async-function/worker/ok`, {
      method: "POST",
      headers,
      body: "10 EUR",
    });
    expect(same.status).toBe(202);
    expect(same.headers["x-call-id"]).toBe(first.headers["x-call-id"]);
    const callId = first.headers["x-call-id"] as string;
    await finalRecord(callId);
    expect(fnServer.attempts.get(callId)).toBe(1);
  });

  it("keeps the records and dead letters of a function that needs a credential out of every other route", async () => {
    const guarded = `guarded-${real ? "real" : "memory"}`;
    const fn = makeFunction(guarded, { async: { ...fastRetries, maxRetries: 0 } });
    await gw.store.create({
      ...fn,
      metadata: { ...fn.metadata, annotations: { "flint.dev/invoke-auth": "required" } },
    });
    gw.endpoints.set({ name: guarded, namespace: "default" }, [
      { id: "r1", host: "127.0.0.1", port: fnServer.port, state: "ready" },
    ]);
    const refused = await call(`${gw.url}/async-function/${guarded}/always-fail`, {
      method: "POST",
      body: "x",
    });
    expect(refused.status).toBe(401);
    const secret = await call(`${gw.url}/async-function/${guarded}/always-fail`, {
      method: "POST",
      headers: auth,
      body: "secret payload",
    });
    const id = secret.headers["x-call-id"] as string;
    expect((await finalRecord(id)).state).toBe("dead");

    // Through the open function: its call's token, its X-Call-Id, its dead-letter filter.
    const open = await call(`${gw.url}/async-function/worker/ok`, { method: "POST", body: "o" });
    const openToken = open.headers["x-call-token"] as string;
    const read = await call(`${gw.url}/async-function/calls/${id}`, {
      headers: { "x-call-token": openToken },
    });
    expect(read.status).toBe(404);
    const overwrite = await call(`${gw.url}/async-function/worker/ok`, {
      method: "POST",
      headers: { "x-call-id": id },
      body: "x",
    });
    expect(overwrite.status).toBe(409);
    for (const authorization of [undefined, `Bearer ${openToken}`]) {
      const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
      const letters = await call(`${gw.url}/system/async/dead-letters?function=${guarded}`, { headers });
      expect(letters.status).toBe(401);
      expect(letters.body).not.toContain(id);
      const redrive = await call(`${gw.url}/system/async/dead-letters/redrive?function=${guarded}`, {
        method: "POST",
        headers,
      });
      expect(redrive.status).toBe(401);
    }
    expect(await record(id)).toMatchObject({ state: "dead", function: `default/${guarded}`, attempts: 1 });
    const listed = await call(`${gw.url}/system/async/dead-letters?function=${guarded}`, { headers: auth });
    expect(listed.body).toContain(id);
  });

  it("reports 404 for an unknown call id", async () => {
    const reply = await call(`${gw.url}/async-function/calls/no-such-call`, { headers: auth });
    expect(reply.status).toBe(404);
    expect(errorCode(reply.body)).toBe("CALL_NOT_FOUND");
  });

  if (!real) return;
  // Outages of the real servers: the memory backends cannot go down apart from the gateway.

  it("with Redis down, refuses new calls with 503 and loses none it accepted", async () => {
    const accepted: string[] = [];
    for (let i = 0; i < 20; i++) {
      const reply = await call(`${gw.url}/async-function/worker/slow`, { method: "POST", body: String(i) });
      expect(reply.status).toBe(202);
      accepted.push(reply.headers["x-call-id"] as string);
    }
    await redis.stop("SIGKILL");
    try {
      const refused = await call(`${gw.url}/async-function/worker/ok`, { method: "POST", body: "x" });
      expect(refused.status).toBe(503);
      expect(errorCode(refused.body)).toBe("RECORDS_UNAVAILABLE");
      expect(refused.headers["retry-after"]).toBe("1");
      const lookup = await call(`${gw.url}/async-function/calls/anything`, { headers: auth });
      expect(lookup.status).toBe(503);
    } finally {
      await redis.start();
    }
    // Once it is back, calls are taken again, and those accepted before the outage all end.
    let later: Awaited<ReturnType<typeof call>> | undefined;
    await waitFor("Redis to be used again", async () => {
      later = await call(`${gw.url}/async-function/worker/ok`, { method: "POST", body: "after" });
      return later.status === 202;
    });
    const done = await finalRecord(later?.headers["x-call-id"] as string);
    expect(done.state).toBe("succeeded");
    for (const callId of accepted) expect((await finalRecord(callId, 30_000)).state).toBe("succeeded");
  }, 60_000);

  it("with NATS down, refuses new calls with 503 naming the queue", async () => {
    await nats.stop("SIGKILL");
    try {
      const refused = await call(`${gw.url}/async-function/worker/ok`, { method: "POST", body: "x" });
      expect(refused.status).toBe(503);
      expect(errorCode(refused.body)).toBe("QUEUE_UNAVAILABLE");
    } finally {
      await nats.start();
    }
    let accepted: Awaited<ReturnType<typeof call>> | undefined;
    await waitFor(
      "NATS to be used again",
      async () => {
        accepted = await call(`${gw.url}/async-function/worker/ok`, { method: "POST", body: "after" });
        return accepted.status === 202;
      },
      { timeoutMs: 30_000 },
    );
    expect((await finalRecord(accepted?.headers["x-call-id"] as string, 30_000)).state).toBe("succeeded");
  }, 60_000);
});

function errorCode(body: string): string {
  return (JSON.parse(body) as { error: { code: string } }).error.code;
}

function setTimer(callback: () => void, delayMs: number): () => void {
  const timer = setTimeout(callback, delayMs);
  timer.unref();
  return () => clearTimeout(timer);
}
