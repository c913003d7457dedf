// The /function/ hot path on node:http: route, check, reserve a replica slot (or queue), forward with
// streaming both ways, and finish each call exactly once (release, stats, metrics, log).
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { errors as undiciErrors, type Dispatcher } from "undici";
import { functionKey, parseFunctionRef } from "../api/index.js";
import { Credentials } from "./auth.js";
import type { ReplicaPool } from "./replica-pool.js";
import {
  BadFunctionNameError,
  BadRequestError,
  BodyTooLargeError,
  CallTimeoutError,
  ClientClosedError,
  type KnownError,
  isKnownError,
  MissingHostError,
  ReplicaLostError,
  ReplicaUnavailableError,
  ReservedPathError,
  UnauthorizedError,
  errorResponse,
  httpStatusOf,
} from "./errors.js";
import { FunctionNotFoundError } from "../platform/errors.js";
import {
  downstreamHeaders,
  hasHeader,
  readRequestHead,
  trailerPairs,
  upstreamHeaders,
  type RawHeaders,
  type RequestHead,
} from "./headers.js";
import type { FunctionMetrics, GatewayMetrics } from "./metrics.js";
import type { Clock } from "../platform/ports.js";
import { PooledCall } from "./pooled-call.js";
import type { Replica } from "./replica.js";
import { CALL_PREFIX, isReservedPath, parseCallPath } from "./route.js";

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

/** Errors that only happen while connecting: the replica never saw the request. */
export const CONNECT_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
]);
/** A connection that broke before the replica answered (the replica died, or the keep-alive race). */
export const BROKEN_CONNECTION_CODES = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET"]);
/** Methods whose calls may be sent twice (RFC 9110 §9.2.2; TRACE is refused by the gateway). */
export const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
/**
 * The most times one call is sent to a replica: the first send and up to two resends, each to
 * another replica (the one that failed is out of rotation until it answers a probe). Enough for a
 * call to survive losing two replicas at once; bounded so a fleet that is all dying fails fast.
 */
export const MAX_CALL_SENDS = 3;

/** A known function as the hot path needs it. */
export interface FunctionRoute {
  readonly pool: ReplicaPool;
  readonly metrics: FunctionMetrics;
}

/** Where an admitted call goes, or why it is refused (with its function, when it has one). */
export type Admission =
  | { readonly route: FunctionRoute; readonly error: undefined }
  | { readonly route: FunctionRoute | undefined; readonly error: KnownError };

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
    const startMs = this.options.clock.now();
    const head = readRequestHead(req.rawHeaders);
    const callId = head.callId ?? randomUUID();
    const { functionText, upstreamPath } = parseCallPath(req.url ?? CALL_PREFIX);
    if (isReservedPath(upstreamPath)) {
      return this.refuse(req, res, head, callId, startMs, new ReservedPathError());
    }
    const admission = this.admit(req, head, callId, functionText);
    if (admission.error !== undefined) {
      return this.refuse(req, res, head, callId, startMs, admission.error, admission.route);
    }
    new ProxyCall(
      this,
      admission.route,
      req,
      res,
      head,
      callId,
      upstreamPath,
      `${CALL_PREFIX}${functionText}`,
      startMs,
    ).start();
  }

  /**
   * The checks every call passes before it may take a replica slot: Host, a valid name of a known
   * function, the credential if the function asks for one (then removed), and the declared body size.
   */
  admit(req: IncomingMessage, head: RequestHead, callId: string, functionText: string): Admission {
    const { routes, defaultNamespace } = this.options;
    if (head.host === undefined && req.httpVersionMinor === 1) {
      return { route: undefined, error: new MissingHostError() };
    }
    const ref = parseFunctionRef(functionText, defaultNamespace);
    if (ref === undefined) return { route: undefined, error: new BadFunctionNameError(functionText) };
    const key = functionKey(ref);
    const route = routes.get(key);
    if (route === undefined) return { route: undefined, error: new FunctionNotFoundError(key) };

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
        return { route, error: new UnauthorizedError(problem) };
      }
      // The gateway's credential is not the function's business.
      removeHeader(head.forward, "authorization");
    }
    if (
      settings.maxBodyBytes > 0 &&
      head.contentLength !== undefined &&
      head.contentLength > settings.maxBodyBytes
    ) {
      return { route, error: new BodyTooLargeError(settings.maxBodyBytes) };
    }
    return { route, error: undefined };
  }

  /** Answers a call that never reached a function. */
  // eslint-disable-next-line max-params -- hot path: positional arguments, no options object per refused call
  private refuse(
    req: IncomingMessage,
    res: ServerResponse,
    head: RequestHead,
    callId: string,
    startMs: number,
    error: KnownError,
    route?: FunctionRoute,
  ): void {
    writeError(req, res, head, error, callId, this.options.draining());
    this.recordRefusal(req, callId, startMs, error, route);
  }

  /** Counts and (at debug) logs a call refused before it reached a function. */
  recordRefusal(
    req: IncomingMessage,
    callId: string,
    startMs: number,
    error: KnownError,
    route: FunctionRoute | undefined,
  ): void {
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
 * One call from admission to its end. It is its own queue entry (WaitingCall) and its own undici
 * dispatch handler, and keeps its event handlers as fields, so the hot path allocates no closures
 * per call. A retry dispatches it again only after the earlier attempt has ended.
 */
class ProxyCall extends PooledCall implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private headers: string[] | undefined;
  private cancelDeadline: (() => void) | undefined;
  /** Times the call has been handed to a replica (at most MAX_CALL_SENDS). */
  private sends = 0;
  /** A response the replica refused with (draining, not ready) is being read and thrown away. */
  private discarding = false;
  /** The replica's response broke off: recorded as 502, not as the client leaving. */
  private upstreamBroke = false;
  private finished = false;

  // eslint-disable-next-line max-params -- one object per call on the hot path: its fields are its constructor parameters, one allocation
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
    super(route.pool);
  }

  start(): void {
    this.pool.enter();
    this.res.once("close", this.onResponseClose);
    this.acquire();
  }

  protected observeColdStart(waitedMs: number): void {
    this.route.metrics.coldStart.observe(waitedMs / 1000);
  }

  protected send(replica: Replica): void {
    if (this.finished) {
      this.pool.release(replica);
      return;
    }
    this.replica = replica;
    this.controller = undefined;
    this.sends++;
    const { clock } = this.handler.options;
    this.cancelDeadline ??= clock.setTimer(this.onDeadline, this.pool.settings.timeoutMs);
    this.headers ??= upstreamHeaders(this.head, {
      callId: this.callId,
      clientAddress: this.req.socket.remoteAddress,
      encrypted: "encrypted" in this.req.socket,
      prefix: this.prefix,
    });
    // undici reads the body only once it has a connection, so a replica that cannot be reached
    // leaves the request untouched and it can go to another replica.
    replica.pool.dispatch(
      {
        method: this.req.method ?? "GET",
        path: this.upstreamPath,
        headers: this.headers,
        body: this.head.hasBody ? this.req : null,
      },
      this,
    );
  }

  // --- undici's side of the call (Dispatcher.DispatchHandler) ------------------------------------

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // Ended (deadline, client gone) while it waited in the pool for a connection: send nothing.
    if (this.finished) controller.abort(new ClientClosedError());
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    _headers: unknown,
    statusMessage?: string,
  ): void {
    if (this.finished) return;
    const raw = (controller.rawHeaders ?? []) as RawHeaders;
    if (!this.head.hasBody && this.sends < MAX_CALL_SENDS && hasHeader(raw, REFUSED_HEADER)) {
      // The watchdog refused it before the handler ran (draining, or not ready): a bodyless call is
      // untouched, so once this answer is read it goes to another replica.
      this.discarding = true;
      return;
    }
    const headers = downstreamHeaders(raw, this.callId, this.coldStartMs);
    if (this.handler.options.draining()) headers.push("connection", "close");
    if (statusMessage) this.res.writeHead(statusCode, statusMessage, headers);
    else this.res.writeHead(statusCode, headers);
    this.res.once("finish", this.onFinish);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.finished || this.discarding) return;
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once("drain", this.onDrain);
    }
  }

  onResponseEnd(controller: Dispatcher.DispatchController): void {
    if (this.finished) return;
    if (this.discarding) return this.retry("refused");
    const trailers = trailerPairs(controller.rawTrailers as RawHeaders | null | undefined);
    if (trailers !== undefined) this.res.addTrailers(trailers);
    this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error & { code?: string }): void {
    if (this.finished) return;
    const replica = this.replica as Replica;
    if (this.res.headersSent) {
      this.upstreamBroke = true;
      this.finish(this.endedEarly());
      return;
    }
    if (error instanceof undiciErrors.InvalidArgumentError) {
      // undici is stricter than Node's parser about a few header bytes.
      this.finish(new BadRequestError("the request cannot be forwarded as it is", [], { cause: error }));
      return;
    }
    const code = error.code ?? "";
    const neverConnected = CONNECT_ERROR_CODES.has(code);
    const broken = BROKEN_CONNECTION_CODES.has(code);
    // A replica that refused or broke a connection is out of rotation until it answers a probe, so
    // neither this call's resend nor any other call lands on it again (a killed replica would
    // otherwise look least loaded, its calls having just failed). A live one is back within a probe.
    if (neverConnected || broken) this.pool.markUnreachable(replica);
    // The body is only read once connected, so a call that never connected is untouched. A bodyless
    // call whose connection broke before any answer may have run, so it is only sent again if its
    // method is idempotent (RFC 9110 §9.2.2).
    const safeToResend =
      neverConnected ||
      this.discarding ||
      (broken && !this.head.hasBody && IDEMPOTENT_METHODS.has(this.req.method ?? ""));
    if (safeToResend && this.sends < MAX_CALL_SENDS) return this.retry(code);
    // Refused connections never ran the call; anything else may have run it: that is named, never a bare 502.
    this.finish(
      neverConnected
        ? new ReplicaUnavailableError(this.pool.key, replica.id, { cause: error })
        : new ReplicaLostError(this.pool.key, replica.id, { cause: error }),
    );
  }

  /** Sends the call to another replica (or queues it), up to MAX_CALL_SENDS sends in all. */
  private retry(reason: string): void {
    const replica = this.replica as Replica;
    this.discarding = false;
    this.controller = undefined;
    if (reason === "refused") this.pool.markUnreachable(replica);
    this.handler.options.logger.info(
      { callId: this.callId, replica: replica.id, reason, sends: this.sends },
      "retrying call on another replica",
    );
    this.retryElsewhere();
  }

  // --- The client's side --------------------------------------------------------------------------

  private readonly onDrain = (): void => this.controller?.resume();

  private readonly onFinish = (): void => this.finish(undefined);

  /** Why a response that had begun did not complete. */
  private endedEarly(): KnownError {
    const replicaId = this.replica?.id ?? "unknown";
    return this.upstreamBroke ? new ReplicaLostError(this.pool.key, replicaId) : new ClientClosedError();
  }

  private readonly onDeadline = (): void => {
    this.cancelDeadline = undefined;
    this.finish(new CallTimeoutError(this.pool.key, this.pool.settings.timeoutMs));
  };

  private readonly onResponseClose = (): void => {
    if (!this.finished && !this.res.writableFinished) this.finish(this.endedEarly());
  };

  /** Ends the call once: answers an error if the response has not started, frees its slot, records it. */
  protected finish(error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.cancelDeadline?.();
    if (this.ticket !== undefined) this.pool.cancel(this.ticket);
    const { options } = this.handler;
    if (error !== undefined) {
      // Tell the replica too: a client that left, or a deadline, should stop its work.
      if (this.controller !== undefined && !this.controller.aborted) {
        this.controller.abort(error instanceof Error ? error : new ClientClosedError());
      }
      if (!(error instanceof ClientClosedError)) {
        writeError(this.req, this.res, this.head, error, this.callId, options.draining());
      }
    }
    if (this.replica !== undefined) this.pool.release(this.replica);
    this.replica = undefined;
    this.controller = undefined;
    this.pool.leave();

    const status = error === undefined ? this.res.statusCode : statusOf(error);
    const durationSeconds = (options.clock.now() - this.startMs) / 1000;
    this.route.metrics.observe(status, durationSeconds);
    const { logger } = options;
    if (error === undefined || error instanceof ClientClosedError) {
      if (logger.isLevelEnabled("debug")) {
        logger.debug({ function: this.pool.key, callId: this.callId, status, durationSeconds }, "call");
      }
    } else if (!isKnownError(error)) {
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

  protected queueCostBytes(): number {
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
  return isKnownError(error) ? httpStatusOf(error.code) : 500;
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
