// The AWS Lambda handler shape: an API Gateway HTTP API (payload 2.0) event in, its result out.
import type { IncomingMessage } from "node:http";
import { InvalidResultError } from "../errors.js";
import type { Call } from "../modes/mode.js";

/** The API Gateway HTTP API v2 request event, as Lambda handlers receive it. */
export interface LambdaHttpEvent {
  version: "2.0";
  routeKey: "$default";
  rawPath: string;
  rawQueryString: string;
  cookies?: string[];
  /** Lower-cased names; repeated headers joined with a comma. */
  headers: Record<string, string>;
  /** Repeated parameters joined with a comma; absent without a query string. */
  queryStringParameters?: Record<string, string>;
  requestContext: {
    accountId: string;
    apiId: string;
    domainName: string;
    domainPrefix: string;
    http: { method: string; path: string; protocol: string; sourceIp: string; userAgent: string };
    requestId: string;
    routeKey: "$default";
    stage: "$default";
    /** Like "12/Mar/2020:19:03:58 +0000". */
    time: string;
    timeEpoch: number;
  };
  body?: string;
  isBase64Encoded: boolean;
}

/** Content types whose bodies API Gateway passes as text; anything else is base64-encoded. */
const TEXT_TYPE_RE =
  /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded|graphql)|[^;]*\+(json|xml))/i;

export function toLambdaEvent(
  req: IncomingMessage,
  body: Buffer,
  callId: string,
  nowMs: number,
): LambdaHttpEvent {
  const url = req.url ?? "/";
  const queryAt = url.indexOf("?");
  const rawPath = queryAt === -1 ? url : url.slice(0, queryAt);
  const rawQueryString = queryAt === -1 ? "" : url.slice(queryAt + 1);

  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    // API Gateway moves cookies out of the headers into their own array.
    if (name === "cookie") (cookies ??= []).push(...value.split(/;\s*/).filter((c) => c !== ""));
    else headers[name] = Object.hasOwn(headers, name) ? `${headers[name]},${value}` : value;
  }

  const host = headers.host ?? "localhost";
  const event: LambdaHttpEvent = {
    version: "2.0",
    routeKey: "$default",
    rawPath,
    rawQueryString,
    headers,
    requestContext: {
      accountId: "anonymous",
      apiId: "flint",
      domainName: host,
      domainPrefix: host.split(".", 1)[0] as string,
      http: {
        method: req.method ?? "GET",
        path: safeDecode(rawPath),
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? "",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId: callId,
      routeKey: "$default",
      stage: "$default",
      time: clfTime(nowMs),
      timeEpoch: nowMs,
    },
    isBase64Encoded: false,
  };
  if (cookies !== undefined) event.cookies = cookies;
  if (rawQueryString !== "") event.queryStringParameters = queryParameters(rawQueryString);
  if (body.length > 0) {
    const text = TEXT_TYPE_RE.test(headers["content-type"] ?? "");
    event.body = body.toString(text ? "utf8" : "base64");
    event.isBase64Encoded = !text;
  }
  return event;
}

/**
 * Writes what a Lambda handler returned, following API Gateway's payload 2.0 rules: an object with a
 * numeric `statusCode` is a structured response; any other JSON value is a 200 application/json body
 * (a string is sent as it is). `undefined` or a bad structured response is an InvalidResultError.
 */
// eslint-disable-next-line complexity -- one branch per field of the Lambda result shape (statusCode, headers, cookies, isBase64Encoded, body)
export function writeLambdaResult(result: unknown, call: Call): void {
  const { res } = call;
  if (result === undefined || typeof result === "function" || typeof result === "symbol") {
    throw new InvalidResultError(`the Lambda handler returned ${typeof result}, not a response`);
  }
  if (!isStructured(result)) {
    const body = typeof result === "string" ? result : JSON.stringify(result);
    res.writeHead(200, {
      "x-call-id": call.id,
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
    return;
  }
  const { statusCode, headers, multiValueHeaders, cookies, body, isBase64Encoded } = result;
  if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) {
    throw new InvalidResultError(`the Lambda handler returned statusCode ${String(statusCode)}`);
  }
  if (body !== undefined && body !== null && typeof body !== "string") {
    throw new InvalidResultError(`the Lambda handler returned a ${typeof body} body, not a string`);
  }
  const out: string[] = ["x-call-id", call.id];
  if (isRecord(headers)) {
    for (const [name, value] of Object.entries(headers)) {
      if (value !== undefined && value !== null) out.push(name, headerValue(name, value));
    }
  }
  if (isRecord(multiValueHeaders)) {
    for (const [name, values] of Object.entries(multiValueHeaders)) {
      if (Array.isArray(values))
        for (const value of values as unknown[]) out.push(name, headerValue(name, value));
    }
  }
  if (Array.isArray(cookies))
    for (const cookie of cookies as unknown[]) out.push("set-cookie", headerValue("cookies", cookie));
  const payload = Buffer.from(body ?? "", isBase64Encoded === true ? "base64" : "utf8");
  out.push("content-length", String(payload.length));
  res.writeHead(statusCode, out);
  res.end(payload);
}

function headerValue(name: string, value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  throw new InvalidResultError(
    `the Lambda handler returned a ${typeof value} for header ${JSON.stringify(name)}`,
  );
}

interface StructuredResult {
  statusCode: number;
  headers?: unknown;
  multiValueHeaders?: unknown;
  cookies?: unknown;
  body?: unknown;
  isBase64Encoded?: unknown;
}

function isStructured(value: unknown): value is StructuredResult {
  return isRecord(value) && "statusCode" in value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function queryParameters(rawQueryString: string): Record<string, string> {
  const parameters: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(rawQueryString)) {
    parameters[name] = Object.hasOwn(parameters, name) ? `${parameters[name]},${value}` : value;
  }
  return parameters;
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Common Log Format time in UTC, as API Gateway writes `requestContext.time`. */
function clfTime(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number): string => String(n).padStart(2, "0");
  return (
    `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`
  );
}
