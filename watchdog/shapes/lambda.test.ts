// The Lambda shape's pure parts: building the API Gateway v2 event, and reading a handler's result.
import { describe, expect, it } from "@jest/globals";
import type { IncomingMessage, ServerResponse } from "node:http";
import { InvalidResultError } from "../errors.js";
import { toLambdaEvent, writeLambdaResult } from "./lambda.js";
import type { Call } from "../modes/mode.js";

/** The parts of a node:http request the event is built from. */
function fakeRequest(method: string, url: string, rawHeaders: string[]): IncomingMessage {
  return {
    method,
    url,
    rawHeaders,
    httpVersion: "1.1",
    socket: { remoteAddress: "10.0.0.7" },
  } as unknown as IncomingMessage;
}

/** A response that records what was written. */
function fakeCall(): Call & { written: { status?: number; headers?: unknown; body?: Buffer | string } } {
  const written: { status?: number; headers?: unknown; body?: Buffer | string } = {};
  const res = {
    writeHead(status: number, headers: unknown) {
      written.status = status;
      written.headers = headers;
      return res;
    },
    end(body: Buffer | string) {
      written.body = body;
    },
  };
  return { id: "call-9", res: res as unknown as ServerResponse, written } as unknown as Call & {
    written: typeof written;
  };
}

describe("toLambdaEvent", () => {
  const NOW = Date.UTC(2020, 2, 12, 19, 3, 58, 390);

  it("fills the v2 fields the way API Gateway does", () => {
    const req = fakeRequest("POST", "/my/path%20x?p=1&p=2&q=", [
      "Host", "fn.example.com",
      "Content-Type", "text/plain",
      "X-Repeat", "a",
      "x-repeat", "b",
      "Cookie", "c1=v1; c2=v2",
      "User-Agent", "curl/8",
    ]); // prettier-ignore
    const event = toLambdaEvent(req, Buffer.from("hello"), "call-1", NOW);
    expect(event).toEqual({
      version: "2.0",
      routeKey: "$default",
      rawPath: "/my/path%20x",
      rawQueryString: "p=1&p=2&q=",
      cookies: ["c1=v1", "c2=v2"],
      headers: {
        host: "fn.example.com",
        "content-type": "text/plain",
        "x-repeat": "a,b",
        "user-agent": "curl/8",
      },
      queryStringParameters: { p: "1,2", q: "" },
      requestContext: {
        accountId: "anonymous",
        apiId: "flint",
        domainName: "fn.example.com",
        domainPrefix: "fn",
        http: {
          method: "POST",
          path: "/my/path x",
          protocol: "HTTP/1.1",
          sourceIp: "10.0.0.7",
          userAgent: "curl/8",
        },
        requestId: "call-1",
        routeKey: "$default",
        stage: "$default",
        time: "12/Mar/2020:19:03:58 +0000",
        timeEpoch: NOW,
      },
      body: "hello",
      isBase64Encoded: false,
    });
  });

  it("leaves out body, cookies and query parameters that are not there", () => {
    const event = toLambdaEvent(fakeRequest("GET", "/", ["Host", "h"]), Buffer.alloc(0), "c", NOW);
    expect(event.body).toBeUndefined();
    expect(event.cookies).toBeUndefined();
    expect(event.queryStringParameters).toBeUndefined();
    expect(event.isBase64Encoded).toBe(false);
  });

  it.each([
    ["application/json", false],
    ["application/problem+json; charset=utf-8", false],
    ["text/html", false],
    ["application/x-www-form-urlencoded", false],
    ["image/png", true],
    ["application/octet-stream", true],
    ["", true],
  ])("encodes a %j body as base64: %s", (type, base64) => {
    const headers = type === "" ? [] : ["Content-Type", type];
    const event = toLambdaEvent(fakeRequest("POST", "/", headers), Buffer.from("abc"), "c", NOW);
    expect(event.isBase64Encoded).toBe(base64);
    expect(event.body).toBe(base64 ? Buffer.from("abc").toString("base64") : "abc");
  });
});

describe("writeLambdaResult", () => {
  it("writes statusCode, headers, multiValueHeaders, cookies and a base64 body", () => {
    const call = fakeCall();
    writeLambdaResult(
      {
        statusCode: 201,
        headers: { "x-one": "1", "x-num": 2, "x-bool": true },
        multiValueHeaders: { "x-multi": ["a", "b"] },
        cookies: ["a=1"],
        body: Buffer.from([0, 255]).toString("base64"),
        isBase64Encoded: true,
      },
      call,
    );
    expect(call.written.status).toBe(201);
    expect(call.written.headers).toEqual([
      "x-call-id", "call-9",
      "x-one", "1",
      "x-num", "2",
      "x-bool", "true",
      "x-multi", "a",
      "x-multi", "b",
      "set-cookie", "a=1",
      "content-length", "2",
    ]); // prettier-ignore
    expect(call.written.body).toEqual(Buffer.from([0, 255]));
  });

  it.each([
    [{ hello: "world" }, '{"hello":"world"}'],
    ["plain text", "plain text"],
    [[1, 2], "[1,2]"],
    [null, "null"],
  ])("sends %j, which has no statusCode, as a 200 JSON body", (result, body) => {
    const call = fakeCall();
    writeLambdaResult(result, call);
    expect(call.written.status).toBe(200);
    expect(call.written.body).toBe(body);
  });

  it.each([
    [undefined, "returned undefined"],
    [{ statusCode: "200" }, "statusCode 200"],
    [{ statusCode: 99 }, "statusCode 99"],
    [{ statusCode: 200, body: { not: "a string" } }, "a object body"],
    [{ statusCode: 200, headers: { "x-bad": { nested: 1 } } }, 'a object for header "x-bad"'],
  ])("rejects %j", (result, message) => {
    expect(() => writeLambdaResult(result, fakeCall())).toThrow(InvalidResultError);
    expect(() => writeLambdaResult(result, fakeCall())).toThrow(message);
  });
});
