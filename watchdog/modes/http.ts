// http mode: proxy every call to the user's HTTP server, streaming both ways over a keep-alive pool,
// and tunnel upgraded connections (WebSockets) to it.
import type { IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import { Pool, errors as undiciErrors, type Dispatcher } from "undici";
import { HOP_BY_HOP_HEADERS } from "../../platform/http-headers.js";
import {
  BadRequestError,
  CallTimeoutError,
  ClientClosedError,
  UpstreamError,
  type WatchdogError,
} from "../errors.js";
import type { Call, Mode, UpgradeCall } from "./mode.js";
import type { Upstream } from "../upstream.js";

/**
 * Request headers not forwarded on a call: the hop-by-hop ones (RFC 9110 §7.6.1), Trailer (request
 * trailers are not passed on), and Expect (Node has already answered 100-continue to the client).
 * undici throws on `connection`, `keep-alive`, `transfer-encoding`, `upgrade` and `expect` in
 * request headers, so none of them may ever reach `dispatch`.
 */
const NOT_FORWARDED_ON_REQUEST: ReadonlySet<string> = new Set([...HOP_BY_HOP_HEADERS, "trailer", "expect"]);

/**
 * Most connections open to the upstream at once. node:http's Agent had no bound; one replica's server
 * rarely serves this many calls at a time (FLINT_MAX_INFLIGHT, when set, is usually far lower). Past
 * it calls wait in the pool's queue; one whose deadline passes there is answered 504 by the server
 * and dropped unsent when its turn comes.
 */
const UPSTREAM_CONNECTIONS = 256;
/**
 * Idle connections close after this long (ms), or 1 s before the upstream's Keep-Alive hint if that
 * is sooner, so a call never goes out on a connection the server is closing (Node's default is 5 s).
 */
const KEEP_ALIVE_TIMEOUT_MS = 4_000;
const KEEP_ALIVE_THRESHOLD_MS = 1_000;

/**
 * An upgrade's request head goes to the upstream as the client sent it: the bytes after it pass raw,
 * so its framing and Connection/Upgrade/Sec-WebSocket-* headers must stay. Only headers meant for the
 * watchdog as a proxy are dropped, and the two it rewrites.
 */
const NOT_TUNNELLED = new Set(["proxy-connection", "proxy-authorization", "x-call-id", "x-forwarded-for"]);

/** "HTTP/1.1 101": the upstream's first bytes up to the status code, all a tunnel needs to read. */
const STATUS_PREFIX_BYTES = 12;
const STATUS_PREFIX_RE = /^HTTP\/\d\.\d (\d{3})$/;
/** Recorded for an upstream whose first bytes are not a status line. */
const UNREADABLE_STATUS = 502;

export class HttpMode implements Mode {
  /** The connections to the upstream (undici, ADR 0009). */
  private readonly pool: Pool;
  /** The upstream side of every open tunnel, cut by close(). */
  private readonly tunnels = new Set<Socket>();

  constructor(private readonly upstream: Upstream) {
    const host = upstream.hostname.includes(":") ? `[${upstream.hostname}]` : upstream.hostname;
    this.pool = new Pool(`http://${host}:${upstream.port}`, {
      connections: UPSTREAM_CONNECTIONS,
      // One call per connection at a time: a slow call must not hold up the next one behind it.
      pipelining: 1,
      // The call's own deadline (FLINT_TIMEOUT) bounds it; undici's 300 s defaults would cut off a
      // long stream that the timeout allows.
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      keepAliveTimeoutThreshold: KEEP_ALIVE_THRESHOLD_MS,
    });
  }

  start(): Promise<void> {
    return this.upstream.start();
  }

  ready(): boolean {
    return this.upstream.ready();
  }

  handle(call: Call): Promise<void> {
    const { req, body } = call;
    const options: Dispatcher.DispatchOptions = {
      method: req.method ?? "GET",
      path: this.upstream.basePath + (req.url ?? "/"),
      headers: forwardedRequestHeaders(req, call.id),
      // undici frames a stream without a Content-Length as chunked by itself (or with one, if the
      // whole body has arrived by the time it is sent). It destroys the stream once the upload ends or
      // fails, but detaches the client's socket from an IncomingMessage first: a 502 can still be sent.
      body,
    };
    return new Promise((resolve, reject) => {
      this.pool.dispatch(options, new ForwardedCall(call, resolve, reject));
    });
  }

  /** One TCP connection to the upstream per upgrade: the client's head, then bytes both ways. */
  upgrade(call: UpgradeCall): void {
    const upstream = connect({ host: this.upstream.hostname, port: this.upstream.port });
    this.tunnels.add(upstream);
    // Written before the connection is up: the socket queues it. Header values are latin1, as parsed.
    upstream.write(upgradeRequestHead(call.req, this.upstream.basePath, call.id), "latin1");
    if (call.head.length > 0) upstream.write(call.head);
    tunnel(call, upstream, (outcome) => {
      this.tunnels.delete(upstream);
      call.done(outcome);
    });
  }

  async close(): Promise<void> {
    // Destroying the upstream side takes the client side down with it (see tunnel()).
    for (const socket of this.tunnels) socket.destroy();
    await this.upstream.close();
    await this.pool.destroy();
  }
}

/**
 * One call on its way to the upstream and back: undici's dispatch handler, writing the upstream's
 * response to the client as it arrives (raw header bytes and body chunks, no stream objects between).
 *
 * Until the response has started, a failure rejects with UpstreamError and the server answers 502;
 * after that the rejection makes the server cut the client's connection. Once the call is aborted
 * (timeout, client gone, body too large) the response is the server's, so nothing here writes to it
 * or settles the promise again.
 */
class ForwardedCall implements Dispatcher.DispatchHandler {
  /** undici's handle on the request, from the moment it has a connection. */
  private controller: Dispatcher.DispatchController | undefined;

  constructor(
    private readonly call: Call,
    private readonly resolve: () => void,
    private readonly reject: (error: WatchdogError) => void,
  ) {
    call.onAbort(this.onCallAbort);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // Aborted while it waited for a connection: undici sends nothing after this.
    if (this.call.aborted) controller.abort(new CallAbortedError());
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number): void {
    if (this.call.aborted) return;
    const raw = (controller.rawHeaders ?? []) as RawHeaders;
    this.call.res.writeHead(statusCode, forwardedResponseHeaders(raw, this.call.id));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.call.aborted) return;
    const { res } = this.call;
    if (!res.write(chunk) && !controller.paused) {
      // Backpressure: the upstream's socket is not read until the client has taken this chunk.
      controller.pause();
      res.once("drain", () => controller.resume());
    }
  }

  onResponseEnd(controller: Dispatcher.DispatchController): void {
    if (this.call.aborted) return;
    const { res } = this.call;
    const trailers = controller.rawTrailers as RawHeaders | null | undefined;
    if (trailers !== null && trailers !== undefined && trailers.length > 0) res.addTrailers(pairs(trailers));
    res.end();
    this.resolve();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.call.aborted) return;
    if (error instanceof undiciErrors.InvalidArgumentError) {
      // undici refuses a few requests Node's parser lets through, such as two Host headers.
      this.reject(new BadRequestError(`the request cannot be forwarded: ${error.message}`, { cause: error }));
      return;
    }
    const what = this.call.res.headersSent ? "the upstream response broke" : "the upstream failed";
    this.reject(new UpstreamError(`${what}: ${error.message}`, { cause: error }));
  }

  /** The call ended on the server's side: stop the upstream's work and free the connection. */
  private readonly onCallAbort = (): void => this.controller?.abort(new CallAbortedError());
}

/** The reason a forwarded request is aborted with; undici hands it back to `onResponseError`, which ignores it. */
class CallAbortedError extends Error {
  constructor() {
    super("the call was aborted");
    this.name = "CallAbortedError";
  }
}

/**
 * Moves bytes both ways between the client and the upstream until both sides have closed, then calls
 * `done` once with the upstream's status, read from its first bytes as they pass (never held back).
 * Until the upstream's first byte reaches the client the client is still owed an answer, so a failure
 * up to then is `done` with the error instead and the client socket is left to the server.
 *
 * A side that ends cleanly ends the other's writing (pipe); a side that is destroyed, resets or errs
 * destroys the other. Either socket idle for `idleTimeoutMs` cuts both: every tunnelled byte is read
 * on one and written on the other, so each one's timer sees traffic in both directions, and the
 * upstream's still runs after a client has closed cleanly but the upstream never does.
 */
function tunnel(call: UpgradeCall, upstream: Socket, done: (outcome: number | WatchdogError) => void): void {
  const client = call.socket;
  let answered = false;
  let status = UNREADABLE_STATUS;
  let statusPrefix = "";
  let timedOut = false;
  let upstreamError: Error | undefined;
  let settled = false;
  const settle = (outcome: number | WatchdogError): void => {
    if (settled) return;
    settled = true;
    client.setTimeout(0);
    done(outcome);
  };

  const readStatus = (chunk: Buffer): void => {
    answered = true;
    statusPrefix += chunk.toString("latin1", 0, STATUS_PREFIX_BYTES - statusPrefix.length);
    if (statusPrefix.length < STATUS_PREFIX_BYTES) return;
    upstream.off("data", readStatus);
    const match = STATUS_PREFIX_RE.exec(statusPrefix);
    if (match !== null) status = Number(match[1]);
  };
  upstream.on("data", readStatus);
  upstream.on("error", (error) => (upstreamError = error));
  client.pipe(upstream);
  // Not ended by the pipe: an upstream that closes before answering leaves the client to a 502.
  upstream.pipe(client, { end: false });
  upstream.once("end", () => {
    if (answered) client.end();
  });

  const onIdle = (): void => {
    timedOut = true;
    upstream.destroy();
    // Unanswered, the client gets the 504 from the server instead.
    if (answered) client.destroy();
  };
  client.setTimeout(call.idleTimeoutMs, onIdle);
  upstream.setTimeout(call.idleTimeoutMs, onIdle);

  upstream.once("close", () => {
    if (!answered) {
      client.unpipe(upstream);
      if (client.destroyed) settle(new ClientClosedError());
      else if (timedOut) settle(new CallTimeoutError(call.idleTimeoutMs));
      else settle(unansweredError(upstreamError));
      return;
    }
    if (!endedCleanly(upstream)) client.destroy();
    if (client.closed) settle(status);
  });
  // A client gone is the tunnel's end (as in nginx): an upstream that keeps its side open after the
  // client's FIN (Node's HTTP servers do) would otherwise hold the call until the idle bound.
  client.allowHalfOpen = false;
  client.once("close", () => {
    upstream.destroy();
    if (answered && upstream.closed) settle(status);
  });
}

function endedCleanly(socket: Socket): boolean {
  return socket.readableEnded && socket.writableFinished;
}

function unansweredError(cause: Error | undefined): UpstreamError {
  return cause === undefined
    ? new UpstreamError("the upstream closed the upgrade connection before answering")
    : new UpstreamError(`the upstream failed: ${cause.message}`, { cause });
}

/** The request line and the client's headers for the upstream, X-Call-Id replaced, X-Forwarded-For appended. */
function upgradeRequestHead(req: IncomingMessage, basePath: string, callId: string): string {
  const headers = forwardedRequestHeaders(req, callId, NOT_TUNNELLED);
  let head = `${req.method} ${basePath}${req.url ?? "/"} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${head}\r\n`;
}

/** The X-Forwarded-For value for the upstream: the client's, with the client's own address added. */
function appendForwardedFor(forwardedFor: string | undefined, req: IncomingMessage): string {
  const peer = req.socket.remoteAddress ?? "";
  return forwardedFor === undefined ? peer : `${forwardedFor}, ${peer}`;
}

/**
 * The client's headers minus `dropped` (hop-by-hop ones for a call; only the proxy's own for an
 * upgrade), with the call id and X-Forwarded-For added and Host defaulted.
 */
function forwardedRequestHeaders(
  req: IncomingMessage,
  callId: string,
  dropped: ReadonlySet<string> = NOT_FORWARDED_ON_REQUEST,
): string[] {
  const raw = req.rawHeaders;
  const headers: string[] = [];
  let forwardedFor: string | undefined;
  let hasHost = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (lower === "x-forwarded-for") forwardedFor = raw[i + 1];
    else if (lower !== "x-call-id" && !dropped.has(lower)) {
      if (lower === "host") hasHost = true;
      headers.push(name, raw[i + 1] as string);
    }
  }
  headers.push("x-call-id", callId, "x-forwarded-for", appendForwardedFor(forwardedFor, req));
  if (!hasHost) headers.push("host", "localhost");
  return headers;
}

/** Header names and values as undici hands them over: Buffers from its parser (its types allow strings). */
type RawHeaders = readonly (string | Buffer)[];

/** The upstream's response headers for the client: hop-by-hop ones dropped, X-Call-Id set. */
function forwardedResponseHeaders(raw: RawHeaders, callId: string): string[] {
  const headers: string[] = ["x-call-id", callId];
  for (let i = 0; i < raw.length; i += 2) {
    const name = latin1(raw[i]);
    const lower = name.toLowerCase();
    // Trailer is end to end (not in the set): it announces the trailer fields passed on after the body.
    if (!HOP_BY_HOP_HEADERS.has(lower) && lower !== "x-call-id") {
      headers.push(name, latin1(raw[i + 1]));
    }
  }
  return headers;
}

/** [name, value, ...] as [name, value] pairs, the shape `addTrailers` takes. */
function pairs(raw: RawHeaders): [string, string][] {
  const result: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) result.push([latin1(raw[i]), latin1(raw[i + 1])]);
  return result;
}

/** Header bytes are ISO-8859-1 on the wire (RFC 9110 §5.5); Node's server writes strings back the same way. */
function latin1(value: string | Buffer | undefined): string {
  if (value === undefined) return "";
  return typeof value === "string" ? value : value.toString("latin1");
}
