// The watchdog's HTTP front against a real process: /_/ routes, limits, call ids, SIGTERM drain, bad config.
import { afterEach, describe, expect, it } from "@jest/globals";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import {
  call,
  metric,
  runWatchdogToExit,
  startWatchdog,
  stopAllWatchdogs,
  waitFor,
  type Reply,
} from "../testing/watchdog.js";

const FETCH_HANDLER = { FLINT_MODE: "module", FLINT_ENTRY: "watchdog/testdata/fetch-handler.mjs" };

afterEach(stopAllWatchdogs);

/** A directory for gate files: a call to /wait?gate=<file> finishes once the file exists. */
function gateDir(): { gate: string; open(): void; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "flint-watchdog-gate-"));
  const gate = join(dir, "open");
  return {
    gate,
    open: () => writeFileSync(gate, ""),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

describe("reserved routes", () => {
  it("answers /_/health, /_/ready and 404 for other /_/ paths, none of them counted as calls", async () => {
    const watchdog = await startWatchdog(FETCH_HANDLER);
    expect(await call(`${watchdog.url}/_/health`)).toMatchObject({ status: 200, body: "ok\n" });
    expect(await call(`${watchdog.url}/_/ready`)).toMatchObject({ status: 200, body: "ready\n" });
    const unknown = await call(`${watchdog.url}/_/nope`);
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({ error: { code: "RESERVED_ROUTE" } });
    expect(await metric(watchdog.url, "flint_watchdog_request_duration_seconds_count")).toBe(0);
    expect(await metric(watchdog.url, "flint_watchdog_ready")).toBe(1);
  });
});

describe("call ids", () => {
  it("keeps a plain caller id and replaces one that is unsafe to log", async () => {
    const watchdog = await startWatchdog(FETCH_HANDLER);
    expect(
      (await call(`${watchdog.url}/hello`, { headers: { "x-call-id": "abc.123:x-y" } })).headers["x-call-id"],
    ).toBe("abc.123:x-y");
    const replaced = await call(`${watchdog.url}/hello`, { headers: { "x-call-id": "has spaces {}" } });
    expect(replaced.headers["x-call-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("limits", () => {
  it("answers 429 past FLINT_MAX_INFLIGHT and serves again once calls finish", async () => {
    const gates = gateDir();
    try {
      const watchdog = await startWatchdog({ ...FETCH_HANDLER, FLINT_MAX_INFLIGHT: "2" });
      const slow = [1, 2].map(() => call(`${watchdog.url}/wait?gate=${gates.gate}`));
      await waitFor(
        "two calls in flight",
        async () => (await metric(watchdog.url, "flint_watchdog_in_flight")) === 2,
      );
      const refused = await call(`${watchdog.url}/hello`);
      expect(refused.status).toBe(429);
      expect(refused.headers["retry-after"]).toBe("1");
      expect(JSON.parse(refused.body)).toMatchObject({
        error: { code: "IN_FLIGHT_LIMIT", callId: refused.headers["x-call-id"] },
      });
      gates.open();
      expect((await Promise.all(slow)).map((reply) => reply.status)).toEqual([200, 200]);
      expect((await call(`${watchdog.url}/hello`)).status).toBe(200);
      expect(await metric(watchdog.url, "flint_watchdog_requests_total", 'code="429"')).toBe(1);
    } finally {
      gates.cleanup();
    }
  });

  it("answers 413 for a declared Content-Length over FLINT_MAX_BODY_BYTES", async () => {
    const watchdog = await startWatchdog({ ...FETCH_HANDLER, FLINT_MAX_BODY_BYTES: "1000" });
    const reply = await call(`${watchdog.url}/echo`, { body: "x".repeat(1001) });
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.body)).toMatchObject({ error: { code: "BODY_TOO_LARGE" } });
    expect((await call(`${watchdog.url}/echo`, { body: "x".repeat(1000) })).status).toBe(200);
  });

  it("answers 413 for a chunked body that grows past FLINT_MAX_BODY_BYTES while streaming", async () => {
    const watchdog = await startWatchdog({ ...FETCH_HANDLER, FLINT_MAX_BODY_BYTES: "1000" });
    const chunks = Readable.from([Buffer.alloc(600, 97), Buffer.alloc(600, 98)]);
    const reply = await call(`${watchdog.url}/echo`, { method: "POST", body: chunks });
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.body)).toMatchObject({ error: { code: "BODY_TOO_LARGE" } });
    const small = Readable.from([Buffer.alloc(500, 97), Buffer.alloc(500, 98)]);
    const ok = await call(`${watchdog.url}/echo`, { method: "POST", body: small });
    expect(ok.status).toBe(200);
    expect((JSON.parse(ok.body) as { body: string }).body).toHaveLength(1000);
  });
});

describe("SIGTERM", () => {
  it("fails readiness, refuses new calls, finishes the calls in flight, then exits 0", async () => {
    const gates = gateDir();
    try {
      const watchdog = await startWatchdog(FETCH_HANDLER);
      const slow = [1, 2, 3].map(() => call(`${watchdog.url}/wait?gate=${gates.gate}`));
      await waitFor(
        "three calls in flight",
        async () => (await metric(watchdog.url, "flint_watchdog_in_flight")) === 3,
      );

      watchdog.child.kill("SIGTERM");
      await watchdog.waitForLog((line) => line.msg === "draining");
      const ready = await call(`${watchdog.url}/_/ready`);
      expect(ready).toMatchObject({ status: 503, body: "draining\n" });
      const refused = await call(`${watchdog.url}/hello`);
      expect(refused.status).toBe(503);
      expect(refused.headers.connection).toBe("close");
      expect(JSON.parse(refused.body)).toMatchObject({ error: { code: "DRAINING" } });
      // Refused before the handler ran: the gateway may send a bodyless call elsewhere.
      expect(refused.headers["x-flint-refused"]).toBe("draining");

      gates.open();
      const finished: Reply[] = await Promise.all(slow);
      expect(finished.map((reply) => [reply.status, reply.body])).toEqual([
        [200, "done"],
        [200, "done"],
        [200, "done"],
      ]);
      expect(await watchdog.waitForExit()).toEqual({ code: 0, signal: null });
      await expect(call(`${watchdog.url}/hello`)).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      gates.cleanup();
    }
  });

  it("exits 0 at once when nothing is in flight", async () => {
    const watchdog = await startWatchdog(FETCH_HANDLER);
    watchdog.child.kill("SIGTERM");
    expect(await watchdog.waitForExit()).toEqual({ code: 0, signal: null });
    expect(watchdog.logs.map((line) => line.msg)).toContain("stopped");
  });
});

describe("configuration errors", () => {
  it.each([
    [{}, "FLINT_MODE is required"],
    [{ FLINT_MODE: "lambda" }, 'FLINT_MODE must be one of module, http, exec, was "lambda"'],
    [
      { ...FETCH_HANDLER, FLINT_TIMEOUT: "thirty" },
      'FLINT_TIMEOUT must be a duration like 30s, was "thirty"',
    ],
    [{ FLINT_MODE: "exec", FLINT_COMMAND: "sh -c true" }, "FLINT_COMMAND must be a JSON array of strings"],
    [{ ...FETCH_HANDLER, PORT: "http" }, 'PORT must be an integer from 0 to 65535, was "http"'],
  ])("exits 1 naming the variable for %j", async (env, message) => {
    const { code, stderr } = await runWatchdogToExit(env);
    expect(code).toBe(1);
    expect(stderr).toContain(message);
  });
});
