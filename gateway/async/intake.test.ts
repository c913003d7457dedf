// The bounds of async intake, on a real gateway with real nats-server -js and redis-server (and on the
// memory backends of `flint up`): stalled uploads are capped and timed out, and the queue's byte
// limit holds, so nothing is accepted that cannot be kept.
import { createServer, type Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { pino } from "pino";
import { startNats, startRedis, type TestServer } from "../../testing/servers.js";
import { loadConfig } from "../config.js";
import { call, makeFunction, startGateway, TOKEN, waitFor, type TestGateway } from "../../testing/gateway.js";
import { openAsyncBackends } from "./connect.js";
import type { CallRecord } from "./ports.js";

const logger = pino({ level: process.env["FLINT_TEST_LOG"] ?? "silent" });
const auth = { authorization: `Bearer ${TOKEN}` };
const MAX_UPLOADS = 4;
const QUEUE_BYTES = 256 * 1024;

/** A raw connection that sends the head of a 1 MiB upload and a little of its body, then stalls. */
class StalledUpload {
  readonly socket: Socket;
  response = "";
  closed = false;

  constructor(port: number, path: string) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.on("data", (chunk: Buffer) => (this.response += chunk.toString("latin1")));
    this.socket.on("close", () => (this.closed = true));
    this.socket.on("error", () => undefined);
    this.socket.write(
      `POST ${path} HTTP/1.1\r\nHost: flint\r\nContent-Length: ${1024 * 1024}\r\n\r\n${"x".repeat(1000)}`,
    );
  }

  get status(): number | undefined {
    const match = /^HTTP\/1\.1 (\d{3})/.exec(this.response);
    return match === null ? undefined : Number(match[1]);
  }
}

describe.each([
  ["NATS JetStream and Redis", true],
  ["memory, the flint up default", false],
])("async intake bounds on %s", (_backends, real) => {
  let nats: TestServer;
  let redis: TestServer;
  let fnServer: Server;
  let fnPort = 0;
  let gw: TestGateway;

  beforeAll(async () => {
    if (real) [nats, redis] = await Promise.all([startNats(), startRedis()]);
    fnServer = createServer((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(200, { "content-type": "text/plain" }).end("ok"));
    });
    await new Promise<void>((resolve) => fnServer.listen(0, "127.0.0.1", resolve));
    fnPort = (fnServer.address() as AddressInfo).port;
    const servers: Record<string, string> = real ? { NATS_URL: nats.url, REDIS_URL: redis.url } : {};
    const env = {
      ...servers,
      FLINT_ASYNC_MAX_BODY: "2Mi",
      FLINT_ASYNC_MAX_UPLOADS: String(MAX_UPLOADS),
      FLINT_ASYNC_QUEUE_BYTES: String(QUEUE_BYTES),
    };
    const config = loadConfig({ FLINT_AUTH_TOKEN: TOKEN, ...env });
    const backends = await openAsyncBackends(config.async, {
      clock: { now: Date.now, setTimer },
      logger,
      name: "intake",
    });
    gw = await startGateway({ env, logger, async: backends });
    // The body deadline of an async upload is the function's timeout.
    await gw.store.create(makeFunction("worker", { timeout: "1s" }));
    gw.endpoints.set({ name: "worker", namespace: "default" }, [
      { id: "r1", host: "127.0.0.1", port: fnPort, state: "ready" },
    ]);
    await gw.store.create(makeFunction("parked", { timeout: "1s" }));
  }, 60_000);

  afterAll(async () => {
    await gw?.close();
    await new Promise<void>((resolve) => fnServer?.close(() => resolve()));
    if (real) await Promise.all([nats.close(), redis.close()]);
  });

  it(`reads at most ${MAX_UPLOADS} bodies at once (503 + Retry-After past it) and drops stalled ones at the deadline (408)`, async () => {
    const stalled: StalledUpload[] = [];
    try {
      for (let i = 0; i < MAX_UPLOADS; i++)
        stalled.push(new StalledUpload(gw.port, "/async-function/worker"));
      await waitFor(
        `${MAX_UPLOADS} uploads in progress`,
        () => gw.gateway.asyncCalls?.uploading === MAX_UPLOADS,
      );

      const extra = new StalledUpload(gw.port, "/async-function/worker");
      stalled.push(extra);
      await waitFor("the extra upload's answer", () => extra.closed && extra.status !== undefined);
      expect(extra.status).toBe(503);
      expect(extra.response).toMatch(/retry-after: 1/i);
      expect(extra.response).toContain('"code":"ASYNC_UPLOADS_FULL"');

      // Sync calls are not held up by stalled async uploads.
      const sync = await call(`${gw.url}/function/worker/`, { method: "POST", body: "hi" });
      expect(sync.status).toBe(200);

      // Each stalled upload is answered 408 at the function's 1 s timeout and its socket closed.
      await waitFor("the stalled uploads to be dropped", () => stalled.every((upload) => upload.closed), {
        timeoutMs: 10_000,
      });
      for (const upload of stalled.slice(0, MAX_UPLOADS)) {
        expect(upload.status).toBe(408);
        expect(upload.response).toContain('"code":"BODY_TIMEOUT"');
      }
      expect(gw.gateway.asyncCalls?.uploading).toBe(0);
      const after = await call(`${gw.url}/async-function/worker`, { method: "POST", body: "after" });
      expect(after.status).toBe(202);
    } finally {
      for (const upload of stalled) upload.socket.destroy();
    }
  }, 30_000);

  it(`accepts no more than FLINT_ASYNC_QUEUE_BYTES (${QUEUE_BYTES}) holds, and loses none it accepted`, async () => {
    // "parked" has no replica, so what is accepted stays in the queue.
    const body = Buffer.alloc(16 * 1024, 120);
    const accepted: string[] = [];
    let refused: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 64 && refused === undefined; i++) {
      const reply = await call(`${gw.url}/async-function/parked`, { method: "POST", body });
      if (reply.status === 202) accepted.push(reply.headers["x-call-id"] as string);
      else refused = reply;
    }
    expect(refused?.status).toBe(503);
    expect(refused?.headers["retry-after"]).toBe("1");
    expect(JSON.parse(refused?.body ?? "{}")).toMatchObject({ error: { code: "ASYNC_QUEUE_FULL" } });
    expect(accepted.length).toBeGreaterThanOrEqual(4);
    expect(accepted.length * body.length).toBeLessThanOrEqual(QUEUE_BYTES);
    // A refused call left no record behind.
    const refusedId = refused?.headers["x-call-id"] as string;
    expect((await call(`${gw.url}/async-function/calls/${refusedId}`, { headers: auth })).status).toBe(404);

    gw.endpoints.set({ name: "parked", namespace: "default" }, [
      { id: "r1", host: "127.0.0.1", port: fnPort, state: "ready" },
    ]);
    for (const callId of accepted) {
      await waitFor(
        `call ${callId} to succeed`,
        async () => {
          const reply = await call(`${gw.url}/async-function/calls/${callId}`, { headers: auth });
          return (JSON.parse(reply.body) as CallRecord).state === "succeeded";
        },
        { timeoutMs: 20_000 },
      );
    }
    // Done calls free their bytes: the queue takes calls again.
    await waitFor("room in the queue", async () => {
      const reply = await call(`${gw.url}/async-function/parked`, { method: "POST", body });
      return reply.status === 202;
    });
  }, 60_000);
});

function setTimer(callback: () => void, delayMs: number): () => void {
  const timer = setTimeout(callback, delayMs);
  timer.unref();
  return () => clearTimeout(timer);
}
