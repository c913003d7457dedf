// Exact bytes on a raw socket against a real gateway and watchdog: reserved replica routes behind the
// public paths, bytes after `Connection: close`, and the methods the gateway refuses (TRACE, CONNECT).
import { connect } from "node:net";
import { systemClock } from "../platform/clock.js";
import { MemoryCallQueue, MemoryCallRecords } from "./async/memory.js";
import {
  TOKEN,
  call,
  makeFunction,
  startGateway,
  startReplica,
  waitFor,
  type ReplicaProcess,
  type TestGateway,
} from "../testing/gateway.js";

const hello = { name: "hello", namespace: "default" };

/** A raw connection: what it has received so far, and whether the server has closed it. */
interface RawConnection {
  write(text: string): void;
  received(): string;
  readonly closed: Promise<string>;
}

function open(port: number, timeoutMs = 10_000): RawConnection {
  const socket = connect(port, "127.0.0.1");
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  socket.on("error", () => undefined);
  const received = (): string => Buffer.concat(chunks).toString("latin1");
  const closed = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(received())}`));
    }, timeoutMs);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(received());
    });
  });
  return { write: (text) => socket.write(text, "latin1"), received, closed };
}

/** Sends `text` and resolves with everything the server sent before it closed the connection. */
function rawExchange(port: number, text: string): Promise<string> {
  const connection = open(port);
  connection.write(text);
  return connection.closed;
}

/** The status lines in a stream of responses, in order. */
function statusLines(text: string): string[] {
  return text.match(/HTTP\/1\.1 \d{3} [^\r]*/g) ?? [];
}

describe("the gateway on the wire", () => {
  let gw: TestGateway;
  let replica: ReplicaProcess;

  beforeAll(async () => {
    const async = {
      queue: new MemoryCallQueue(systemClock),
      records: new MemoryCallRecords(systemClock, 60_000, 60_000),
    };
    [gw, replica] = await Promise.all([startGateway({ async }), startReplica("wire")]);
    await gw.store.create(makeFunction("hello"));
    gw.endpoints.set(hello, [replica.endpoint("ready")]);
  });
  afterAll(async () => {
    await gw.close();
    await replica.stop();
  });

  describe("a replica's own routes", () => {
    it.each([
      "/function/hello/_/metrics",
      "/function/hello/_/health",
      "/function/hello/_/ready",
      "/function/hello/%5F/metrics",
      "/function/hello/%5f/metrics",
      "/function/hello/./_/metrics",
      "/function/hello//_/metrics",
      "/function/hello/x/../_/metrics",
      "/function/hello/%2e/%5F/metrics",
      "/function/hello.default/_/metrics",
      "/async-function/hello/_/metrics",
      "/async-function/hello/%5F/metrics",
      "/async-function/hello//_/metrics",
    ])("are not reachable as %s", async (path) => {
      const method = path.startsWith("/async-") ? "POST" : "GET";
      const reply = await rawExchange(
        gw.port,
        `${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
      expect(statusLines(reply)).toEqual(["HTTP/1.1 404 Not Found"]);
      expect(reply).toContain('"code":"RESERVED_PATH"');
      // Nothing of the watchdog's own answers leaks through.
      expect(reply).not.toContain("flint_watchdog");
    });

    it("still serves a function's paths that merely contain an underscore", async () => {
      const reply = await call(`${gw.url}/function/hello/_x/a_b?q=/_/metrics`);
      expect(reply.status).toBe(200);
      expect(reply.body).toBe("hello from wire\n");
    });
  });

  describe("bytes after Connection: close", () => {
    it("answers a POST with its own response when more bytes follow in the same packet", async () => {
      const reply = await rawExchange(
        gw.port,
        "POST /function/hello/count HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n" +
          "hello" +
          "GET /function/hello HTTP/1.1\r\nHost: x\r\n\r\n",
      );
      expect(statusLines(reply)).toEqual(["HTTP/1.1 200 OK"]);
      expect(reply).toContain('"bytes":5');
    });

    it("answers a POST that is running with its own response when garbage arrives meanwhile", async () => {
      const connection = open(gw.port);
      connection.write(
        "POST /function/hello/hold?ms=300 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
      );
      await waitFor("the call to reach the replica", () => gw.gateway.snapshot(hello)?.inFlight === 1);
      connection.write("\x00\x01 not http at all\r\n\r\n");
      const reply = await connection.closed;
      expect(statusLines(reply)).toEqual(["HTTP/1.1 200 OK"]);
      expect(reply).toContain('{"replica":"wire"}');
    });
  });

  describe("TRACE and CONNECT", () => {
    it.each([
      ["TRACE", "/function/hello"],
      ["TRACE", "/function/hello/headers"],
      ["TRACE", "/system/functions"],
      ["TRACE", "/healthz"],
      ["CONNECT", "example.com:443"],
      ["CONNECT", "/function/hello"],
      ["CONNECT", "/system/info"],
    ])("answers %s %s with 405, Allow and the gateway's error body", async (method, target) => {
      const reply = await rawExchange(
        gw.port,
        `${method} ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`,
      );
      expect(statusLines(reply)).toEqual(["HTTP/1.1 405 Method Not Allowed"]);
      expect(reply).toMatch(/\r\nallow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n/i);
      const body = reply.slice(reply.indexOf("\r\n\r\n") + 4);
      expect(JSON.parse(body)).toMatchObject({ error: { code: "METHOD_NOT_ALLOWED" } });
    });

    it("keeps serving calls after refusing them", async () => {
      expect((await call(`${gw.url}/function/hello`)).status).toBe(200);
    });
  });
});
