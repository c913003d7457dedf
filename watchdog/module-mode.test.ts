// module mode against a real watchdog process: fetch and Lambda handlers, failures and timeouts.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { join } from "node:path";
import {
  TESTDATA,
  call,
  metric,
  runWatchdogToExit,
  startWatchdog,
  stopAllWatchdogs,
  waitFor,
  type RunningWatchdog,
} from "../testing/watchdog.js";

afterAll(stopAllWatchdogs);

const FETCH_HANDLER = { FLINT_MODE: "module", FLINT_ENTRY: "watchdog/testdata/fetch-handler.mjs" };

describe("module mode, fetch handler", () => {
  let watchdog: RunningWatchdog;
  beforeAll(async () => {
    watchdog = await startWatchdog({
      FLINT_MODE: "module",
      FLINT_ENTRY: "watchdog/testdata/fetch-handler.mjs",
      FLINT_TIMEOUT: "5s",
      FLINT_FUNCTION: "fixtures/fetch",
    });
  });

  it("answers with the handler's response, a Content-Length and a generated call id", async () => {
    const reply = await call(`${watchdog.url}/hello`);
    expect(reply.status).toBe(200);
    expect(reply.body).toBe("hello");
    expect(reply.headers["content-length"]).toBe("5");
    expect(reply.headers["content-type"]).toBe("text/plain;charset=UTF-8");
    expect(reply.headers["x-call-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("hands the handler a Request with method, url, headers and body, and a context", async () => {
    const reply = await call(`${watchdog.url}/echo?x=1`, {
      method: "PUT",
      headers: { "x-call-id": "call-123", "content-type": "text/plain" },
      body: "payload",
    });
    expect(reply.status).toBe(200);
    expect(reply.headers["content-type"]).toBe("application/json");
    expect(reply.headers["x-call-id"]).toBe("call-123");
    const echoed = JSON.parse(reply.body) as Record<string, unknown>;
    expect(echoed).toMatchObject({
      method: "PUT",
      url: `http://127.0.0.1:${watchdog.port}/echo?x=1`,
      body: "payload",
      callId: "call-123",
      functionName: "fixtures/fetch",
    });
    expect((echoed.headers as Record<string, string>)["content-type"]).toBe("text/plain");
    expect(echoed.remainingMs).toBeGreaterThan(0);
    expect(echoed.remainingMs).toBeLessThanOrEqual(5000);
  });

  it("streams a body of several chunks and keeps status and headers", async () => {
    const reply = await call(`${watchdog.url}/stream`);
    expect(reply.status).toBe(202);
    expect(reply.headers["x-streamed"]).toBe("yes");
    expect(reply.body).toBe("one two three");
  });

  it("passes null bodies, several Set-Cookie headers and real Responses through", async () => {
    const empty = await call(`${watchdog.url}/no-content`);
    expect(empty.status).toBe(204);
    expect(empty.headers["x-empty"]).toBe("yes");
    const cookies = await call(`${watchdog.url}/cookies`);
    expect(cookies.status).toBe(201);
    expect(cookies.headers["set-cookie"]).toEqual(["a=1", "b=2"]);
    expect(cookies.body).toBe("cookies");
  });

  it("honours a Response subclass's overrides", async () => {
    expect(await call(`${watchdog.url}/subclass`)).toMatchObject({
      status: 200,
      body: "sub",
      headers: { "x-tagged": "yes" },
    });
  });

  it("keeps instanceof Request and Response true for light and real objects", async () => {
    const reply = await call(`${watchdog.url}/types`);
    expect(JSON.parse(reply.body)).toEqual({
      requestIsRequest: true,
      responseIsResponse: true,
      jsonIsResponse: true,
      signalIsSignal: true,
    });
  });

  it.each([
    ["throws", "/throw", "HANDLER_FAILED"],
    ["rejects", "/reject", "HANDLER_FAILED"],
    ["returns something that is not a Response", "/garbage", "INVALID_RESULT"],
  ])("answers 500 with the call id when the handler %s, and serves the next call", async (_, path, code) => {
    const reply = await call(`${watchdog.url}${path}`, { headers: { "x-call-id": `failing-${code}` } });
    expect(reply.status).toBe(500);
    expect(JSON.parse(reply.body)).toMatchObject({ error: { code, callId: `failing-${code}` } });
    await waitFor("the error log line", () =>
      watchdog.logs.some(
        (line) => line.callId === `failing-${code}` && line.level === 50 && line.err !== undefined,
      ),
    );
    expect((await call(`${watchdog.url}/hello`)).status).toBe(200);
  });

  it("answers 504 past the timeout and fires the handler's AbortSignal", async () => {
    // A watchdog of its own: a 300 ms timeout shared with the other tests could cut them off on a busy machine.
    const short = await startWatchdog({ ...FETCH_HANDLER, FLINT_TIMEOUT: "300ms" });
    const reply = await call(`${short.url}/hang`);
    expect(reply.status).toBe(504);
    expect(JSON.parse(reply.body)).toMatchObject({
      error: { code: "CALL_TIMEOUT", callId: reply.headers["x-call-id"] },
    });
    await waitFor("the signal to fire", async () => (await call(`${short.url}/aborted`)).body === "1");
    expect((await call(`${short.url}/hello`)).status).toBe(200);
    await short.stop();
  });

  it("survives an unhandled rejection from handler code", async () => {
    expect((await call(`${watchdog.url}/unhandled`)).status).toBe(200);
    await waitFor("the rejection to be logged", () =>
      watchdog.logs.some(
        (line) => typeof line.msg === "string" && line.msg.startsWith("unhandled promise rejection"),
      ),
    );
    expect((await call(`${watchdog.url}/hello`)).status).toBe(200);
  });

  it("logs one line per call and counts it in /_/metrics", async () => {
    await call(`${watchdog.url}/hello?secret=token`, { headers: { "x-call-id": "logged-call" } });
    await waitFor("the call's log line", () => watchdog.logs.some((line) => line.callId === "logged-call"));
    const line = watchdog.logs.find((l) => l.callId === "logged-call")!;
    expect(line).toMatchObject({
      msg: "call",
      method: "GET",
      path: "/hello",
      status: 200,
      function: "fixtures/fetch",
    });
    expect(typeof line.durationMs).toBe("number");
    expect(await metric(watchdog.url, "flint_watchdog_requests_total", 'code="200"')).toBeGreaterThanOrEqual(
      1,
    );
    expect(await metric(watchdog.url, "flint_watchdog_requests_total", 'code="500"')).toBeGreaterThanOrEqual(
      1,
    );
    expect(
      await metric(watchdog.url, "flint_watchdog_request_duration_seconds_count"),
    ).toBeGreaterThanOrEqual(2);
    expect(await metric(watchdog.url, "flint_watchdog_in_flight")).toBe(0);
    expect(await metric(watchdog.url, "process_resident_memory_bytes")).toBeGreaterThan(0);
  });
});

describe("module mode, Lambda handler", () => {
  let watchdog: RunningWatchdog;
  beforeAll(async () => {
    watchdog = await startWatchdog({
      FLINT_MODE: "module",
      FLINT_ENTRY: join(TESTDATA, "lambda-handler.mjs"),
      FLINT_FUNCTION: "fixtures/lambda",
    });
  });

  it("builds an API Gateway HTTP API v2 event", async () => {
    const reply = await call(`${watchdog.url}/event?a=1&a=2&b=x%20y`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        cookie: "c1=v1; c2=v2",
        "x-call-id": "lambda-1",
        "X-Multi": "m",
      },
      body: '{"k":"v"}',
    });
    expect(reply.status).toBe(200);
    const { event, awsRequestId, functionName, remainingMs } = JSON.parse(reply.body) as Record<
      string,
      unknown
    >;
    expect(awsRequestId).toBe("lambda-1");
    expect(functionName).toBe("fixtures/lambda");
    expect(remainingMs).toBeGreaterThan(0);
    expect(event).toMatchObject({
      version: "2.0",
      routeKey: "$default",
      rawPath: "/event",
      rawQueryString: "a=1&a=2&b=x%20y",
      cookies: ["c1=v1", "c2=v2"],
      queryStringParameters: { a: "1,2", b: "x y" },
      body: '{"k":"v"}',
      isBase64Encoded: false,
      requestContext: {
        http: { method: "POST", path: "/event", protocol: "HTTP/1.1" },
        requestId: "lambda-1",
      },
    });
    const headers = (event as { headers: Record<string, string> }).headers;
    expect(headers["x-multi"]).toBe("m");
    expect(headers.cookie).toBeUndefined();
  });

  it("base64-encodes a binary request body", async () => {
    const reply = await call(`${watchdog.url}/event`, {
      headers: { "content-type": "application/octet-stream" },
      body: Buffer.from([0, 255, 1]),
    });
    const { event } = JSON.parse(reply.body) as { event: { body: string; isBase64Encoded: boolean } };
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body, "base64")).toEqual(Buffer.from([0, 255, 1]));
  });

  it("honours statusCode, headers, cookies and a base64 body", async () => {
    const reply = await new Promise<{ status: number; headers: Record<string, unknown>; bytes: Buffer }>(
      (resolve, reject) => {
        fetch(`${watchdog.url}/binary`)
          .then(async (response) =>
            resolve({
              status: response.status,
              headers: {
                ...Object.fromEntries(response.headers),
                "set-cookie": response.headers.getSetCookie(),
              },
              bytes: Buffer.from(await response.arrayBuffer()),
            }),
          )
          .catch(reject);
      },
    );
    expect(reply.status).toBe(201);
    expect(reply.headers).toMatchObject({
      "x-custom": "yes",
      "x-number": "7",
      "set-cookie": ["a=1; Path=/", "b=2"],
    });
    expect(reply.bytes).toEqual(Buffer.from([0, 1, 2, 255]));
  });

  it("sends a result without statusCode as a 200 JSON body, like API Gateway", async () => {
    const object = await call(`${watchdog.url}/object`);
    expect(object.status).toBe(200);
    expect(object.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(object.body)).toEqual({ hello: "world" });
    expect((await call(`${watchdog.url}/string`)).body).toBe("just text");
  });

  it.each([
    ["/throw", "HANDLER_FAILED"],
    ["/garbage", "INVALID_RESULT"],
    ["/undefined", "INVALID_RESULT"],
  ])("answers %s with 500 and the call id", async (path, code) => {
    const reply = await call(`${watchdog.url}${path}`);
    expect(reply.status).toBe(500);
    expect(JSON.parse(reply.body)).toMatchObject({ error: { code, callId: reply.headers["x-call-id"] } });
    expect((await call(`${watchdog.url}/object`)).status).toBe(200);
  });

  it("calls a callback-style handler named by FLINT_EXPORT", async () => {
    const named = await startWatchdog({
      FLINT_MODE: "module",
      FLINT_ENTRY: join(TESTDATA, "lambda-handler.mjs"),
      FLINT_EXPORT: "callbackHandler",
      FLINT_HANDLER_SHAPE: "lambda",
    });
    const reply = await call(`${named.url}/cb`);
    expect(reply.status).toBe(200);
    expect(reply.body).toBe("callback /cb");
    await named.stop();
  });
});

describe("module mode start-up", () => {
  it.each([
    ["a module that throws on import", "broken-module.mjs", "cannot import FLINT_ENTRY"],
    ["a module without a handler", "no-handler.mjs", "has no handler"],
    ["a missing module", "nothing-here.mjs", "cannot import FLINT_ENTRY"],
  ])("exits 1 for %s", async (_, entry, message) => {
    const { code, stdout } = await runWatchdogToExit({
      FLINT_MODE: "module",
      FLINT_ENTRY: join(TESTDATA, entry),
      FLINT_PORT: "0",
    });
    expect(code).toBe(1);
    expect(stdout).toContain(message);
  });

  it("exits 1 when the module has no export of the configured shape", async () => {
    const { code, stdout } = await runWatchdogToExit({
      FLINT_MODE: "module",
      FLINT_ENTRY: join(TESTDATA, "lambda-handler.mjs"),
      FLINT_HANDLER_SHAPE: "fetch",
      FLINT_PORT: "0",
    });
    expect(code).toBe(1);
    expect(stdout).toContain('has no handler: expected an export named \\"default\\"');
  });
});
