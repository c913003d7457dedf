// The /function/ data path against real watchdog processes: routing, headers, streaming, limits,
// malformed input, deadlines and slow or vanishing clients.
import { createHash } from "node:crypto";
import { request } from "node:http";
import { connect } from "node:net";
import { Readable } from "node:stream";
import { ManualClock } from "./clock.js";
import {
  call,
  makeFunction,
  startGateway,
  startReplica,
  waitFor,
  type ReplicaProcess,
  type TestGateway,
} from "./testdata/harness.js";

const hello = { name: "hello", namespace: "default" };
const staging = { name: "hello", namespace: "staging" };

/** Sends raw bytes and resolves with everything the server sent back before closing. */
function rawExchange(port: number, text: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${Buffer.concat(chunks).toString()}`));
    }, timeoutMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString());
    });
    socket.write(text);
  });
}

/** The watchdog's own view of a replica's calls (asked directly, not through the gateway). */
async function replicaStats(replica: ReplicaProcess): Promise<{ inFlight: number; served: number }> {
  const reply = await call(`http://127.0.0.1:${replica.port}/stats`);
  return JSON.parse(reply.body) as { inFlight: number; served: number };
}

describe("the data path", () => {
  let gw: TestGateway;
  let main: ReplicaProcess;
  let other: ReplicaProcess;

  beforeAll(async () => {
    [gw, main, other] = await Promise.all([
      startGateway({ env: { FLINT_HEADERS_TIMEOUT: "400ms" } }),
      startReplica("main"),
      startReplica("other"),
    ]);
    await gw.store.create(makeFunction("hello", { maxBodyBytes: 200 * 1024 * 1024 }));
    await gw.store.create(makeFunction("hello", {}, "staging"));
    await gw.store.create(makeFunction("small", { maxBodyBytes: 1024 }));
    gw.endpoints.set(hello, [main.endpoint("ready")]);
    gw.endpoints.set(staging, [other.endpoint("ready")]);
  });
  afterAll(async () => {
    await gw.close();
    await Promise.all([main.stop(), other.stop()]);
  });

  it("routes by name and name.namespace, passing method, path and query through", async () => {
    const plain = await call(`${gw.url}/function/hello/headers?x=1&y=/z`, { method: "DELETE" });
    expect(plain.status).toBe(200);
    expect(JSON.parse(plain.body)).toMatchObject({
      replica: "main",
      url: expect.stringMatching(/\/headers\?x=1&y=\/z$/) as unknown,
    });
    const namespaced = await call(`${gw.url}/function/hello.staging`);
    expect(namespaced.body).toBe("hello from other\n");
    expect(namespaced.headers["x-replica"]).toBe("other");
    const root = await call(`${gw.url}/function/hello?name=x`);
    expect(root.body).toBe("hello from main\n");
  });

  it("passes a plain X-Call-Id through and makes one up otherwise", async () => {
    const given = await call(`${gw.url}/function/hello/headers`, { headers: { "x-call-id": "abc-123" } });
    expect(given.headers["x-call-id"]).toBe("abc-123");
    expect(JSON.parse(given.body)).toMatchObject({ headers: { "x-call-id": "abc-123" } });

    for (const headers of [{}, { "x-call-id": "not plain!" }] as Record<string, string>[]) {
      const reply = await call(`${gw.url}/function/hello/headers`, { headers });
      const id = reply.headers["x-call-id"];
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(JSON.parse(reply.body)).toMatchObject({ headers: { "x-call-id": id } });
    }
  });

  it("sets X-Forwarded-* and removes hop-by-hop headers", async () => {
    const reply = await call(`${gw.url}/function/hello/headers`, {
      headers: {
        connection: "keep-alive, x-secret",
        "x-secret": "hop",
        "proxy-authorization": "Basic c2VjcmV0",
        te: "trailers",
        "x-forwarded-for": "203.0.113.7",
        "x-kept": "yes",
      },
    });
    const { headers } = JSON.parse(reply.body) as { headers: Record<string, string> };
    expect(headers).toMatchObject({
      "x-kept": "yes",
      "x-forwarded-for": "203.0.113.7, 127.0.0.1",
      "x-forwarded-proto": "http",
      "x-forwarded-host": `127.0.0.1:${gw.port}`,
      "x-forwarded-prefix": "/function/hello",
    });
    for (const name of ["x-secret", "proxy-authorization", "te"]) expect(headers).not.toHaveProperty(name);
    expect(reply.headers["connection"]).toBe("keep-alive");
  });

  it("streams a 100 MB body to the function and back with flat memory", async () => {
    const totalBytes = 100 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = i % 251;
    let sentBytes = 0;
    const sentHash = createHash("sha1");
    const body = new Readable({
      read() {
        if (sentBytes >= totalBytes) return void this.push(null);
        sentBytes += chunk.length;
        sentHash.update(chunk);
        this.push(chunk);
      },
    });
    const baselineRss = process.memoryUsage().rss;
    let peakRss = baselineRss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
    try {
      const result = await new Promise<{ status: number; bytes: number; hash: string }>((resolve, reject) => {
        const req = request(
          `${gw.url}/function/hello/echo`,
          { method: "POST", headers: { "content-length": String(totalBytes) } },
          (res) => {
            let bytes = 0;
            const hash = createHash("sha1");
            res.on("data", (data: Buffer) => {
              bytes += data.length;
              hash.update(data);
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes, hash: hash.digest("hex") }));
            res.on("error", reject);
          },
        );
        req.on("error", reject);
        body.pipe(req);
      });
      expect(result.status).toBe(200);
      expect(result.bytes).toBe(totalBytes);
      expect(result.hash).toBe(sentHash.digest("hex"));
    } finally {
      clearInterval(sampler);
    }
    // The whole body never sits in memory: growth stays far below its 100 MB.
    expect(peakRss - baselineRss).toBeLessThan(50 * 1024 * 1024);
  }, 60_000);

  it("refuses a declared body over spec.maxBodyBytes with 413, without waking the function", async () => {
    const reply = await call(`${gw.url}/function/small`, { method: "POST", body: "x".repeat(2048) });
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.body)).toMatchObject({ error: { code: "BODY_TOO_LARGE" } });
    expect(gw.scaleTarget.activations).toHaveLength(0);
  });

  it.each([
    ["/function/", 400, "BAD_FUNCTION_NAME"],
    ["/function/Hello", 400, "BAD_FUNCTION_NAME"],
    ["/function/hello.", 400, "BAD_FUNCTION_NAME"],
    ["/function/a.b.c", 400, "BAD_FUNCTION_NAME"],
    ["/function/-hello", 400, "BAD_FUNCTION_NAME"],
    ["/function/hello%2Fx", 400, "BAD_FUNCTION_NAME"],
    ["/function/%2e%2e/system/functions", 400, "BAD_FUNCTION_NAME"],
    ["/function/hello%00", 400, "BAD_FUNCTION_NAME"],
    [`/function/${"a".repeat(64)}`, 400, "BAD_FUNCTION_NAME"],
    ["/function/nope", 404, "FUNCTION_NOT_FOUND"],
    ["/function/hello.nowhere", 404, "FUNCTION_NOT_FOUND"],
    ["/functions/hello", 404, "NOT_FOUND"],
    ["/function", 404, "NOT_FOUND"],
  ])("answers %s with %d %s", async (path, status, code) => {
    const reply = await call(`${gw.url}${path}`);
    expect(reply.status).toBe(status);
    expect(JSON.parse(reply.body)).toMatchObject({ error: { code, callId: reply.headers["x-call-id"] } });
  });

  it("keeps dot segments after the name inside the function", async () => {
    const reply = await rawExchange(
      gw.port,
      "GET /function/hello/../../system/functions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    expect(reply).toMatch(/^HTTP\/1\.1 200/);
    expect(reply).toContain("hello from main");
  });

  it("counts calls to unknown names under one label, not one per name", async () => {
    await call(`${gw.url}/function/unknown-a`);
    await call(`${gw.url}/function/unknown-b`);
    const metrics = (await call(`${gw.url}/metrics`)).body;
    expect(metrics).toMatch(/flint_gateway_requests_total\{function="\(unknown\)",code="404"\} [2-9]/);
    expect(metrics).not.toContain("unknown-a");
  });

  const post = (headers: string, body = ""): string =>
    `POST /function/hello/count HTTP/1.1\r\nHost: x\r\n${headers}\r\n${body}`;
  it.each([
    ["a space in a header name", 400, "GET /function/hello HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n"],
    ["a control byte in a value", 400, "GET /function/hello HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n"],
    ["two different lengths", 400, post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello")],
    ["a length that is not a number", 400, post("Content-Length: abc\r\n")],
    ["chunked with a length", 400, post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n")],
    ["no Host", 400, "GET /function/hello HTTP/1.1\r\n\r\n"],
    ["not HTTP at all", 400, "HELLO\r\n\r\n"],
    [
      "20 KB of headers",
      431,
      `GET /function/hello HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
    ],
  ])("refuses %s with %d and closes", async (_what, status, text) => {
    const reply = await rawExchange(gw.port, text);
    expect(reply).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(reply).toMatch(/"code":"(BAD_REQUEST|HEADERS_TOO_LARGE)"/);
    expect((await call(`${gw.url}/function/hello`)).status).toBe(200);
  });

  it("closes a connection whose headers never finish (slowloris) with 408", async () => {
    const started = Date.now();
    const reply = await rawExchange(gw.port, "GET /function/hello HTTP/1.1\r\nHost: x\r\n");
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
  });

  it("tells the replica when the client goes away, and frees the slot", async () => {
    const req = request(`${gw.url}/function/hello/hang`);
    req.on("error", () => undefined);
    req.end();
    await waitFor("the call to reach the replica", async () => (await replicaStats(main)).inFlight === 1);
    req.destroy();
    await waitFor("the replica to see the abort", async () => (await replicaStats(main)).inFlight === 0);
    await waitFor("the gateway to free the slot", () => gw.gateway.snapshot(hello)?.inFlight === 0);
    const metrics = (await call(`${gw.url}/metrics`)).body;
    expect(metrics).toMatch(/flint_gateway_requests_total\{function="default\/hello",code="499"\} 1/);
  });
});

describe("deadlines and slow clients", () => {
  let gw: TestGateway;
  let clock: ManualClock;
  let replica: ReplicaProcess;

  beforeAll(async () => {
    clock = new ManualClock();
    [gw, replica] = await Promise.all([startGateway({ clock }), startReplica("deadline")]);
    await gw.store.create(makeFunction("slow", { timeout: "2s" }));
    gw.endpoints.set({ name: "slow", namespace: "default" }, [replica.endpoint("ready")]);
  });
  afterAll(async () => {
    await gw.close();
    await replica.stop();
  });

  const slow = { name: "slow", namespace: "default" };
  const inFlight = (): number | undefined => gw.gateway.snapshot(slow)?.inFlight;

  it("answers 504 at the function's timeout and stops the replica's work", async () => {
    const reply = call(`${gw.url}/function/slow/hang`);
    await waitFor("the call to be in flight", () => inFlight() === 1);
    await waitFor("the replica to run it", async () => (await replicaStats(replica)).inFlight === 1);
    clock.advance(1999);
    expect(inFlight()).toBe(1);
    clock.advance(1);
    const result = await reply;
    expect(result.status).toBe(504);
    expect(JSON.parse(result.body)).toMatchObject({ error: { code: "CALL_TIMEOUT" } });
    expect(inFlight()).toBe(0);
    await waitFor("the replica to stop", async () => (await replicaStats(replica)).inFlight === 0);
  });

  it("cuts off a client that stops sending its body, at the deadline, without leaking", async () => {
    const socket = connect(gw.port, "127.0.0.1");
    const received: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => received.push(chunk));
    const closed = new Promise((resolve) => socket.on("close", resolve));
    socket.write(
      `POST /function/slow/count HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n${"x".repeat(1024)}`,
    );
    await waitFor("the call to be in flight", () => inFlight() === 1);
    clock.advance(2000);
    await closed;
    expect(Buffer.concat(received).toString()).toMatch(/^HTTP\/1\.1 504 /);
    expect(inFlight()).toBe(0);
    await waitFor("the replica to drop the call", async () => (await replicaStats(replica)).inFlight === 0);
  });

  it("cuts off a client that stops reading a large response, at the deadline, without leaking", async () => {
    const socket = connect(gw.port, "127.0.0.1");
    let receivedBytes = 0;
    let stalled = true;
    socket.on("data", (chunk: Buffer) => {
      receivedBytes += chunk.length;
      if (stalled) socket.pause(); // read one chunk, then stall: everything else backs up to the replica
    });
    const closed = new Promise((resolve) => socket.on("close", resolve));
    socket.write("GET /function/slow/big?bytes=1000000000 HTTP/1.1\r\nHost: x\r\n\r\n");
    await waitFor("the response to start", () => receivedBytes > 0);
    await waitFor("the call to be in flight", () => inFlight() === 1);
    clock.advance(2000);
    stalled = false;
    socket.resume();
    await closed;
    // Backpressure held the replica back: far less than the gigabyte was ever produced.
    expect(receivedBytes).toBeLessThan(100 * 1024 * 1024);
    expect(inFlight()).toBe(0);
    expect(gw.gateway.snapshot(slow)?.replicas[0]?.inFlight).toBe(0);
  });
});
