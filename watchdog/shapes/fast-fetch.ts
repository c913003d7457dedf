// Light Request and Response for module mode: Node 20's fetch objects cost more than a whole bare request.
//
// Measured on Node 20: `new Response("hello")` takes about 25 µs and reading its body back another
// 30 µs, because each one builds a transferable web stream; `new Request(url, init)` about 8 µs. A
// bare node:http request costs about 25 µs in all. So, like @hono/node-server, module mode
//  - hands handlers a CallRequest: a real `Request` by prototype, whose method, url, headers and
//    signal are read straight from the node:http request, and which builds the undici Request only
//    when something else (the body, clone()) is asked for;
//  - replaces the global `Response` with FastResponse, which keeps the body and init it was given
//    and builds the undici Response only when the handler itself reads it back. The watchdog writes
//    a string or byte body without ever building one.
// Both pass `instanceof Request` / `instanceof Response`, and real Responses (from fetch(),
// Response.json()) still pass `instanceof Response`.
import { Readable } from "node:stream";
import type { Call } from "../modes/mode.js";

const GlobalRequest = globalThis.Request;
const GlobalResponse = globalThis.Response;
type ResponseBody = ConstructorParameters<typeof Response>[0];

const kCall = Symbol("flint.call");
const kUrl = Symbol("flint.url");
const kHeaders = Symbol("flint.headers");
const kReal = Symbol("flint.real");
const kBody = Symbol("flint.body");
const kInit = Symbol("flint.init");

/** Builds the real undici object behind a light one, once; everything not overridden delegates to it. */
type RealOf<T> = (light: T) => object;

/** Defines every prototype member of `source` that `target` lacks as a delegate to the real object. */
function delegateRest<T>(target: object, source: object, realOf: RealOf<T>): void {
  for (const key of Reflect.ownKeys(source)) {
    if (key === "constructor" || Object.prototype.hasOwnProperty.call(target, key)) continue;
    const descriptor = Object.getOwnPropertyDescriptor(source, key) as PropertyDescriptor;
    if (descriptor.get !== undefined) {
      Object.defineProperty(target, key, {
        configurable: true,
        get(this: T) {
          return Reflect.get(realOf(this), key) as unknown;
        },
      });
    } else if (typeof descriptor.value === "function") {
      Object.defineProperty(target, key, {
        configurable: true,
        writable: true,
        value(this: T, ...args: unknown[]) {
          const real = realOf(this);
          return (Reflect.get(real, key) as (...a: unknown[]) => unknown).apply(real, args);
        },
      });
    }
  }
  Object.setPrototypeOf(target, source);
}

/** The Request a fetch handler receives in module mode. */
export class CallRequest {
  [kCall]: Call;
  [kUrl]: string | undefined;
  [kHeaders]: Headers | undefined;
  [kReal]: Request | undefined;

  constructor(call: Call) {
    this[kCall] = call;
  }

  get method(): string {
    return this[kCall].req.method ?? "GET";
  }

  /** Relative paths need a base: the Host header, as any server behind a proxy sees it. */
  get url(): string {
    const { req } = this[kCall];
    return (this[kUrl] ??= `http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`);
  }

  get headers(): Headers {
    if (this[kHeaders] === undefined) {
      const headers = new Headers();
      const raw = this[kCall].req.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
      this[kHeaders] = headers;
    }
    return this[kHeaders];
  }

  /** Aborts when the call times out or the client goes away. */
  get signal(): AbortSignal {
    return this[kCall].signal;
  }
}

function realRequest(light: CallRequest): Request {
  if (light[kReal] === undefined) {
    const call = light[kCall];
    const init: RequestInit = { method: light.method, headers: light.headers };
    if (call.body !== null) {
      init.body = Readable.toWeb(call.body) as ReadableStream<Uint8Array>;
      init.duplex = "half";
    }
    light[kReal] = new GlobalRequest(light.url, init);
  }
  return light[kReal];
}

delegateRest(CallRequest.prototype, GlobalRequest.prototype, realRequest);

/** Statuses whose responses cannot have a body; the real constructor rejects a body with them. */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/** The global `Response` in module mode. */
export class FastResponse {
  [kBody]: unknown;
  [kInit]: ResponseInit | undefined;
  [kReal]: Response | undefined;

  constructor(body?: unknown, init?: ResponseInit) {
    this[kBody] = body;
    this[kInit] = init;
    this[kReal] = undefined;
    // Anything the fast path does not cover, or that the real constructor would reject, is built
    // now, so errors and semantics are exactly undici's.
    if (!isFastBody(body) || !isFastInit(init, body))
      this[kReal] = new GlobalResponse(body as ResponseBody, init);
  }

  get status(): number {
    return this[kReal]?.status ?? this[kInit]?.status ?? 200;
  }

  get ok(): boolean {
    const status = this.status;
    return status >= 200 && status <= 299;
  }

  /** `Response.json()`, the most common answer of an API handler, kept on the fast path too. */
  static json(data: unknown, init?: ResponseInit): Response {
    const headers = init?.headers;
    const body = JSON.stringify(data) as string | undefined;
    // Anything unusual (a Headers object, a value JSON cannot encode) gets undici's own behaviour.
    if (body === undefined || (headers !== undefined && !isPlainObject(headers)))
      return GlobalResponse.json(data, init);
    const typed =
      headers !== undefined && Object.keys(headers).some((name) => name.toLowerCase() === "content-type");
    const withType = typed ? headers : { ...headers, "content-type": "application/json" };
    return new FastResponse(body, { ...init, headers: withType }) as unknown as Response;
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(GlobalResponse, value);
  }
}

function realResponse(light: FastResponse): Response {
  return (light[kReal] ??= new GlobalResponse(light[kBody] as ResponseBody, light[kInit]));
}

delegateRest(FastResponse.prototype, GlobalResponse.prototype, realResponse);
Object.setPrototypeOf(FastResponse, GlobalResponse);

function isFastBody(body: unknown): body is string | Uint8Array | null | undefined {
  return body === undefined || body === null || typeof body === "string" || body instanceof Uint8Array;
}

function isFastInit(init: ResponseInit | undefined, body: unknown): boolean {
  if (init === undefined) return true;
  const { status, headers } = init;
  if (status !== undefined) {
    if (!Number.isInteger(status) || status < 200 || status > 599) return false;
    if (body !== undefined && body !== null && NULL_BODY_STATUSES.has(status)) return false;
  }
  return headers === undefined || isPlainObject(headers) || Array.isArray(headers);
}

function isPlainObject(value: unknown): value is Record<string, string> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Makes FastResponse the global `Response`; module mode calls it before importing the handler. */
export function installFastResponse(): void {
  Object.defineProperty(globalThis, "Response", { value: FastResponse, writable: true, configurable: true });
}

/** A FastResponse the watchdog can write without building a real Response: its parts, raw. */
export interface FastResponseParts {
  readonly status: number;
  readonly statusText: string | undefined;
  /** Flat [name, value, ...] list, content-type and content-length included. */
  readonly headers: string[];
  readonly body: string | Uint8Array | undefined;
}

/** The parts of `response` if it is a FastResponse still on the fast path, else undefined. */
// eslint-disable-next-line complexity -- the fast path tests each body type a Response may hold, in order of how common it is
export function fastResponseParts(response: unknown): FastResponseParts | undefined {
  // Not instanceof: FastResponse[Symbol.hasInstance] also accepts real Responses. The exact prototype
  // also leaves out user subclasses, whose overrides (say, of `headers`) the fast path would skip.
  if (typeof response !== "object" || response === null) return undefined;
  if (Object.getPrototypeOf(response) !== FastResponse.prototype) return undefined;
  if ((response as FastResponse)[kReal] !== undefined) return undefined;
  const body = (response as FastResponse)[kBody] as string | Uint8Array | null | undefined;
  const init = (response as FastResponse)[kInit];
  const headers: string[] = [];
  let hasType = false;
  let hasLength = false;
  const add = (name: string, value: unknown): void => {
    const lower = name.toLowerCase();
    if (lower === "content-type") hasType = true;
    else if (lower === "content-length") hasLength = true;
    headers.push(name, String(value));
  };
  const given = init?.headers;
  if (Array.isArray(given)) for (const [name, value] of given as [string, string][]) add(name, value);
  else if (given !== undefined) for (const name in given) add(name, (given as Record<string, string>)[name]);
  if (body === null || body === undefined) {
    if (!hasLength) headers.push("content-length", "0");
    return { status: init?.status ?? 200, statusText: init?.statusText, headers, body: undefined };
  }
  // What the real constructor would add: strings are text/plain UTF-8, bytes get no type.
  if (!hasType && typeof body === "string") headers.push("content-type", "text/plain;charset=UTF-8");
  if (!hasLength)
    headers.push(
      "content-length",
      String(typeof body === "string" ? Buffer.byteLength(body) : body.byteLength),
    );
  return { status: init?.status ?? 200, statusText: init?.statusText, headers, body };
}
