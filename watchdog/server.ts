// The watchdog's HTTP front: reserved /_/ routes, limits, call ids, upgrades, logging, metrics and drain.
import { randomUUID } from "node:crypto";
import {
  STATUS_CODES,
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex, Readable } from "node:stream";
import type { Logger } from "pino";
import { isWebSocketUpgrade, serveWithoutUpgrade } from "../api/upgrade.js";
import { BodyLimit } from "./body.js";
import { CallLog } from "./call-log.js";
import {
  BodyTooLargeError,
  CallTimeoutError,
  ClientClosedError,
  DrainingError,
  InFlightLimitError,
  NotReadyError,
  ReservedRouteError,
  UpgradeNotSupportedError,
  WatchdogError,
  httpStatusOf,
  retryAfterSecondsOf,
} from "./errors.js";
import type { WatchdogMetrics } from "./metrics.js";
import type { Call, Mode, UpgradeCall } from "./modes/mode.js";

/** The limits the front enforces on every call. */
export interface CallLimits {
  /** Per-call deadline in milliseconds. */
  readonly timeoutMs: number;
  /** Concurrent calls allowed; 0 means unlimited. */
  readonly maxInFlight: number;
  /** Largest request body in bytes; 0 means unlimited. */
  readonly maxBodyBytes: number;
}

export interface WatchdogServerOptions {
  readonly mode: Mode;
  readonly limits: CallLimits;
  readonly logger: Logger;
  readonly metrics: WatchdogMetrics;
}

/** A caller's X-Call-Id is kept only if it is short and plain, so it is safe in logs, env and headers. */
const CALL_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** Set on a call refused before the handler ran, because this replica is draining or not ready. */
export const REFUSED_HEADER = "x-flint-refused";

/** Serves calls through a Mode and answers everything the Mode should not have to think about. */
export class WatchdogServer {
  readonly http: Server;
  private readonly callLog: CallLog;
  private inFlight = 0;
  private draining = false;
  /** Upgraded connections not yet ended; node:http has let go of them, so close() must cut them itself. */
  private readonly tunnels = new Set<Tunnel>();
  /** Resolved when a drain is waiting and the last call finishes. */
  private onIdle: (() => void) | undefined;

  constructor(private readonly options: WatchdogServerOptions) {
    this.callLog = new CallLog(options.logger);
    this.http = createServer(this.onRequest);
    this.http.on("upgrade", this.onUpgrade);
    // The call timeout bounds every call, body upload included; Node's own 300 s request timeout
    // would cut off a long upload that our limits allow.
    this.http.requestTimeout = 0;
    options.metrics.observe({ inFlight: () => this.inFlight, ready: () => this.ready() });
  }

  /** Ready for traffic: the handler is ready and no drain has begun. */
  ready(): boolean {
    return !this.draining && this.options.mode.ready();
  }

  /** Listens and resolves with the bound address (port 0 picks a free port). */
  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.http.once("error", reject);
      this.http.listen(port, host, () => {
        this.http.off("error", reject);
        resolve(this.http.address() as AddressInfo);
      });
    });
  }

  /**
   * Fails readiness and answers new calls with 503 at once, then waits until the calls in flight
   * have finished or `timeoutMs` has passed. Resolves true if they all finished.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    if (this.inFlight === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => {
      this.onIdle = () => resolve(true);
      timer = setTimeout(resolve, timeoutMs, false);
    });
    const finished = await idle;
    clearTimeout(timer);
    this.onIdle = undefined;
    return finished;
  }

  /** Drains (up to the call timeout plus a second), stops listening and closes every connection. */
  async close(): Promise<void> {
    const drained = await this.drain(this.options.limits.timeoutMs + 1000);
    if (!drained)
      this.options.logger.warn({ inFlight: this.inFlight }, "drain deadline passed, cutting calls off");
    // closeAllConnections() does not reach upgraded sockets, and http.close() waits for them.
    for (const tunnel of this.tunnels) tunnel.socket.destroy();
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
    await closed;
    this.callLog.flush();
  }

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? "/";
    if (url.startsWith("/_/")) {
      this.serveReserved(url, res);
      return;
    }
    const startMs = performance.now();
    const id = callIdOf(req);
    const refusal = this.admit(req);
    if (refusal !== undefined) {
      this.writeError(res, refusal, id);
      this.record(req, id, startMs, httpStatusOf(refusal), refusal);
      return;
    }
    this.inFlight++;
    const body = this.bodyOf(req);
    const call = new ActiveCall(this.finish, id, req, res, startMs, body, this.options.limits.timeoutMs);
    res.once("close", call.onResponseClose);
    this.options.mode.handle(call).then(call.onHandled, call.onFailed);
  };

  /**
   * An Upgrade request (a WebSocket handshake): admitted like a call, then handed to the mode with its
   * connection, and one call in flight until the mode reports the tunnel closed.
   */
  private readonly onUpgrade = (req: IncomingMessage, connection: Duplex, head: Buffer): void => {
    // Typed Duplex by node:http; the connections of a plain net.Server are net.Sockets.
    const socket = connection as Socket;
    // node:http stops listening to an upgraded socket, and an error nobody listens to (a client's
    // reset) would end the process. Whoever owns the socket destroys it; the error itself is no news.
    socket.on("error", ignoreError);
    if (!isWebSocketUpgrade(req)) {
      // Not a WebSocket (h2c from `curl --http2`, say): answered as the plain request it also is.
      if (req.headers["content-length"] === undefined && req.headers["transfer-encoding"] === undefined) {
        serveWithoutUpgrade(req, socket, this.onRequest);
        return;
      }
    }
    const url = req.url ?? "/";
    if (url.startsWith("/_/")) {
      // Like the other reserved paths: neither logged nor counted.
      this.writeRawError(socket, new ReservedRouteError(url.split("?", 1)[0] as string), "");
      return;
    }
    const startMs = performance.now();
    const id = callIdOf(req);
    const { mode } = this.options;
    // Checked before admission: no later state of this replica would let the upgrade through.
    const refusal = mode.upgrade === undefined ? new UpgradeNotSupportedError() : this.admit(req);
    if (refusal !== undefined) {
      this.writeRawError(socket, refusal, id);
      this.record(req, id, startMs, httpStatusOf(refusal), refusal);
      return;
    }
    this.inFlight++;
    const { timeoutMs } = this.options.limits;
    const tunnel = new Tunnel(this.finishTunnel, id, req, socket, head, startMs, timeoutMs);
    this.tunnels.add(tunnel);
    // Always defined here: a mode without it was refused above.
    mode.upgrade?.(tunnel);
  };

  /** Ends an upgraded call once: answers the error if the tunnel never opened, then logs and counts it. */
  private readonly finishTunnel = (tunnel: Tunnel, outcome: number | WatchdogError): void => {
    if (tunnel.settled) return;
    tunnel.settled = true;
    this.tunnels.delete(tunnel);
    if (typeof outcome === "number") {
      this.record(tunnel.req, tunnel.id, tunnel.startMs, outcome, undefined);
    } else {
      this.writeRawError(tunnel.socket, outcome, tunnel.id);
      this.record(tunnel.req, tunnel.id, tunnel.startMs, httpStatusOf(outcome), outcome);
    }
    this.inFlight--;
    if (this.inFlight === 0) this.onIdle?.();
  };

  /** The reason a call is refused before it reaches the mode, if it is. */
  private admit(req: IncomingMessage): WatchdogError | undefined {
    const { limits, mode } = this.options;
    if (this.draining) return new DrainingError();
    if (!mode.ready()) return new NotReadyError();
    if (limits.maxInFlight > 0 && this.inFlight >= limits.maxInFlight) {
      return new InFlightLimitError(limits.maxInFlight);
    }
    const declared = req.headers["content-length"];
    if (limits.maxBodyBytes > 0 && declared !== undefined && Number(declared) > limits.maxBodyBytes) {
      return new BodyTooLargeError(limits.maxBodyBytes);
    }
    return undefined;
  }

  /** A request has a body only with a non-zero Content-Length or a Transfer-Encoding (RFC 9112 §6.3). */
  private bodyOf(req: IncomingMessage): Readable | null {
    const declared = req.headers["content-length"];
    if (declared !== undefined) return declared === "0" ? null : req;
    if (req.headers["transfer-encoding"] === undefined) return null;
    const { maxBodyBytes } = this.options.limits;
    return maxBodyBytes > 0 ? req.pipe(new BodyLimit(maxBodyBytes)) : req;
  }

  /** Ends a call once: answers an error if the response has not started, then logs and counts it. */
  private readonly finish = (call: ActiveCall, error: unknown): void => {
    if (call.settled) return;
    call.settled = true;
    clearTimeout(call.timer);
    if (error !== undefined) {
      call.abort(error);
      this.writeError(call.res, error, call.id);
    }
    const status = error === undefined ? call.res.statusCode : httpStatusOf(error);
    this.record(call.req, call.id, call.startMs, status, error);
    this.inFlight--;
    if (this.inFlight === 0) this.onIdle?.();
  };

  /** Logs and counts a finished call; for an upgrade the duration is the tunnel's whole life. */
  private record(req: IncomingMessage, id: string, startMs: number, status: number, error: unknown): void {
    const durationMs = performance.now() - startMs;
    this.options.metrics.observeCall(status, durationMs / 1000);
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    // The query string is left out of logs: it often carries tokens.
    const path = query === -1 ? url : url.slice(0, query);
    const roundedMs = Math.round(durationMs * 1000) / 1000;
    if (error === undefined) {
      this.callLog.write(id, req.method ?? "GET", path, status, roundedMs);
      return;
    }
    const line = { callId: id, method: req.method, path, status, durationMs: roundedMs };
    // 501 and 503 refuse what this replica is configured for or in the middle of, and fail nothing.
    if (status >= 500 && status !== 501 && status !== 503)
      this.options.logger.error({ ...line, err: error }, "call failed");
    else this.options.logger.info({ ...line, code: codeOf(error) }, "call refused");
  }

  /** Answers `error` with its status and a small JSON body naming the call, or cuts the response off. */
  private writeError(res: ServerResponse, error: unknown, id: string): void {
    const status = httpStatusOf(error);
    if (res.headersSent || status === 499) {
      // Too late for a status line: breaking the connection is the only honest signal left.
      res.destroy();
      return;
    }
    const { headers, body } = errorResponse(error, id, status);
    // A draining replica tells keep-alive clients (the gateway) to stop reusing the connection.
    if (this.draining) headers.connection = "close";
    res.writeHead(status, headers);
    res.end(body);
  }

  /** Answers `error` as writeError does, on a connection node:http has handed over, and closes it. */
  private writeRawError(socket: Socket, error: unknown, id: string): void {
    const status = httpStatusOf(error);
    if (socket.destroyed || status === 499) {
      socket.destroy();
      return;
    }
    const { headers, body } = errorResponse(error, id, status);
    headers.connection = "close";
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n`;
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    // Whatever the client still sends is read and dropped: unread bytes would turn the close into a
    // reset, which can discard the answer before the client reads it. Destroyed once written, so a
    // client that never closes its side cannot hold the socket.
    socket.resume();
    socket.end(`${head}\r\n${body}`, () => socket.destroy());
  }

  private serveReserved(url: string, res: ServerResponse): void {
    const path = url.split("?", 1)[0] as string;
    switch (path) {
      case "/_/health":
        res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
        return;
      case "/_/ready": {
        const ready = this.ready();
        const reason = ready ? "ready" : this.draining ? "draining" : "handler not ready";
        res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" }).end(`${reason}\n`);
        return;
      }
      case "/_/metrics": {
        const { registry } = this.options.metrics;
        registry.metrics().then(
          (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
          (error: unknown) => {
            this.options.logger.error({ err: error }, "collecting metrics failed");
            res.writeHead(500).end();
          },
        );
        return;
      }
      default:
        this.writeError(res, new ReservedRouteError(path), "");
    }
  }
}

function codeOf(error: unknown): string {
  return error instanceof WatchdogError ? error.code : "INTERNAL";
}

/** The caller's X-Call-Id if it is safe to use, else a new one. */
function callIdOf(req: IncomingMessage): string {
  const header = req.headers["x-call-id"];
  return typeof header === "string" && CALL_ID_RE.test(header) ? header : randomUUID();
}

/** The headers and small JSON body (`{ error: { code, message, callId } }`) that answer `error` with `status`. */
function errorResponse(
  error: unknown,
  id: string,
  status: number,
): { headers: Record<string, string | number>; body: string } {
  const message = error instanceof WatchdogError ? error.message : "the watchdog failed to serve the call";
  // The gateway's shape (gateway/errors.ts), so a caller sees one error format whichever answered.
  const body = JSON.stringify({ error: { code: codeOf(error), message, callId: id } });
  const headers: Record<string, string | number> = {
    "x-call-id": id,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
  };
  const retryAfter = retryAfterSecondsOf(status);
  if (retryAfter !== undefined) headers["retry-after"] = retryAfter;
  // Refused before the handler saw it: tells the gateway a bodyless call may go to another replica.
  if (error instanceof DrainingError || error instanceof NotReadyError) {
    headers[REFUSED_HEADER] = error.code.toLowerCase();
  }
  return { headers, body };
}

function ignoreError(): void {}

/** The server's side of an upgraded connection: a call in flight until the mode calls `done`. */
class Tunnel implements UpgradeCall {
  settled = false;

  // eslint-disable-next-line max-params -- one object per upgraded connection: its fields are its constructor parameters, one allocation
  constructor(
    private readonly finish: (tunnel: Tunnel, outcome: number | WatchdogError) => void,
    readonly id: string,
    readonly req: IncomingMessage,
    readonly socket: Socket,
    readonly head: Buffer,
    readonly startMs: number,
    readonly idleTimeoutMs: number,
  ) {}

  readonly done = (outcome: number | WatchdogError): void => this.finish(this, outcome);
}

/** The server's side of a call; its arrow-function fields are handed to timers, events and promises. */
class ActiveCall implements Call {
  settled = false;
  readonly timer: NodeJS.Timeout;
  readonly deadlineMs: number;
  /** Made only when a mode asks for `signal`: most calls never need one. */
  private controller: AbortController | undefined;
  private abortReason: unknown;
  private cleanup: (() => void) | undefined;

  // eslint-disable-next-line max-params -- one object per call on the hot path: its fields are its constructor parameters, one allocation
  constructor(
    private readonly finish: (call: ActiveCall, error: unknown) => void,
    readonly id: string,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly startMs: number,
    readonly body: Readable | null,
    timeoutMs: number,
  ) {
    this.deadlineMs = Date.now() + timeoutMs;
    this.timer = setTimeout(this.onTimeout, timeoutMs, timeoutMs);
    if (body instanceof BodyLimit) body.once("error", this.onBodyError);
  }

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.abortReason !== undefined && !this.controller.signal.aborted)
      this.controller.abort(this.abortReason);
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.abortReason !== undefined;
  }

  onAbort(cleanup: () => void): void {
    if (this.abortReason !== undefined) cleanup();
    else this.cleanup = cleanup;
  }

  abort(reason: unknown): void {
    if (this.abortReason !== undefined) return;
    this.abortReason = reason;
    this.cleanup?.();
    this.controller?.abort(reason);
  }

  readonly onHandled = (): void => this.finish(this, undefined);
  readonly onFailed = (error: unknown): void =>
    this.finish(this, error ?? new Error("the mode rejected without a reason"));
  readonly onTimeout = (timeoutMs: number): void => this.finish(this, new CallTimeoutError(timeoutMs));
  readonly onBodyError = (error: unknown): void => {
    if (error instanceof BodyTooLargeError) this.finish(this, error);
  };
  readonly onResponseClose = (): void => {
    if (!this.res.writableFinished) this.finish(this, new ClientClosedError());
  };
}
