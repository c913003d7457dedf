// Every error the watchdog raises while starting or serving, each with a stable `code`, and the one
// place they map to HTTP. A bad environment variable is platform/errors.ts's ConfigError instead.

/** The stable codes; also the `code` field of an error response body. */
export type WatchdogErrorCode =
  | "MODULE_LOAD_FAILED"
  | "UPSTREAM_START_FAILED"
  | "IN_FLIGHT_LIMIT"
  | "CALL_TIMEOUT"
  | "BODY_TOO_LARGE"
  | "DRAINING"
  | "NOT_READY"
  | "HANDLER_FAILED"
  | "INVALID_RESULT"
  | "UPSTREAM_FAILED"
  | "BAD_REQUEST"
  | "RESERVED_ROUTE"
  | "CLIENT_CLOSED"
  | "UPGRADE_NOT_SUPPORTED";

/** Base class: callers branch on `code` or `instanceof`, never on the message. */
export abstract class WatchdogError extends Error {
  abstract readonly code: WatchdogErrorCode;
}

/** The module in FLINT_ENTRY could not be imported, or has no handler of the configured shape. */
export class ModuleLoadError extends WatchdogError {
  readonly code = "MODULE_LOAD_FAILED";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ModuleLoadError";
  }
}

/** The http-mode upstream did not answer within FLINT_READY_TIMEOUT at start. */
export class UpstreamStartError extends WatchdogError {
  readonly code = "UPSTREAM_START_FAILED";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UpstreamStartError";
  }
}

/** FLINT_MAX_INFLIGHT calls are already running. */
export class InFlightLimitError extends WatchdogError {
  readonly code = "IN_FLIGHT_LIMIT";
  constructor(readonly limit: number) {
    super(`the function is already serving its limit of ${limit} concurrent calls`);
    this.name = "InFlightLimitError";
  }
}

/** The call ran past FLINT_TIMEOUT; the handler has been aborted or killed. */
export class CallTimeoutError extends WatchdogError {
  readonly code = "CALL_TIMEOUT";
  constructor(readonly timeoutMs: number) {
    super(`the call did not finish within ${timeoutMs}ms`);
    this.name = "CallTimeoutError";
  }
}

/** The request body is larger than FLINT_MAX_BODY_BYTES (declared or counted while streaming). */
export class BodyTooLargeError extends WatchdogError {
  readonly code = "BODY_TOO_LARGE";
  constructor(readonly limitBytes: number) {
    super(`the request body is larger than the limit of ${limitBytes} bytes`);
    this.name = "BodyTooLargeError";
  }
}

/** The watchdog received SIGTERM and takes no new calls. */
export class DrainingError extends WatchdogError {
  readonly code = "DRAINING";
  constructor() {
    super("the replica is shutting down");
    this.name = "DrainingError";
  }
}

/** The handler cannot take calls yet (http upstream starting or restarting). */
export class NotReadyError extends WatchdogError {
  readonly code = "NOT_READY";
  constructor(message = "the function is not ready") {
    super(message);
    this.name = "NotReadyError";
  }
}

/** The handler threw or rejected, or the exec process exited non-zero or was killed by a signal. */
export class HandlerFailedError extends WatchdogError {
  readonly code = "HANDLER_FAILED";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HandlerFailedError";
  }
}

/** The handler returned something that is not a response of its shape. */
export class InvalidResultError extends WatchdogError {
  readonly code = "INVALID_RESULT";
  constructor(message: string) {
    super(message);
    this.name = "InvalidResultError";
  }
}

/** The http upstream refused the connection or broke it before answering. */
export class UpstreamError extends WatchdogError {
  readonly code = "UPSTREAM_FAILED";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UpstreamError";
  }
}

/** The request cannot be turned into a call (e.g. a URL the fetch API rejects). */
export class BadRequestError extends WatchdogError {
  readonly code = "BAD_REQUEST";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BadRequestError";
  }
}

/** A path under the reserved `/_/` prefix that the watchdog does not serve. */
export class ReservedRouteError extends WatchdogError {
  readonly code = "RESERVED_ROUTE";
  constructor(readonly path: string) {
    super(`${path} is not a watchdog route (the /_/ prefix is reserved)`);
    this.name = "ReservedRouteError";
  }
}

/** An Upgrade request (a WebSocket handshake) to a mode that cannot pass it through. */
export class UpgradeNotSupportedError extends WatchdogError {
  readonly code = "UPGRADE_NOT_SUPPORTED";
  constructor() {
    super("this function cannot upgrade the connection: only http mode passes upgrades through");
    this.name = "UpgradeNotSupportedError";
  }
}

/** The client closed the connection before the response was complete. Recorded, never sent. */
export class ClientClosedError extends WatchdogError {
  readonly code = "CLIENT_CLOSED";
  constructor() {
    super("the client closed the connection before the response was complete");
    this.name = "ClientClosedError";
  }
}

/**
 * The HTTP status for an error raised while serving a call. Anything that is not a WatchdogError is a
 * bug in the watchdog or an escaped handler error, and is a 500 like a handler failure.
 */
export function httpStatusOf(error: unknown): number {
  if (!(error instanceof WatchdogError)) return 500;
  switch (error.code) {
    case "BAD_REQUEST":
      return 400;
    case "RESERVED_ROUTE":
      return 404;
    case "BODY_TOO_LARGE":
      return 413;
    case "IN_FLIGHT_LIMIT":
      return 429;
    // nginx's convention for "client went away"; only ever seen in logs and metrics.
    case "CLIENT_CLOSED":
      return 499;
    case "UPGRADE_NOT_SUPPORTED":
      return 501;
    case "UPSTREAM_FAILED":
      return 502;
    case "DRAINING":
    case "NOT_READY":
      return 503;
    case "CALL_TIMEOUT":
      return 504;
    // Start-up errors (the last two) never reach a call; listed so that this switch stays exhaustive.
    case "HANDLER_FAILED":
    case "INVALID_RESULT":
    case "MODULE_LOAD_FAILED":
    case "UPSTREAM_START_FAILED":
      return 500;
  }
}

/** Statuses after which the caller may simply try again (another replica, or this one shortly). */
export function retryAfterSecondsOf(status: number): number | undefined {
  return status === 429 || status === 503 ? 1 : undefined;
}
