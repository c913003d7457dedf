// http mode: proxy every call to the user's HTTP server, streaming both ways over a keep-alive pool,
// and tunnel upgraded connections (WebSockets) to it.
import { Agent, request, type IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import { CallTimeoutError, ClientClosedError, UpstreamError, type WatchdogError } from "../errors.js";
import type { Call, Mode, UpgradeCall } from "./mode.js";
import type { Upstream } from "./upstream.js";

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection, not the message, so they are not
 * forwarded. `expect` too: Node has already answered 100-continue to the client.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "expect",
]);

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
  /** Idle sockets are reused LIFO, so a quiet period lets the extra ones time out. */
  private readonly agent = new Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: "lifo" });
  /** The upstream side of every open tunnel, cut by close(). */
  private readonly tunnels = new Set<Socket>();

  constructor(private readonly upstream: Upstream) {}

  start(): Promise<void> {
    return this.upstream.start();
  }

  ready(): boolean {
    return this.upstream.ready();
  }

  handle(call: Call): Promise<void> {
    return new Promise((resolve, reject) => {
      const { req, res, body } = call;
      const upstreamReq = request({
        agent: this.agent,
        host: this.upstream.hostname,
        port: this.upstream.port,
        method: req.method,
        path: this.upstream.basePath + (req.url ?? "/"),
        headers: forwardedRequestHeaders(req, call.id, body !== null),
      });
      call.onAbort(() => upstreamReq.destroy());
      const fail = (what: string, error: Error): void => {
        if (!call.aborted) reject(new UpstreamError(`${what}: ${error.message}`, { cause: error }));
      };
      upstreamReq.once("error", (error) => fail("the upstream failed", error));
      upstreamReq.once("response", (upstreamRes) => {
        if (call.aborted) {
          // The server has answered already (timeout, client gone); this response has nowhere to go.
          upstreamRes.destroy();
          return;
        }
        res.writeHead(upstreamRes.statusCode ?? 502, forwardedResponseHeaders(upstreamRes, call.id));
        // pipe rather than pipeline: pipeline builds and aborts an AbortController per call. What it
        // would add is done here: a broken upstream response fails the call (the server then cuts the
        // client off), and a client that goes away aborts the call, which destroys the upstream request.
        // Before pipe's own 'end' listener, which ends the response: trailers go out with the last chunk.
        upstreamRes.once("end", () => {
          const trailers = upstreamRes.rawTrailers;
          if (trailers.length > 0) res.addTrailers(pairs(trailers));
        });
        upstreamRes.pipe(res);
        upstreamRes.once("end", resolve);
        upstreamRes.once("error", (error) => fail("the upstream response broke", error));
        upstreamRes.once("close", () => {
          if (!upstreamRes.complete)
            fail("the upstream response broke", new Error("connection closed early"));
        });
      });

      // pipe, not pipeline: an upstream failure must not destroy the client's request (and socket),
      // or the 502 could not be sent. Backpressure still flows from the upstream socket to the client.
      if (body === null) upstreamReq.end();
      else body.pipe(upstreamReq);
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
    this.agent.destroy();
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
  const raw = req.rawHeaders;
  let head = `${req.method} ${basePath}${req.url ?? "/"} HTTP/1.1\r\n`;
  let forwardedFor: string | undefined;
  let hasHost = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (lower === "x-forwarded-for") forwardedFor = raw[i + 1];
    else if (!NOT_TUNNELLED.has(lower)) {
      if (lower === "host") hasHost = true;
      head += `${name}: ${raw[i + 1]}\r\n`;
    }
  }
  head += `x-call-id: ${callId}\r\nx-forwarded-for: ${appendForwardedFor(forwardedFor, req)}\r\n`;
  if (!hasHost) head += "host: localhost\r\n";
  return `${head}\r\n`;
}

/** The X-Forwarded-For value for the upstream: the client's, with the client's own address added. */
function appendForwardedFor(forwardedFor: string | undefined, req: IncomingMessage): string {
  const peer = req.socket.remoteAddress ?? "";
  return forwardedFor === undefined ? peer : `${forwardedFor}, ${peer}`;
}

/** The client's headers minus hop-by-hop ones, with the call id and the usual X-Forwarded-* added. */
function forwardedRequestHeaders(req: IncomingMessage, callId: string, hasBody: boolean): string[] {
  const raw = req.rawHeaders;
  const headers: string[] = [];
  let forwardedFor: string | undefined;
  let hasHost = false;
  let chunked = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (lower === "transfer-encoding") chunked = true;
    else if (lower === "x-forwarded-for") forwardedFor = raw[i + 1];
    else if (lower !== "x-call-id" && !HOP_BY_HOP.has(lower)) {
      if (lower === "host") hasHost = true;
      headers.push(name, raw[i + 1] as string);
    }
  }
  headers.push("x-call-id", callId, "x-forwarded-for", appendForwardedFor(forwardedFor, req));
  if (!hasHost) headers.push("host", "localhost");
  // Node decoded the client's chunks; with raw headers it frames the body only if told to.
  if (hasBody && chunked) headers.push("transfer-encoding", "chunked");
  return headers;
}

function forwardedResponseHeaders(upstreamRes: IncomingMessage, callId: string): string[] {
  const raw = upstreamRes.rawHeaders;
  const headers: string[] = ["x-call-id", callId];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    // Trailer is end to end: it announces the trailer fields passed on after the body.
    if ((lower === "trailer" || !HOP_BY_HOP.has(lower)) && lower !== "x-call-id") {
      headers.push(name, raw[i + 1] as string);
    }
  }
  return headers;
}

/** [name, value, ...] as [name, value] pairs, the shape `addTrailers` takes. */
function pairs(raw: readonly string[]): [string, string][] {
  const result: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) result.push([raw[i] as string, raw[i + 1] as string]);
  return result;
}
