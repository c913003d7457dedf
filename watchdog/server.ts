// The watchdog's HTTP front: reserved /_/ routes, limits, call ids, logging, metrics and drain.
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
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
  WatchdogError,
  httpStatusOf,
  retryAfterSecondsOf,
} from "./errors.js";
import type { WatchdogMetrics } from "./metrics.js";
import type { Call, Mode } from "./modes/mode.js";

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
  /** Resolved when a drain is waiting and the last call finishes. */
  private onIdle: (() => void) | undefined;

  constructor(private readonly options: WatchdogServerOptions) {
    this.callLog = new CallLog(options.logger);
    this.http = createServer(this.onRequest);
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
    const header = req.headers["x-call-id"];
    const id = typeof header === "string" && CALL_ID_RE.test(header) ? header : randomUUID();

    const refusal = this.admit(req);
    if (refusal !== undefined) {
      // Refused before the handler saw it: tells the gateway a bodyless call may go to another replica.
      if (refusal instanceof DrainingError || refusal instanceof NotReadyError) {
        res.setHeader(REFUSED_HEADER, refusal.code.toLowerCase());
      }
      this.writeError(res, refusal, id);
      this.record(req, res, id, startMs, refusal);
      return;
    }
    this.inFlight++;
    const body = this.bodyOf(req);
    const call = new ActiveCall(this.finish, id, req, res, startMs, body, this.options.limits.timeoutMs);
    res.once("close", call.onResponseClose);
    this.options.mode.handle(call).then(call.onHandled, call.onFailed);
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
    this.record(call.req, call.res, call.id, call.startMs, error);
    this.inFlight--;
    if (this.inFlight === 0) this.onIdle?.();
  };

  private record(
    req: IncomingMessage,
    res: ServerResponse,
    id: string,
    startMs: number,
    error: unknown,
  ): void {
    const durationMs = performance.now() - startMs;
    const status = error === undefined ? res.statusCode : httpStatusOf(error);
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
    if (status >= 500 && status !== 503) this.options.logger.error({ ...line, err: error }, "call failed");
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
    const message = error instanceof WatchdogError ? error.message : "the watchdog failed to serve the call";
    const body = JSON.stringify({ code: codeOf(error), message, callId: id });
    const headers: Record<string, string | number> = {
      "x-call-id": id,
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
    };
    const retryAfter = retryAfterSecondsOf(status);
    if (retryAfter !== undefined) headers["retry-after"] = retryAfter;
    // A draining replica tells keep-alive clients (the gateway) to stop reusing the connection.
    if (this.draining) headers.connection = "close";
    res.writeHead(status, headers);
    res.end(body);
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

/** The server's side of a call; its arrow-function fields are handed to timers, events and promises. */
class ActiveCall implements Call {
  settled = false;
  readonly timer: NodeJS.Timeout;
  readonly deadlineMs: number;
  /** Made only when a mode asks for `signal`: most calls never need one. */
  private controller: AbortController | undefined;
  private abortReason: unknown;
  private cleanup: (() => void) | undefined;

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
