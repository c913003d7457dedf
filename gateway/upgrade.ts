// HTTP Upgrade (WebSocket) through /function/: admitted like any call, holding one replica slot for
// the tunnel's whole life, and passing bytes both ways once the replica has switched protocols.
import { randomUUID } from "node:crypto";
import { STATUS_CODES, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Dispatcher } from "undici";
import {
  BadRequestError,
  CallTimeoutError,
  ClientClosedError,
  type KnownError,
  isKnownError,
  ReplicaUnavailableError,
  ReservedPathError,
  httpStatusOf,
  rawErrorResponse,
} from "./errors.js";
import {
  downstreamHeaders,
  latin1,
  readRequestHead,
  upstreamHeaders,
  type RawHeaders,
  type RequestHead,
} from "./headers.js";
import {
  CONNECT_ERROR_CODES,
  QUEUED_CALL_OVERHEAD_BYTES,
  type CallHandler,
  type FunctionRoute,
} from "./proxy.js";
import { PooledCall } from "./pooled-call.js";
import type { Replica } from "./replica.js";
import { CALL_PREFIX, isReservedPath, parseCallPath } from "./route.js";

/** Serves the server's 'upgrade' events for /function/ paths. */
export class UpgradeHandler {
  private readonly tunnels = new Set<TunnelCall>();

  constructor(private readonly calls: CallHandler) {}

  /** Tunnels open or being set up. */
  get open(): number {
    return this.tunnels.size;
  }

  handle(req: IncomingMessage, socket: Duplex, early: Buffer): void {
    const startMs = this.calls.options.clock.now();
    const head = readRequestHead(req.rawHeaders);
    const callId = head.callId ?? randomUUID();
    const { functionText, upstreamPath } = parseCallPath(req.url ?? CALL_PREFIX);
    // The replica's own routes (/_/...) are not the function's, for a tunnel as for a call.
    if (isReservedPath(upstreamPath)) {
      return this.refuse(req, socket, callId, startMs, new ReservedPathError(), undefined);
    }
    const admission = this.calls.admit(req, head, callId, functionText);
    if (admission.error !== undefined) {
      return this.refuse(req, socket, callId, startMs, admission.error, admission.route);
    }
    if (head.hasBody) {
      const error = new BadRequestError("an upgrade request cannot have a body");
      return this.refuse(req, socket, callId, startMs, error, admission.route);
    }
    const tunnel = new TunnelCall({
      calls: this.calls,
      route: admission.route,
      req,
      socket: socket as Socket,
      early,
      head,
      callId,
      upstreamPath,
      prefix: `${CALL_PREFIX}${functionText}`,
      startMs,
      done: (ended) => this.tunnels.delete(ended),
    });
    this.tunnels.add(tunnel);
    tunnel.start();
  }

  private refuse(
    req: IncomingMessage,
    socket: Duplex,
    callId: string,
    startMs: number,
    error: KnownError,
    route: FunctionRoute | undefined,
  ): void {
    socket.on("error", ignore);
    socket.end(rawErrorResponse(error, callId));
    this.calls.recordRefusal(req, callId, startMs, error, route);
  }

  /** Cuts every tunnel (shutdown): each then frees its slot as if either side had closed. */
  closeAll(): void {
    for (const tunnel of this.tunnels) tunnel.cut();
  }
}

const ignore = (): void => undefined;

interface TunnelOptions {
  readonly calls: CallHandler;
  readonly route: FunctionRoute;
  readonly req: IncomingMessage;
  readonly socket: Socket;
  /** Bytes the client sent after the request head (already read by Node's parser). */
  readonly early: Buffer;
  readonly head: RequestHead;
  readonly callId: string;
  readonly upstreamPath: string;
  readonly prefix: string;
  readonly startMs: number;
  readonly done: (tunnel: TunnelCall) => void;
}

/**
 * One upgrade from admission to the tunnel's end. Until the replica answers, it is a call like any
 * other (queue, activation, one retry if the replica could not be reached, the function's timeout
 * as its deadline). After 101 the two sockets are piped together; the tunnel closes when either side
 * does, or when no byte has moved either way for the function's timeout.
 */
class TunnelCall extends PooledCall implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private headers: string[] | undefined;
  private upstream: Duplex | undefined;
  private cancelDeadline: (() => void) | undefined;
  /** The replica answered without upgrading; that answer is being passed on. */
  private answered = false;
  private status = 0;
  private retried = false;
  private finished = false;

  constructor(private readonly options: TunnelOptions) {
    super(options.route.pool);
  }

  start(): void {
    this.pool.enter();
    this.options.socket.on("error", ignore);
    this.options.socket.once("close", this.onClientClose);
    this.acquire();
  }

  cut(): void {
    this.options.socket.destroy();
    this.upstream?.destroy();
  }

  protected queueCostBytes(): number {
    return QUEUED_CALL_OVERHEAD_BYTES + this.options.head.sizeBytes;
  }

  protected observeColdStart(waitedMs: number): void {
    this.options.route.metrics.coldStart.observe(waitedMs / 1000);
  }

  protected send(replica: Replica): void {
    if (this.finished) {
      this.pool.release(replica);
      return;
    }
    this.replica = replica;
    const { req, head, callId, prefix, upstreamPath, calls } = this.options;
    this.cancelDeadline ??= calls.options.clock.setTimer(this.onDeadline, this.pool.settings.timeoutMs);
    this.headers ??= upstreamHeaders(head, {
      callId,
      clientAddress: req.socket.remoteAddress,
      encrypted: "encrypted" in req.socket,
      prefix,
    });
    replica.pool.dispatch(
      {
        method: req.method ?? "GET",
        path: upstreamPath,
        headers: this.headers,
        body: null,
        upgrade: req.headers.upgrade ?? "websocket",
      },
      this,
    );
  }

  // --- undici's side (Dispatcher.DispatchHandler) --------------------------------------------------

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // Ended (deadline, client gone) while it waited in the pool for a connection: send nothing.
    if (this.finished) controller.abort(new ClientClosedError());
  }

  onRequestUpgrade(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    _headers: unknown,
    upstream: Duplex,
  ): void {
    if (this.finished) {
      upstream.destroy();
      return;
    }
    this.cancelDeadline?.();
    this.cancelDeadline = undefined;
    this.upstream = upstream;
    this.status = statusCode;
    const { socket, early, route, calls, startMs } = this.options;
    const raw = (controller.rawHeaders ?? []) as RawHeaders;
    socket.write(this.statusLine(statusCode) + headerLines(this.upgradeHeaders(raw)) + "\r\n");
    if (early.length > 0) upstream.write(early);
    upstream.on("error", ignore);
    upstream.once("close", this.onUpstreamClose);
    // Node's HTTP server keeps its sockets half-open after the client's FIN; a tunnel ends there, as
    // nginx's does, so a client that goes away never leaves the replica's side open.
    socket.allowHalfOpen = false;
    // Idle bound: nothing either way for the function's timeout closes the tunnel.
    socket.setTimeout(this.pool.settings.timeoutMs, this.onIdle);
    socket.pipe(upstream);
    upstream.pipe(socket);
    route.metrics.observe(statusCode, (calls.options.clock.now() - startMs) / 1000);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    _headers: unknown,
    statusMessage?: string,
  ): void {
    if (this.finished) return;
    // The replica declined to switch protocols: pass its answer on, then close.
    this.answered = true;
    this.status = statusCode;
    const raw = (controller.rawHeaders ?? []) as RawHeaders;
    const headers = downstreamHeaders(raw, this.options.callId, this.coldStartMs);
    headers.push("connection", "close");
    this.options.socket.write(this.statusLine(statusCode, statusMessage) + headerLines(headers) + "\r\n");
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.finished) return;
    if (!this.options.socket.write(chunk)) {
      controller.pause();
      this.options.socket.once("drain", () => controller.resume());
    }
  }

  onResponseEnd(): void {
    if (this.finished) return;
    this.options.socket.end();
    this.finish(undefined);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error & { code?: string }): void {
    if (this.finished) return;
    const replica = this.replica as Replica;
    const neverConnected = CONNECT_ERROR_CODES.has(error.code ?? "");
    if (neverConnected) this.pool.markUnreachable(replica);
    if (neverConnected && !this.retried && !this.answered) {
      // The replica never saw the request: another one may take it.
      this.retried = true;
      this.controller = undefined;
      this.retryElsewhere();
      return;
    }
    this.finish(new ReplicaUnavailableError(this.pool.key, replica.id, { cause: error }));
  }

  // --- Ends -----------------------------------------------------------------------------------------

  private readonly onDeadline = (): void => {
    this.cancelDeadline = undefined;
    this.finish(new CallTimeoutError(this.pool.key, this.pool.settings.timeoutMs));
  };

  private readonly onIdle = (): void => {
    this.options.calls.options.logger.debug(
      { function: this.pool.key, callId: this.options.callId },
      "closing an idle tunnel",
    );
    this.cut();
  };

  private readonly onUpstreamClose = (): void => {
    // After a clean end the pipe has ended the client's side too, and what it holds still flushes.
    if (!this.options.socket.writableEnded) this.options.socket.destroy();
    this.finish(undefined);
  };

  private readonly onClientClose = (): void => {
    this.upstream?.destroy();
    this.finish(this.upstream === undefined && !this.answered ? new ClientClosedError() : undefined);
  };

  /**
   * Ends the call once: answers an error if nothing was sent yet, frees the slot and records it. A
   * tunnel was counted when it opened, with the handshake's duration; its close is only logged.
   */
  protected finish(error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.cancelDeadline?.();
    if (this.ticket !== undefined) this.pool.cancel(this.ticket);
    const { socket, calls, route, callId, startMs } = this.options;
    if (error !== undefined) {
      if (this.controller !== undefined && !this.controller.aborted) {
        this.controller.abort(error instanceof Error ? error : new ClientClosedError());
      }
      if (this.answered || this.upstream !== undefined) socket.destroy();
      else if (!(error instanceof ClientClosedError)) socket.end(rawErrorResponse(error, callId));
    }
    if (this.replica !== undefined) this.pool.release(this.replica);
    this.replica = undefined;
    this.pool.leave();
    this.options.done(this);

    const durationSeconds = (calls.options.clock.now() - startMs) / 1000;
    const status = error === undefined ? this.status : isKnownError(error) ? httpStatusOf(error.code) : 500;
    const { logger } = calls.options;
    if (this.upstream === undefined) route.metrics.observe(status, durationSeconds);
    if (error === undefined || error instanceof ClientClosedError) {
      logger.debug({ function: this.pool.key, callId, status, durationSeconds }, "upgrade ended");
    } else {
      const code = isKnownError(error) ? error.code : "INTERNAL";
      logger.warn({ function: this.pool.key, callId, status, code, err: error }, "upgrade failed");
    }
  }

  private statusLine(statusCode: number, message?: string): string {
    return `HTTP/1.1 ${statusCode} ${message || (STATUS_CODES[statusCode] ?? "")}\r\n`;
  }

  /** The replica's 101 headers as they are (Connection and Upgrade are what make it a 101), with the gateway's. */
  private upgradeHeaders(raw: RawHeaders): string[] {
    const headers: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = latin1(raw[i]);
      const lower = name.toLowerCase();
      if (lower === "x-call-id" || lower === "x-flint-cold-start") continue;
      headers.push(name, latin1(raw[i + 1]));
    }
    headers.push("x-call-id", this.options.callId);
    if (this.coldStartMs !== undefined)
      headers.push("x-flint-cold-start", String(Math.round(this.coldStartMs)));
    return headers;
  }
}

function headerLines(headers: readonly string[]): string {
  let text = "";
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return text;
}
