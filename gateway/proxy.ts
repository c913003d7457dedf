// The /function/ hot path on node:http: route, check, reserve a replica slot (or queue), forward with
// streaming both ways, and finish each call exactly once (release, stats, metrics, log).
import { randomUUID } from "node:crypto";
import { request, type ClientRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { functionKey, parseFunctionRef } from "../api/index.js";
import { Credentials } from "./auth.js";
import type { QueueTicket, ReplicaPool, WaitingCall } from "./dispatcher.js";
import {
  BadFunctionNameError,
  BadRequestError,
  BodyTooLargeError,
  CallTimeoutError,
  ClientClosedError,
  FunctionNotFoundError,
  GatewayError,
  MissingHostError,
  ReplicaUnavailableError,
  UnauthorizedError,
  errorResponse,
  httpStatusOf,
} from "./errors.js";
import { downstreamHeaders, readRequestHead, upstreamHeaders, type RequestHead } from "./headers.js";
import type { FunctionMetrics, GatewayMetrics } from "./metrics.js";
import type { Clock } from "./ports.js";
import type { Replica } from "./replica.js";
import { CALL_PREFIX, parseCallPath } from "./route.js";

/**
 * What a waiting call is charged against FLINT_QUEUE_BYTES besides its headers: the request and
 * response objects, socket and bookkeeping (measured at roughly 3 KiB; rounded up).
 */
export const QUEUED_CALL_OVERHEAD_BYTES = 4096;
/**
 * The most body a waiting call can hold: its body is not read while it waits, so Node buffers at most
 * one socket read (64 KiB) plus the request stream's high-water mark (16 KiB) before pausing the socket.
 */
export const QUEUED_BODY_MAX_BYTES = 80 * 1024;

/** Set by a watchdog on a call it refused before its handler ran (watchdog/server.ts). */
const REFUSED_HEADER = "x-flint-refused";

const ignore = (): void => undefined;

/** Errors that only happen while connecting: the replica never saw the request. */
const CONNECT_ERROR_CODES = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"]);
/** Errors of a kept-alive connection the replica closed as it was reused (the keep-alive race). */
const STALE_CONNECTION_CODES = new Set(["ECONNRESET", "EPIPE"]);

/** A known function as the hot path needs it. */
export interface FunctionRoute {
  readonly pool: ReplicaPool;
  readonly metrics: FunctionMetrics;
}

export interface CallHandlerOptions {
  readonly routes: ReadonlyMap<string, FunctionRoute>;
  readonly credentials: Credentials;
  readonly metrics: GatewayMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly defaultNamespace: string;
  /** True once shutdown has begun: responses then close their connections. */
  readonly draining: () => boolean;
}

/** Serves every request whose path starts with /function/. */
export class CallHandler {
  constructor(readonly options: CallHandlerOptions) {}

  handle(req: IncomingMessage, res: ServerResponse): void {
    const { clock, routes, defaultNamespace } = this.options;
    const startMs = clock.now();
    const head = readRequestHead(req.rawHeaders);
    const callId = head.callId ?? randomUUID();
    const { functionText, upstreamPath } = parseCallPath(req.url ?? CALL_PREFIX);

    if (head.host === undefined && req.httpVersionMinor === 1) {
      return this.refuse(req, res, head, callId, startMs, new MissingHostError());
    }
    const ref = parseFunctionRef(functionText, defaultNamespace);
    if (ref === undefined)
      return this.refuse(req, res, head, callId, startMs, new BadFunctionNameError(functionText));
    const key = functionKey(ref);
    const route = routes.get(key);
    if (route === undefined)
      return this.refuse(req, res, head, callId, startMs, new FunctionNotFoundError(key));

    const { settings } = route.pool;
    if (settings.authRequired) {
      const problem = this.options.credentials.check(head.authorization);
      if (problem !== undefined) {
        this.options.logger.warn(
          {
            function: key,
            callId,
            problem,
            scheme: Credentials.schemeOf(head.authorization),
            remoteAddress: req.socket.remoteAddress,
          },
          "call refused: credential",
        );
        return this.refuse(req, res, head, callId, startMs, new UnauthorizedError(problem), route);
      }
      // The gateway's credential is not the function's business.
      removeHeader(head.forward, "authorization");
    }
    if (
      settings.maxBodyBytes > 0 &&
      head.contentLength !== undefined &&
      head.contentLength > settings.maxBodyBytes
    ) {
      return this.refuse(
        req,
        res,
        head,
        callId,
        startMs,
        new BodyTooLargeError(settings.maxBodyBytes),
        route,
      );
    }
    new ProxyCall(
      this,
      route,
      req,
      res,
      head,
      callId,
      upstreamPath,
      `${CALL_PREFIX}${functionText}`,
      startMs,
    ).start();
  }

  /** Answers a call that never reached a function. */
  private refuse(
    req: IncomingMessage,
    res: ServerResponse,
    head: RequestHead,
    callId: string,
    startMs: number,
    error: GatewayError,
    route?: FunctionRoute,
  ): void {
    writeError(req, res, head, error, callId, this.options.draining());
    const durationSeconds = (this.options.clock.now() - startMs) / 1000;
    const status = httpStatusOf(error.code);
    if (route === undefined) this.options.metrics.observeUnknown(status, durationSeconds);
    else route.metrics.observe(status, durationSeconds);
    if (this.options.logger.isLevelEnabled("debug")) {
      this.options.logger.debug(
        { callId, status, code: error.code, path: pathOnly(req.url) },
        "call refused",
      );
    }
  }
}

/**
 * One call from admission to its end. It is its own queue entry (WaitingCall) and keeps its event
 * handlers as fields, so the hot path allocates no closures per call.
 */
class ProxyCall implements WaitingCall {
  private readonly pool: ReplicaPool;
  private replica: Replica | undefined;
  private upstream: ClientRequest | undefined;
  private ticket: QueueTicket | undefined;
  private headers: string[] | undefined;
  private cancelDeadline: (() => void) | undefined;
  private coldStartMs: number | undefined;
  /** The request body has started flowing to a replica: the call can no longer be retried. */
  private bodySent = false;
  private retried = false;
  /** The replica's response broke off: recorded as 502, not as the client leaving. */
  private upstreamBroke = false;
  private finished = false;

  constructor(
    private readonly handler: CallHandler,
    private readonly route: FunctionRoute,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly head: RequestHead,
    private readonly callId: string,
    private readonly upstreamPath: string,
    private readonly prefix: string,
    private readonly startMs: number,
  ) {
    this.pool = route.pool;
  }

  start(): void {
    this.pool.enter();
    this.res.once("close", this.onResponseClose);
    this.acquire();
  }

  /** Takes a free slot now, or queues; either way ends in `send` or `finish`. */
  private acquire(): void {
    const replica = this.pool.tryAcquire();
    if (replica !== undefined) return this.send(replica);
    try {
      this.ticket = this.pool.enqueue(this, this.queueCostBytes());
    } catch (error) {
      this.finish(error);
    }
  }

  admit(replica: Replica, waitedMs: number, cold: boolean): void {
    this.ticket = undefined;
    if (cold) {
      this.coldStartMs = waitedMs;
      this.route.metrics.coldStart.observe(waitedMs / 1000);
    }
    this.send(replica);
  }

  reject(error: GatewayError): void {
    this.ticket = undefined;
    this.finish(error);
  }

  private send(replica: Replica): void {
    if (this.finished) {
      this.pool.release(replica);
      return;
    }
    this.replica = replica;
    const { clock } = this.handler.options;
    this.cancelDeadline ??= clock.setTimer(this.onDeadline, this.pool.settings.timeoutMs);
    this.headers ??= upstreamHeaders(this.head, {
      callId: this.callId,
      clientAddress: this.req.socket.remoteAddress,
      encrypted: "encrypted" in this.req.socket,
      prefix: this.prefix,
    });
    let upstream: ClientRequest;
    try {
      upstream = request({
        agent: replica.agent,
        host: replica.host,
        port: replica.port,
        method: this.req.method,
        path: this.upstreamPath,
        headers: this.headers,
      });
    } catch (error) {
      // Node's client is stricter than its parser about a few header bytes.
      this.finish(new BadRequestError("the request cannot be forwarded as it is", [], { cause: error }));
      return;
    }
    this.upstream = upstream;
    upstream.once("response", this.onResponse);
    upstream.on("error", this.onUpstreamError);
    if (!this.head.hasBody) {
      upstream.end();
      return;
    }
    // The body waits until the connection is up: a replica that cannot be reached leaves the
    // request untouched, so it can go to another replica.
    upstream.once("socket", this.onSocket);
  }

  private readonly onSocket = (socket: Socket): void => {
    if (socket.connecting) socket.once("connect", this.sendBody);
    else this.sendBody();
  };

  private readonly sendBody = (): void => {
    if (this.finished || this.upstream === undefined) return;
    this.bodySent = true;
    this.req.pipe(this.upstream);
  };

  private readonly onResponse = (response: IncomingMessage): void => {
    if (this.finished) {
      response.destroy();
      return;
    }
    if (response.headers[REFUSED_HEADER] !== undefined && !this.head.hasBody && !this.retried) {
      // The watchdog refused it before the handler ran (draining, or not ready): a bodyless call
      // is untouched, so it goes to another replica, and this one is probed before it gets more.
      this.retryElsewhere(response);
      return;
    }
    const headers = downstreamHeaders(response.rawHeaders, this.callId, this.coldStartMs);
    if (this.handler.options.draining()) headers.push("connection", "close");
    this.res.writeHead(response.statusCode ?? 502, headers);
    // pipe, not pipeline: pipeline makes an AbortController (and, at the end, a DOMException) per
    // call, a tenth of the gateway's CPU per call. The three ends are handled here instead: the
    // client finished (finish), the client left (onResponseClose), the replica broke off (error).
    response.on("error", this.onResponseError);
    this.res.once("finish", this.onFinish);
    response.pipe(this.res);
  };

  private retryElsewhere(response: IncomingMessage): void {
    const replica = this.replica as Replica;
    const upstream = this.upstream as ClientRequest;
    upstream.off("error", this.onUpstreamError);
    upstream.on("error", ignore);
    response.resume();
    this.retried = true;
    this.replica = undefined;
    this.upstream = undefined;
    this.pool.markUnreachable(replica);
    this.pool.release(replica);
    this.handler.options.logger.info(
      { callId: this.callId, replica: replica.id, refused: response.headers[REFUSED_HEADER] },
      "retrying call on another replica",
    );
    this.acquire();
  }

  private readonly onResponseError = (): void => {
    this.upstreamBroke = true;
    this.finish(this.endedEarly());
  };

  private readonly onFinish = (): void => this.finish(undefined);

  /** Why a response that had begun did not complete. */
  private endedEarly(): GatewayError {
    const replicaId = this.replica?.id ?? "unknown";
    return this.upstreamBroke
      ? new ReplicaUnavailableError(this.pool.key, replicaId)
      : new ClientClosedError();
  }

  private readonly onUpstreamError = (error: Error & { code?: string }): void => {
    if (this.finished || this.res.headersSent) return;
    const replica = this.replica as Replica;
    const upstream = this.upstream as ClientRequest;
    const code = error.code ?? "";
    const neverConnected = CONNECT_ERROR_CODES.has(code);
    // The body is only sent once connected, so a call that never connected is untouched; a bodyless
    // call on a reused connection that was closed under it never reached the handler either.
    const safeToRetry =
      !this.retried &&
      (neverConnected || (upstream.reusedSocket && !this.head.hasBody && STALE_CONNECTION_CODES.has(code)));
    if (neverConnected) this.pool.markUnreachable(replica);
    if (safeToRetry) {
      this.retried = true;
      this.replica = undefined;
      this.upstream = undefined;
      this.pool.release(replica);
      this.handler.options.logger.info(
        { callId: this.callId, replica: replica.id, code },
        "retrying call on another replica",
      );
      this.acquire();
      return;
    }
    this.finish(new ReplicaUnavailableError(this.pool.key, replica.id, { cause: error }));
  };

  private readonly onDeadline = (): void => {
    this.cancelDeadline = undefined;
    this.finish(new CallTimeoutError(this.pool.key, this.pool.settings.timeoutMs));
  };

  private readonly onResponseClose = (): void => {
    if (!this.finished && !this.res.writableFinished) this.finish(this.endedEarly());
  };

  /** Ends the call once: answers an error if the response has not started, frees its slot, records it. */
  private finish(error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.cancelDeadline?.();
    if (this.ticket !== undefined) this.pool.cancel(this.ticket);
    const { options } = this.handler;
    if (error !== undefined) {
      // Tell the replica too: a client that left, or a deadline, should stop its work.
      this.upstream?.destroy();
      if (!(error instanceof ClientClosedError)) {
        writeError(this.req, this.res, this.head, error, this.callId, options.draining());
      }
    }
    if (this.replica !== undefined) this.pool.release(this.replica);
    this.replica = undefined;
    this.pool.leave();

    const status = error === undefined ? this.res.statusCode : statusOf(error);
    const durationSeconds = (options.clock.now() - this.startMs) / 1000;
    this.route.metrics.observe(status, durationSeconds);
    const { logger } = options;
    if (error === undefined || error instanceof ClientClosedError) {
      if (logger.isLevelEnabled("debug")) {
        logger.debug({ function: this.pool.key, callId: this.callId, status, durationSeconds }, "call");
      }
    } else if (!(error instanceof GatewayError)) {
      logger.error({ function: this.pool.key, callId: this.callId, err: error }, "call failed");
    } else if (status === 429 || status === 503) {
      // Overload shows in the metrics; a flood of refusals must not become a flood of log lines.
      if (logger.isLevelEnabled("debug")) {
        logger.debug(
          { function: this.pool.key, callId: this.callId, status, code: error.code },
          "call refused",
        );
      }
    } else {
      logger.warn({ function: this.pool.key, callId: this.callId, status, code: error.code }, "call failed");
    }
  }

  private queueCostBytes(): number {
    const { head } = this;
    const body = head.hasBody
      ? Math.min(head.contentLength ?? QUEUED_BODY_MAX_BYTES, QUEUED_BODY_MAX_BYTES)
      : 0;
    return QUEUED_CALL_OVERHEAD_BYTES + head.sizeBytes + body;
  }
}

/** Writes an error response, or cuts the connection if the response has already begun. */
export function writeError(
  req: IncomingMessage,
  res: ServerResponse,
  head: RequestHead,
  error: unknown,
  callId: string,
  draining: boolean,
): void {
  if (res.headersSent) {
    // Too late for a status line: breaking the connection is the only honest signal left.
    res.destroy();
    return;
  }
  if (res.destroyed) return;
  const { status, headers, body } = errorResponse(error, callId);
  // A body the gateway did not read would have to be read and thrown away before the next request
  // on this connection; closing is cheaper than reading 100 MB.
  if (draining || (head.hasBody && !req.complete)) headers["connection"] = "close";
  res.writeHead(status, headers);
  res.end(body);
}

function statusOf(error: unknown): number {
  return error instanceof GatewayError ? httpStatusOf(error.code) : 500;
}

function pathOnly(url: string | undefined): string {
  const text = url ?? "";
  const query = text.indexOf("?");
  return query === -1 ? text : text.slice(0, query);
}

function removeHeader(headers: string[], lowerName: string): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if ((headers[i] as string).toLowerCase() === lowerName) headers.splice(i, 2);
  }
}
