// HTTP Upgrade (WebSocket) passthrough against real processes: a watchdog, an RFC 6455 echo upstream
// and undici's WebSocket client.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { freeLoopbackPort } from "../platform/free-port.js";
import { join } from "node:path";
import { WebSocket } from "undici";
import {
  TESTDATA,
  call,
  metric,
  startWatchdog,
  stopAllWatchdogs,
  waitFor,
  type RunningWatchdog,
} from "../testing/watchdog.js";

const ECHO_SERVER = join(TESTDATA, "ws-echo-server.mjs");
const FETCH_HANDLER = { FLINT_MODE: "module", FLINT_ENTRY: "watchdog/testdata/fetch-handler.mjs" };

async function startEchoProxy(env: Record<string, string> = {}): Promise<RunningWatchdog> {
  return startWatchdog({
    FLINT_MODE: "http",
    FLINT_COMMAND: JSON.stringify([process.execPath, ECHO_SERVER]),
    FLINT_UPSTREAM_PORT: String(await freeLoopbackPort()),
    ...env,
  });
}

/** The headers of a WebSocket handshake, for sending one with `call` and reading a refusal. */
function upgradeHeaders(callId: string): Record<string, string> {
  return {
    connection: "Upgrade",
    upgrade: "websocket",
    "sec-websocket-version": "13",
    "sec-websocket-key": randomBytes(16).toString("base64"),
    "x-call-id": callId,
  };
}

function wsUrl(watchdog: RunningWatchdog, path: string): string {
  return `ws://127.0.0.1:${watchdog.port}${path}`;
}

/** An open undici WebSocket whose messages queue up, so a test can await them in order. */
interface Client {
  readonly socket: WebSocket;
  /** The next message; rejects if the socket closes first. */
  next(): Promise<string>;
  /** The close event's code and when it arrived (epoch ms). */
  readonly closed: Promise<{ code: number; atMs: number }>;
}

const openClients = new Set<WebSocket>();

async function openClient(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const socket = new WebSocket(url, { headers });
  openClients.add(socket);
  const queued: string[] = [];
  const waiting: { resolve(message: string): void; reject(error: Error): void }[] = [];
  let isClosed = false;
  socket.addEventListener("message", (event) => {
    const message = String(event.data);
    const waiter = waiting.shift();
    if (waiter === undefined) queued.push(message);
    else waiter.resolve(message);
  });
  const closed = new Promise<{ code: number; atMs: number }>((resolve) => {
    socket.addEventListener("close", (event) => {
      isClosed = true;
      openClients.delete(socket);
      for (const waiter of waiting.splice(0)) waiter.reject(new Error(`closed (${event.code}) first`));
      resolve({ code: event.code, atMs: Date.now() });
    });
  });
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve());
    socket.addEventListener("error", () => reject(new Error(`the WebSocket to ${url} did not open`)));
  });
  const next = (): Promise<string> => {
    const message = queued.shift();
    if (message !== undefined) return Promise.resolve(message);
    if (isClosed) return Promise.reject(new Error("the WebSocket is closed"));
    return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  };
  return { socket, next, closed };
}

/** The JSON first message of the echo server: the handshake as the upstream saw it. */
async function handshakeSeen(client: Client): Promise<{ url: string; headers: Record<string, string> }> {
  return JSON.parse(await client.next()) as { url: string; headers: Record<string, string> };
}

async function inFlight(watchdog: RunningWatchdog): Promise<number | undefined> {
  return metric(watchdog.url, "flint_watchdog_in_flight");
}

afterEach(() => {
  for (const socket of openClients) socket.close();
  openClients.clear();
});

describe("upgrades in http mode", () => {
  let watchdog: RunningWatchdog;
  beforeAll(async () => {
    watchdog = await startEchoProxy({ FLINT_FUNCTION: "fixtures/ws" });
  });
  afterAll(stopAllWatchdogs);

  it("tunnels a WebSocket: the handshake reaches the upstream with the call id, messages echo back", async () => {
    const before = (await metric(watchdog.url, "flint_watchdog_requests_total", 'code="101"')) ?? 0;
    const client = await openClient(wsUrl(watchdog, "/chat?room=1"), { "x-call-id": "ws-echo-1" });
    const seen = await handshakeSeen(client);
    expect(seen.url).toBe("/chat?room=1");
    expect(seen.headers).toMatchObject({
      "x-call-id": "ws-echo-1",
      "x-forwarded-for": "127.0.0.1",
      upgrade: "websocket",
      "sec-websocket-version": "13",
    });

    // 7-bit lengths up to 125, 16-bit from 126; the last one spans several TCP reads.
    const messages = ["hello", "x".repeat(125), "y".repeat(126), "é".repeat(100), "z".repeat(60_000)];
    for (const message of messages) client.socket.send(message);
    for (const message of messages) expect(await client.next()).toBe(message);

    client.socket.close(1000);
    expect((await client.closed).code).toBe(1000);
    const line = await watchdog.waitForLog((entry) => entry.msg === "call" && entry.callId === "ws-echo-1");
    expect(line).toMatchObject({ method: "GET", path: "/chat", status: 101 });
    expect(await metric(watchdog.url, "flint_watchdog_requests_total", 'code="101"')).toBe(before + 1);
  });

  it("counts each open tunnel as a call in flight until it closes", async () => {
    const first = await openClient(wsUrl(watchdog, "/a"));
    const second = await openClient(wsUrl(watchdog, "/b"));
    expect(await inFlight(watchdog)).toBe(2);
    first.socket.close();
    await first.closed;
    await waitFor("one call in flight", async () => (await inFlight(watchdog)) === 1);
    second.socket.close();
    await second.closed;
    await waitFor("no call in flight", async () => (await inFlight(watchdog)) === 0);
  });

  it("passes an upstream's refusal through and records its status", async () => {
    const reply = await call(`${watchdog.url}/reject`, { headers: upgradeHeaders("ws-reject-1") });
    expect(reply.status).toBe(403);
    const line = await watchdog.waitForLog((entry) => entry.msg === "call" && entry.callId === "ws-reject-1");
    expect(line).toMatchObject({ path: "/reject", status: 403 });
    await waitFor("no call in flight", async () => (await inFlight(watchdog)) === 0);
  });

  it("answers 404 for an upgrade to a reserved /_/ path", async () => {
    const reply = await call(`${watchdog.url}/_/socket`, { headers: upgradeHeaders("ws-reserved-1") });
    expect(reply.status).toBe(404);
    expect(reply.headers.connection).toBe("close");
    expect(JSON.parse(reply.body)).toMatchObject({ error: { code: "RESERVED_ROUTE" } });
  });
});

describe("upgrade limits and draining", () => {
  afterEach(stopAllWatchdogs);

  it("answers 429 past FLINT_MAX_INFLIGHT, an open tunnel counting as a call", async () => {
    const watchdog = await startEchoProxy({ FLINT_MAX_INFLIGHT: "1" });
    const client = await openClient(wsUrl(watchdog, "/"));
    const refused = await call(`${watchdog.url}/`, { headers: upgradeHeaders("ws-limit-1") });
    expect(refused.status).toBe(429);
    expect(refused.headers["retry-after"]).toBe("1");
    expect(JSON.parse(refused.body)).toMatchObject({
      error: { code: "IN_FLIGHT_LIMIT", callId: "ws-limit-1" },
    });
    expect((await call(`${watchdog.url}/`)).status).toBe(429);

    client.socket.close();
    await client.closed;
    await waitFor("no call in flight", async () => (await inFlight(watchdog)) === 0);
    expect(await call(`${watchdog.url}/`)).toMatchObject({ status: 200, body: "ok" });
  });

  it("on SIGTERM refuses new upgrades with 503, keeps an open tunnel until it closes, then exits 0", async () => {
    const watchdog = await startEchoProxy();
    const client = await openClient(wsUrl(watchdog, "/"));
    await handshakeSeen(client);

    watchdog.child.kill("SIGTERM");
    await watchdog.waitForLog((line) => line.msg === "draining");
    const refused = await call(`${watchdog.url}/`, { headers: upgradeHeaders("ws-drain-1") });
    expect(refused.status).toBe(503);
    expect(refused.headers["x-flint-refused"]).toBe("draining");
    expect(refused.headers.connection).toBe("close");
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: "DRAINING", callId: "ws-drain-1" } });

    client.socket.send("still here");
    expect(await client.next()).toBe("still here");
    expect(watchdog.child.exitCode).toBeNull();
    client.socket.close(1000);
    expect((await client.closed).code).toBe(1000);
    expect(await watchdog.waitForExit()).toEqual({ code: 0, signal: null });
  });

  it("cuts a tunnel still busy at the drain deadline, so shutdown ends", async () => {
    const watchdog = await startEchoProxy({ FLINT_TIMEOUT: "1s" });
    const client = await openClient(wsUrl(watchdog, "/"));
    await handshakeSeen(client);
    // Traffic every 200 ms keeps the tunnel under its 1 s idle bound: only the drain deadline ends it.
    const chatter = setInterval(() => client.socket.send("busy"), 200);
    try {
      watchdog.child.kill("SIGTERM");
      expect(await watchdog.waitForExit()).toEqual({ code: 0, signal: null });
      expect((await client.closed).code).toBe(1006);
    } finally {
      clearInterval(chatter);
    }
    expect(watchdog.logs.map((line) => line.msg)).toContain("drain deadline passed, cutting calls off");
  });
});

describe("upgrade idle bound", () => {
  afterAll(stopAllWatchdogs);

  it("closes a tunnel once no byte has moved either way for the call timeout, not while traffic flows", async () => {
    const timeoutMs = 1000;
    const watchdog = await startEchoProxy({ FLINT_TIMEOUT: "1s" });
    const client = await openClient(wsUrl(watchdog, "/"), { "x-call-id": "ws-idle-1" });
    await handshakeSeen(client);

    // Busy for 2.5 timeouts: a message every 200 ms (pacing the traffic, not waiting for a state).
    const busyUntil = Date.now() + 2.5 * timeoutMs;
    let lastByteAtMs = Date.now();
    while (Date.now() < busyUntil) {
      client.socket.send("tick");
      expect(await client.next()).toBe("tick");
      lastByteAtMs = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(client.socket.readyState).toBe(WebSocket.OPEN);

    const { code, atMs } = await client.closed;
    expect(code).toBe(1006);
    // The watchdog's timer starts when it writes the last echo, a little before the client reads it,
    // so the gap seen here can fall short of the timeout by that delay, never by half of it.
    expect(atMs - lastByteAtMs).toBeGreaterThan(timeoutMs / 2);
    const line = await watchdog.waitForLog((entry) => entry.msg === "call" && entry.callId === "ws-idle-1");
    expect(line).toMatchObject({ status: 101 });
    await waitFor("no call in flight", async () => (await inFlight(watchdog)) === 0);
  });
});

describe("upgrade upstream failures (sidecar)", () => {
  let upstream: Server;
  const accepted = new Set<Socket>();
  beforeAll(async () => {
    // Reads and drops what it is sent and never answers; reading is what lets it see a peer close.
    upstream = createServer((socket) => {
      accepted.add(socket);
      socket.once("close", () => accepted.delete(socket));
      socket.resume();
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  });
  afterAll(async () => {
    await stopAllWatchdogs();
    for (const socket of accepted) socket.destroy();
    if (upstream.listening) await new Promise((resolve) => upstream.close(resolve));
  });

  async function startSidecar(env: Record<string, string> = {}): Promise<RunningWatchdog> {
    const { port } = upstream.address() as { port: number };
    return startWatchdog({ FLINT_MODE: "http", FLINT_UPSTREAM_URL: `http://127.0.0.1:${port}`, ...env });
  }

  it("answers 504 when the upstream does not answer within the call timeout", async () => {
    const watchdog = await startSidecar({ FLINT_TIMEOUT: "500ms" });
    const reply = await call(`${watchdog.url}/`, { headers: upgradeHeaders("ws-silent-1") });
    expect(reply.status).toBe(504);
    expect(JSON.parse(reply.body)).toMatchObject({ error: { code: "CALL_TIMEOUT", callId: "ws-silent-1" } });
    await waitFor("no call in flight", async () => (await inFlight(watchdog)) === 0);
  });

  it("answers 502 when the upstream refuses the connection", async () => {
    const watchdog = await startSidecar();
    await new Promise((resolve) => upstream.close(resolve));
    const reply = await call(`${watchdog.url}/`, { headers: upgradeHeaders("ws-refused-1") });
    expect(reply.status).toBe(502);
    expect(JSON.parse(reply.body)).toMatchObject({
      error: { code: "UPSTREAM_FAILED", callId: "ws-refused-1" },
    });
    await waitFor("no call in flight", async () => (await inFlight(watchdog)) === 0);
  });
});

describe("upgrades in module mode", () => {
  afterAll(stopAllWatchdogs);

  it("answers 501 UPGRADE_NOT_SUPPORTED and goes on serving plain calls", async () => {
    const watchdog = await startWatchdog(FETCH_HANDLER);
    const reply = await call(`${watchdog.url}/hello`, { headers: upgradeHeaders("ws-module-1") });
    expect(reply.status).toBe(501);
    expect(reply.headers.connection).toBe("close");
    expect(JSON.parse(reply.body)).toMatchObject({
      error: { code: "UPGRADE_NOT_SUPPORTED", callId: "ws-module-1" },
    });
    await expect(openClient(wsUrl(watchdog, "/hello"))).rejects.toThrow(/did not open/);
    expect(await metric(watchdog.url, "flint_watchdog_requests_total", 'code="501"')).toBe(2);
    expect(await call(`${watchdog.url}/hello`)).toMatchObject({ status: 200, body: "hello" });
  });

  it("answers a request that only offers h2c (curl --http2) as a plain call", async () => {
    const watchdog = await startWatchdog(FETCH_HANDLER);
    const h2c = {
      connection: "Upgrade, HTTP2-Settings",
      upgrade: "h2c",
      "http2-settings": "AAMAAABkAAQAAP__",
    };
    const reply = await call(`${watchdog.url}/hello`, { headers: h2c });
    expect(reply).toMatchObject({ status: 200, body: "hello" });
    expect(reply.headers.connection).toBe("close");
  });
});
