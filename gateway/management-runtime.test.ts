// The management API's replica and log routes, backed by the optional FunctionRuntime port.
import { request } from "node:http";

import type { FunctionRef } from "../api/index.js";
import type { FunctionRuntime } from "../platform/ports.js";
import { TOKEN, call, makeFunction, startGateway, type TestGateway } from "../testing/gateway.js";

const bearer = { authorization: `Bearer ${TOKEN}` };

const LIMITS = { lines: 2000, bytes: 4 * 1024 * 1024, lineBytes: 16 * 1024 };

/** A runtime with two replicas and numbered log lines for default/echo (10,000 long ones for "long"). */
const runtime: FunctionRuntime = {
  replicas: (ref: FunctionRef) =>
    ref.name === "echo"
      ? [
          { id: "echo-1", state: "ready", address: "127.0.0.1:4001", startedAtMs: 1, process: "101" },
          { id: "echo-2", state: "starting", address: undefined, startedAtMs: 2 },
        ]
      : [],
  logs: (ref: FunctionRef, limit: number) => {
    const long = ref.name === "long";
    const items = Array.from({ length: long ? 10_000 : 50 }, (_, i) => ({
      timeMs: i,
      replica: "echo-1",
      stream: "stdout" as const,
      line: long ? `line ${i} ${"x".repeat(1000)}` : `line ${i}`,
    })).slice(-limit);
    return { items, dropped: { lines: 7, bytes: 7000, cutLines: 1 }, limits: LIMITS };
  },
};

describe("replica and log routes", () => {
  let gw: TestGateway;
  let bare: TestGateway;
  beforeAll(async () => {
    [gw, bare] = await Promise.all([startGateway({ runtime }), startGateway()]);
    await gw.store.create(makeFunction("echo"));
    await gw.store.create(makeFunction("long"));
    await bare.store.create(makeFunction("echo"));
  });
  afterAll(async () => {
    await Promise.all([gw.close(), bare.close()]);
  });

  it("lists a function's replicas", async () => {
    const reply = await call(`${gw.url}/system/functions/echo/replicas`, { headers: bearer });
    expect(reply.status).toBe(200);
    expect((JSON.parse(reply.body) as { items: unknown[] }).items).toEqual([
      { id: "echo-1", state: "ready", address: "127.0.0.1:4001", startedAtMs: 1, process: "101" },
      { id: "echo-2", state: "starting", startedAtMs: 2 },
    ]);
  });

  it("returns the last lines of the logs, 200 by default and at most ?limit=", async () => {
    const all = await call(`${gw.url}/system/functions/echo/logs`, { headers: bearer });
    expect((JSON.parse(all.body) as { items: unknown[] }).items).toHaveLength(50);
    const last = await call(`${gw.url}/system/functions/echo/logs?limit=2`, { headers: bearer });
    expect((JSON.parse(last.body) as { items: { line: string }[] }).items.map((l) => l.line)).toEqual([
      "line 48",
      "line 49",
    ]);
  });

  it("says what the platform's buffer dropped, and its bounds", async () => {
    const reply = await call(`${gw.url}/system/functions/echo/logs?limit=1`, { headers: bearer });
    expect(reply.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(JSON.parse(reply.body)).toEqual({
      items: [{ timeMs: 49, replica: "echo-1", stream: "stdout", line: "line 49" }],
      dropped: { lines: 7, bytes: 7000, cutLines: 1 },
      limits: LIMITS,
    });
  });

  it("streams a long answer in chunks rather than as one string", async () => {
    const reply = await call(`${gw.url}/system/functions/long/logs?limit=10000`, { headers: bearer });
    expect(reply.status).toBe(200);
    expect(reply.headers["transfer-encoding"]).toBe("chunked");
    expect(reply.headers["content-length"]).toBeUndefined();
    const body = JSON.parse(reply.body) as { items: { line: string }[]; dropped: unknown };
    expect(body.items).toHaveLength(10_000);
    expect(body.items[9_999]?.line).toMatch(/^line 9999 x+$/);
    expect(body.dropped).toEqual({ lines: 7, bytes: 7000, cutLines: 1 });
  });

  it("stops writing to a client that leaves mid-answer, and keeps serving", async () => {
    await new Promise<void>((resolve, reject) => {
      const req = request(`${gw.url}/system/functions/long/logs?limit=10000`, { headers: bearer }, (res) => {
        res.once("data", () => {
          req.destroy();
          resolve();
        });
      });
      req.once("error", (error) => (req.destroyed ? undefined : reject(error)));
      req.end();
    });
    const reply = await call(`${gw.url}/system/functions/echo/logs?limit=1`, { headers: bearer });
    expect(reply.status).toBe(200);
  });

  it.each([
    ["limit=0", 400],
    ["limit=abc", 400],
    ["limit=10001", 400],
  ])("rejects ?%s with %d", async (query, status) => {
    const reply = await call(`${gw.url}/system/functions/echo/logs?${query}`, { headers: bearer });
    expect(reply.status).toBe(status);
    expect(reply.body).toContain("?limit= must be a whole number from 1 to 10000");
  });

  it("answers 404 for an unknown function, and when the platform has no runtime", async () => {
    expect((await call(`${gw.url}/system/functions/nope/logs`, { headers: bearer })).status).toBe(404);
    expect((await call(`${bare.url}/system/functions/echo/logs`, { headers: bearer })).status).toBe(404);
  });

  it("needs the credential", async () => {
    expect((await call(`${gw.url}/system/functions/echo/replicas`)).status).toBe(401);
  });
});
