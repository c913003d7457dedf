// WebSocket (HTTP Upgrade) calls through the gateway to a real watchdog in http mode, whose server is
// a WebSocket echo server: the tunnel, its replica slot, activation, refusals, idle bound and shutdown.
import { randomBytes } from "node:crypto";
import { request, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocket } from "undici";
import { freeLoopbackPort } from "../platform/free-port.js";
import {
  call,
  makeFunction,
  startGateway,
  startReplica,
  waitFor,
  type ReplicaProcess,
  type TestGateway,
} from "../testing/gateway.js";

const here = dirname(fileURLToPath(import.meta.url));
const WS_ECHO = join(here, "..", "watchdog", "testdata", "ws-echo-server.mjs");

const chat = { name: "chat", namespace: "default" };
const single = { name: "single", namespace: "default" };
const brief = { name: "brief", namespace: "default" };
const cold = { name: "cold", namespace: "default" };

/** A watchdog in http mode in front of the WebSocket echo server. */
async function startEchoReplica(id: string): Promise<ReplicaProcess> {
  return startReplica(id, {
    env: {
      FLINT_MODE: "http",
      FLINT_ENTRY: "",
      FLINT_COMMAND: JSON.stringify([process.execPath, WS_ECHO]),
      FLINT_UPSTREAM_PORT: String(await freeLoopbackPort()),
    },
  });
}

/** An open WebSocket and the messages it has received, in order. */
interface Client {
  readonly socket: WebSocket;
  readonly messages: string[];
  readonly closed: Promise<number>;
  /** Resolves with the next message not yet taken. */
  next(): Promise<string>;
}

async function openSocket(url: string): Promise<Client> {
  const socket = new WebSocket(url);
  const messages: string[] = [];
  let taken = 0;
  const closed = new Promise<number>((resolve) => socket.addEventListener("close", (e) => resolve(e.code)));
  socket.addEventListener("message", (event) => messages.push(String(event.data)));
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve());
    socket.addEventListener("error", () => reject(new Error(`WebSocket to ${url} failed`)));
  });
  return {
    socket,
    messages,
    closed,
    async next() {
      await waitFor("a WebSocket message", () => messages.length > taken);
      return messages[taken++] as string;
    },
  };
}

/** A raw handshake, to read the status and headers an upgrade gets. */
function handshake(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; socket?: Socket; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-key": randomBytes(16).toString("base64"),
        "sec-websocket-version": "13",
        ...headers,
      },
    });
    req.on("upgrade", (res: IncomingMessage, socket: Socket) =>
      resolve({ status: res.statusCode ?? 0, headers: res.headers, socket, body: "" }),
    );
    req.on("response", (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

describe("WebSocket calls", () => {
  let gw: TestGateway;
  let replica: ReplicaProcess;
  const wsUrl = (path: string): string => `${gw.url.replace("http:", "ws:")}${path}`;
  const inFlight = (ref: typeof chat): number => gw.gateway.snapshot(ref)?.inFlight ?? -1;

  beforeAll(async () => {
    [gw, replica] = await Promise.all([startGateway(), startEchoReplica("ws-1")]);
    await gw.store.create(makeFunction("chat"));
    await gw.store.create(makeFunction("single", { scale: { concurrency: 1, target: 1 } }));
    await gw.store.create(makeFunction("brief", { timeout: "1s" }));
    await gw.store.create(makeFunction("cold"));
    for (const ref of [chat, single, brief]) gw.endpoints.set(ref, [replica.endpoint("ready")]);
  });
  afterAll(async () => {
    await gw.close();
    await replica.stop();
  });

  it("tunnels a WebSocket to the function: the handshake carries the call id, and messages echo both ways", async () => {
    const client = await openSocket(wsUrl("/function/chat/room?user=ann"));
    const seen = JSON.parse(await client.next()) as { url: string; headers: Record<string, string> };
    expect(seen.url).toBe("/room?user=ann");
    expect(seen.headers["x-call-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen.headers["x-forwarded-prefix"]).toBe("/function/chat");
    expect(seen.headers["upgrade"]).toBe("websocket");

    const long = "x".repeat(300);
    client.socket.send("hello");
    client.socket.send(long);
    expect(await client.next()).toBe("hello");
    expect(await client.next()).toBe(long);
    expect(inFlight(chat)).toBe(1);

    client.socket.close(1000);
    expect(await client.closed).toBe(1000);
    await waitFor("the tunnel's slot to be freed", () => inFlight(chat) === 0);
    const metrics = await call(`${gw.url}/metrics`);
    expect(metrics.body).toMatch(/flint_gateway_requests_total\{function="default\/chat",code="101"\} 1/);
  });

  it("answers the handshake with the replica's 101 and the gateway's X-Call-Id", async () => {
    const reply = await handshake(`${gw.url}/function/chat/`, { "x-call-id": "upgrade-1" });
    expect(reply.status).toBe(101);
    expect(reply.headers["x-call-id"]).toBe("upgrade-1");
    expect(reply.headers["sec-websocket-accept"]).toBeDefined();
    reply.socket?.destroy();
    await waitFor("the tunnel's slot to be freed", () => inFlight(chat) === 0);
  });

  it("holds one replica slot for the tunnel's life: with concurrency 1 a call waits until the socket closes", async () => {
    const client = await openSocket(wsUrl("/function/single/"));
    await client.next();
    const waiting = call(`${gw.url}/function/single/`);
    await waitFor("the call to queue", () => gw.gateway.snapshot(single)?.queued === 1);
    client.socket.close(1000);
    const reply = await waiting;
    expect(reply.status).toBe(200);
    expect(reply.body).toBe("ok");
  });

  it("passes on a replica's refusal to upgrade, and closes the connection", async () => {
    const reply = await handshake(`${gw.url}/function/chat/reject`);
    expect(reply.status).toBe(403);
    expect(reply.headers["x-call-id"]).toBeDefined();
    await waitFor("the slot to be freed", () => inFlight(chat) === 0);
  });

  it("refuses upgrades to unknown functions (404) and to paths that are not calls", async () => {
    const unknown = await handshake(`${gw.url}/function/nope/`);
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({ error: { code: "FUNCTION_NOT_FOUND" } });
    // A replica's own routes are not reachable by a tunnel either.
    const internal = await handshake(`${gw.url}/function/chat/_/health`);
    expect(internal.status).toBe(404);
    expect(JSON.parse(internal.body)).toMatchObject({ error: { code: "RESERVED_PATH" } });
    const system = await handshake(`${gw.url}/system/functions`);
    expect(system.status).toBe(404);
    expect(JSON.parse(system.body)).toMatchObject({ error: { code: "NOT_FOUND" } });
  });

  it("answers a request that only offers h2c (curl --http2) as a plain call", async () => {
    const h2c = {
      connection: "Upgrade, HTTP2-Settings",
      upgrade: "h2c",
      "http2-settings": "AAMAAABkAAQAAP__",
    };
    const reply = await call(`${gw.url}/function/chat/`, { headers: h2c });
    expect(reply).toMatchObject({ status: 200, body: "ok" });
    expect(reply.headers["x-call-id"]).toBeDefined();
    const info = await call(`${gw.url}/healthz`, { headers: h2c });
    expect(info.status).toBe(200);
  });

  it("wakes a function at zero for a WebSocket, and marks the handshake as a cold start", async () => {
    const pending = handshake(`${gw.url}/function/cold/`);
    await waitFor("an activation", () => gw.scaleTarget.activations.length > 0);
    const coldReplica = await startEchoReplica("ws-cold");
    try {
      gw.endpoints.set(cold, [coldReplica.endpoint("ready")]);
      const reply = await pending;
      expect(reply.status).toBe(101);
      expect(Number(reply.headers["x-flint-cold-start"])).toBeGreaterThanOrEqual(0);
      reply.socket?.destroy();
      await waitFor("the slot to be freed", () => inFlight(cold) === 0);
    } finally {
      gw.endpoints.set(cold, []);
      await coldReplica.stop();
    }
  });

  it("closes a tunnel when nothing has moved for the function's timeout", async () => {
    const client = await openSocket(wsUrl("/function/brief/"));
    await client.next();
    const started = Date.now();
    await client.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    await waitFor("the slot to be freed", () => inFlight(brief) === 0);
  });

  it("cuts open tunnels when the gateway shuts down", async () => {
    const other = await startGateway();
    try {
      await other.store.create(makeFunction("chat"));
      other.endpoints.set(chat, [replica.endpoint("ready")]);
      const client = await openSocket(`${other.url.replace("http:", "ws:")}/function/chat/`);
      await client.next();
      await other.close();
      await client.closed;
    } finally {
      await other.close();
    }
  });
});
