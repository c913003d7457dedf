// Every error the gateway answers with, each with a stable `code`, and the one place they map to HTTP
// (used by the /function/ hot path and the Express management routes alike), the platform's store
// errors (platform/errors.ts) included.
import { STATUS_CODES } from "node:http";
import type { FieldError } from "../api/index.js";
import { StoreError, type StoreErrorCode } from "../platform/errors.js";

/** The stable codes; also `error.code` in a response body. */
export type GatewayErrorCode =
  | StoreErrorCode
  | "BAD_REQUEST"
  | "BAD_FUNCTION_NAME"
  | "UNAUTHORIZED"
  | "NOT_FOUND"
  | "REQUEST_TIMEOUT"
  | "BODY_TOO_LARGE"
  | "HEADERS_TOO_LARGE"
  | "CONCURRENCY_LIMIT"
  | "CLIENT_CLOSED"
  | "REPLICA_UNAVAILABLE"
  | "REPLICA_LOST"
  | "RESERVED_PATH"
  | "METHOD_NOT_ALLOWED"
  | "ACTIVATION_QUEUE_FULL"
  | "QUEUE_BYTES_EXHAUSTED"
  | "ACTIVATION_TIMEOUT"
  | "QUEUE_TIMEOUT"
  | "SHUTTING_DOWN"
  | "CALL_TIMEOUT"
  | "CALL_NOT_FOUND"
  | "DEAD_LETTER_NOT_FOUND"
  | "ASYNC_DISABLED"
  | "QUEUE_UNAVAILABLE"
  | "RECORDS_UNAVAILABLE"
  | "BODY_TIMEOUT"
  | "ASYNC_UPLOADS_FULL"
  | "ASYNC_QUEUE_FULL"
  | "CALL_ID_TAKEN"
  | "IDEMPOTENCY_KEY_REUSED"
  | "INTERNAL";

/** Base class: callers branch on `code` or `instanceof`, never on the message. */
export abstract class GatewayError extends Error {
  abstract readonly code: GatewayErrorCode;
  /** Seconds a client should wait before trying again, sent as Retry-After; only on retryable errors. */
  readonly retryAfterSeconds: number | undefined = undefined;
}

/** What the gateway knows how to answer with: its own errors and the platform's store errors. */
export type KnownError = GatewayError | StoreError;

/** Whether `error` is one the gateway answers with its own code (anything else is a 500 and a bug). */
export function isKnownError(error: unknown): error is KnownError {
  return error instanceof GatewayError || error instanceof StoreError;
}

/** A request the gateway cannot read: a malformed body, query or parameter. */
export class BadRequestError extends GatewayError {
  readonly code = "BAD_REQUEST";
  constructor(
    message: string,
    /** Field by field, when a manifest was rejected. */
    readonly details: readonly FieldError[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "BadRequestError";
  }
}

/** An HTTP/1.1 request without a Host header (RFC 9112 §3.2). */
export class MissingHostError extends GatewayError {
  readonly code = "BAD_REQUEST";
  constructor() {
    super("an HTTP/1.1 request needs a Host header");
    this.name = "MissingHostError";
  }
}

/** The function name in a path is not `name` or `name.namespace` with DNS-1123 labels. */
export class BadFunctionNameError extends GatewayError {
  readonly code = "BAD_FUNCTION_NAME";
  constructor(readonly text: string) {
    const shown = text.length > 80 ? `${text.slice(0, 77)}...` : text;
    super(
      `${JSON.stringify(shown)} is not a function name: expected name or name.namespace, each a DNS-1123 label`,
    );
    this.name = "BadFunctionNameError";
  }
}

/** Why a credential was refused; logged, never the credential itself. */
export type CredentialProblem = "missing" | "malformed" | "wrong";

/** The route needs a credential and the request had none, or a wrong one. */
export class UnauthorizedError extends GatewayError {
  readonly code = "UNAUTHORIZED";
  constructor(readonly problem: CredentialProblem) {
    super(
      problem === "missing"
        ? "this route needs a credential: a bearer token or basic auth"
        : "the credential was not accepted",
    );
    this.name = "UnauthorizedError";
  }
}

/** No route matches the path. */
export class RouteNotFoundError extends GatewayError {
  readonly code = "NOT_FOUND";
  constructor(method: string, path: string) {
    super(`no route for ${method} ${path.length > 120 ? `${path.slice(0, 117)}...` : path}`);
    this.name = "RouteNotFoundError";
  }
}

/** The client did not send its request headers within FLINT_HEADERS_TIMEOUT. */
export class RequestTimeoutError extends GatewayError {
  readonly code = "REQUEST_TIMEOUT";
  constructor() {
    super("the request headers did not arrive in time");
    this.name = "RequestTimeoutError";
  }
}

/** The request headers are larger than Node's limit (16 KiB by default). */
export class HeadersTooLargeError extends GatewayError {
  readonly code = "HEADERS_TOO_LARGE";
  constructor() {
    super("the request headers are too large");
    this.name = "HeadersTooLargeError";
  }
}

/** The request body is larger than the route (or the function's spec.maxBodyBytes) allows. */
export class BodyTooLargeError extends GatewayError {
  readonly code = "BODY_TOO_LARGE";
  constructor(readonly limitBytes: number) {
    super(`the request body is larger than the limit of ${limitBytes} bytes`);
    this.name = "BodyTooLargeError";
  }
}

/**
 * Every replica is at spec.scale.concurrency and the function's queue is full. 429, as the watchdog
 * answers for its own in-flight limit: the function is busy, the gateway is fine.
 */
export class ConcurrencyLimitError extends GatewayError {
  readonly code = "CONCURRENCY_LIMIT";
  constructor(
    readonly key: string,
    readonly queueDepth: number,
    override readonly retryAfterSeconds: number,
  ) {
    super(`function ${key} is at its concurrency limit and ${queueDepth} calls are already waiting`);
    this.name = "ConcurrencyLimitError";
  }
}

/** The client went away before the response was complete. Logged and counted as 499, never sent. */
export class ClientClosedError extends GatewayError {
  readonly code = "CLIENT_CLOSED";
  constructor() {
    super("the client closed the connection before the response was complete");
    this.name = "ClientClosedError";
  }
}

/** The replica could not be reached, or broke the connection before answering. */
export class ReplicaUnavailableError extends GatewayError {
  readonly code = "REPLICA_UNAVAILABLE";
  constructor(
    readonly key: string,
    readonly replicaId: string,
    options?: ErrorOptions,
  ) {
    super(`replica ${replicaId} of function ${key} failed before answering`, options);
    this.name = "ReplicaUnavailableError";
  }
}

/**
 * The replica's connection broke after the call was sent and before its answer, and the call could
 * not be sent again (it had a body, or was not idempotent): it may or may not have run. Sent with
 * `X-Flint-Error: replica-lost`, so a client can tell it from a 502 its function answered.
 */
export class ReplicaLostError extends GatewayError {
  readonly code = "REPLICA_LOST";
  constructor(
    readonly key: string,
    readonly replicaId: string,
    options?: ErrorOptions,
  ) {
    super(`replica ${replicaId} of function ${key} was lost while it had the call; it may have run`, options);
    this.name = "ReplicaLostError";
  }
}

/** The path after the function name is a watchdog's own route (`/_/...`), which callers cannot reach. */
export class ReservedPathError extends GatewayError {
  readonly code = "RESERVED_PATH";
  constructor() {
    super("paths under /_/ belong to the platform and are not served through the gateway");
    this.name = "ReservedPathError";
  }
}

/** TRACE and CONNECT: the gateway neither reflects requests nor opens tunnels. */
export class MethodNotAllowedError extends GatewayError {
  readonly code = "METHOD_NOT_ALLOWED";
  constructor(
    readonly method: string,
    /** Sent as the Allow header. */
    readonly allow: string,
  ) {
    super(`the gateway does not serve ${method.length > 20 ? "this method" : method}`);
    this.name = "MethodNotAllowedError";
  }
}

/** The function has no ready replica and FLINT_QUEUE_DEPTH calls already wait for one. */
export class ActivationQueueFullError extends GatewayError {
  readonly code = "ACTIVATION_QUEUE_FULL";
  constructor(
    readonly key: string,
    readonly queueDepth: number,
    override readonly retryAfterSeconds: number,
  ) {
    super(`function ${key} is starting and ${queueDepth} calls are already waiting for it`);
    this.name = "ActivationQueueFullError";
  }
}

/** Waiting calls across all functions already hold FLINT_QUEUE_BYTES. */
export class QueueBytesExhaustedError extends GatewayError {
  readonly code = "QUEUE_BYTES_EXHAUSTED";
  constructor(
    readonly limitBytes: number,
    override readonly retryAfterSeconds: number,
  ) {
    super(`the gateway's waiting calls already hold its limit of ${limitBytes} bytes`);
    this.name = "QueueBytesExhaustedError";
  }
}

/** No replica became ready within FLINT_ACTIVATION_TIMEOUT of the call's arrival. */
export class ActivationTimeoutError extends GatewayError {
  readonly code = "ACTIVATION_TIMEOUT";
  constructor(
    readonly key: string,
    readonly timeoutMs: number,
    override readonly retryAfterSeconds: number,
  ) {
    super(`function ${key} had no ready replica within ${timeoutMs}ms`);
    this.name = "ActivationTimeoutError";
  }
}

/** Replicas were ready but none had a free slot within FLINT_ACTIVATION_TIMEOUT of the call's arrival. */
export class QueueTimeoutError extends GatewayError {
  readonly code = "QUEUE_TIMEOUT";
  constructor(
    readonly key: string,
    readonly timeoutMs: number,
    override readonly retryAfterSeconds: number,
  ) {
    super(`function ${key} had no free replica within ${timeoutMs}ms`);
    this.name = "QueueTimeoutError";
  }
}

/** The gateway is shutting down and no longer takes or holds calls. */
export class ShuttingDownError extends GatewayError {
  readonly code = "SHUTTING_DOWN";
  override readonly retryAfterSeconds = 1;
  constructor() {
    super("the gateway is shutting down");
    this.name = "ShuttingDownError";
  }
}

/** The call ran past the function's spec.timeout. */
export class CallTimeoutError extends GatewayError {
  readonly code = "CALL_TIMEOUT";
  constructor(
    readonly key: string,
    readonly timeoutMs: number,
  ) {
    super(`function ${key} did not answer within its timeout of ${timeoutMs}ms`);
    this.name = "CallTimeoutError";
  }
}

/** No async call record with that id (never accepted, or older than FLINT_ASYNC_RECORD_TTL). */
export class CallNotFoundError extends GatewayError {
  readonly code = "CALL_NOT_FOUND";
  constructor(readonly callId: string) {
    super(`no async call ${callId}: it was never accepted, or its record expired`);
    this.name = "CallNotFoundError";
  }
}

/** A redrive named a dead letter that is not (or no longer) there. */
export class DeadLetterNotFoundError extends GatewayError {
  readonly code = "DEAD_LETTER_NOT_FOUND";
  constructor(readonly id: string) {
    super(`no dead letter ${id}: it was redriven or purged, or never existed`);
    this.name = "DeadLetterNotFoundError";
  }
}

/** This gateway was started without a call queue, so it takes no async calls. */
export class AsyncDisabledError extends GatewayError {
  readonly code = "ASYNC_DISABLED";
  constructor() {
    super("async calls are not enabled on this gateway");
    this.name = "AsyncDisabledError";
  }
}

/** NATS JetStream did not take or give calls; nothing was accepted. */
export class QueueUnavailableError extends GatewayError {
  readonly code = "QUEUE_UNAVAILABLE";
  override readonly retryAfterSeconds = 1;
  constructor(detail: string, options?: ErrorOptions) {
    super(`the async call queue is unavailable: ${detail}`, options);
    this.name = "QueueUnavailableError";
  }
}

/** Redis did not answer; nothing was accepted (or the record cannot be read now). */
export class RecordsUnavailableError extends GatewayError {
  readonly code = "RECORDS_UNAVAILABLE";
  override readonly retryAfterSeconds = 1;
  constructor(detail: string, options?: ErrorOptions) {
    super(`the call record store is unavailable: ${detail}`, options);
    this.name = "RecordsUnavailableError";
  }
}

/** An async call's body did not arrive within the function's timeout; nothing was accepted. */
export class BodyTimeoutError extends GatewayError {
  readonly code = "BODY_TIMEOUT";
  constructor(readonly timeoutMs: number) {
    super(`the request body did not arrive within ${timeoutMs}ms`);
    this.name = "BodyTimeoutError";
  }
}

/** FLINT_ASYNC_MAX_UPLOADS async bodies are already being read; nothing was accepted. */
export class AsyncUploadsFullError extends GatewayError {
  readonly code = "ASYNC_UPLOADS_FULL";
  constructor(
    readonly limit: number,
    override readonly retryAfterSeconds: number,
  ) {
    super(`the gateway is already reading ${limit} async call bodies`);
    this.name = "AsyncUploadsFullError";
  }
}

/** The async queue already holds FLINT_ASYNC_QUEUE_BYTES; nothing was accepted. */
export class AsyncQueueFullError extends GatewayError {
  readonly code = "ASYNC_QUEUE_FULL";
  constructor(
    readonly limitBytes: number,
    override readonly retryAfterSeconds: number,
    options?: ErrorOptions,
  ) {
    super(`the async call queue already holds its limit of ${limitBytes} bytes`, options);
    this.name = "AsyncQueueFullError";
  }
}

/** A caller's X-Call-Id names a call that exists: ids are never reused (use Idempotency-Key to retry). */
export class CallIdTakenError extends GatewayError {
  readonly code = "CALL_ID_TAKEN";
  constructor(readonly callId: string) {
    super(`call id ${callId} is taken; leave X-Call-Id out, or retry with an Idempotency-Key`);
    this.name = "CallIdTakenError";
  }
}

/** An Idempotency-Key came back with another method, path or body than the call it names. */
export class IdempotencyKeyReusedError extends GatewayError {
  readonly code = "IDEMPOTENCY_KEY_REUSED";
  constructor(readonly heldBy: string) {
    super(`this Idempotency-Key belongs to call ${heldBy}, which had another method, path or body`);
    this.name = "IdempotencyKeyReusedError";
  }
}

/**
 * The HTTP status of every code: a Record over the code union, so a new code that is not mapped
 * here fails the type check.
 */
const HTTP_STATUS: Readonly<Record<GatewayErrorCode, number>> = Object.freeze({
  BAD_REQUEST: 400,
  BAD_FUNCTION_NAME: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  FUNCTION_NOT_FOUND: 404,
  CALL_NOT_FOUND: 404,
  DEAD_LETTER_NOT_FOUND: 404,
  REQUEST_TIMEOUT: 408,
  FUNCTION_EXISTS: 409,
  CONFLICT: 409,
  BODY_TOO_LARGE: 413,
  CONCURRENCY_LIMIT: 429,
  HEADERS_TOO_LARGE: 431,
  // nginx's convention for "client went away"; only ever seen in logs and metrics.
  CLIENT_CLOSED: 499,
  INTERNAL: 500,
  REPLICA_UNAVAILABLE: 502,
  REPLICA_LOST: 502,
  RESERVED_PATH: 404,
  METHOD_NOT_ALLOWED: 405,
  ACTIVATION_QUEUE_FULL: 503,
  QUEUE_BYTES_EXHAUSTED: 503,
  ACTIVATION_TIMEOUT: 503,
  QUEUE_TIMEOUT: 503,
  SHUTTING_DOWN: 503,
  ASYNC_DISABLED: 503,
  QUEUE_UNAVAILABLE: 503,
  RECORDS_UNAVAILABLE: 503,
  BODY_TIMEOUT: 408,
  ASYNC_UPLOADS_FULL: 503,
  ASYNC_QUEUE_FULL: 503,
  CALL_ID_TAKEN: 409,
  IDEMPOTENCY_KEY_REUSED: 422,
  CALL_TIMEOUT: 504,
});

/** The HTTP status for `code`. */
export function httpStatusOf(code: GatewayErrorCode): number {
  return HTTP_STATUS[code];
}

/** An error as it goes on the wire. */
export interface ErrorResponse {
  readonly status: number;
  readonly code: GatewayErrorCode;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * The one mapping from an error to a response: `{ error: { code, message, callId, details? } }`.
 * Anything that is neither a GatewayError nor a StoreError is a bug; its message stays in the logs, not the response.
 */
export function errorResponse(error: unknown, callId: string): ErrorResponse {
  const known = isKnownError(error) ? error : undefined;
  const code: GatewayErrorCode = known?.code ?? "INTERNAL";
  const message = known?.message ?? "the gateway failed to handle the request";
  const fieldErrors =
    known instanceof BadRequestError || known instanceof StoreError ? known.details : undefined;
  const details = fieldErrors !== undefined && fieldErrors.length > 0 ? fieldErrors : undefined;
  const body = JSON.stringify({ error: { code, message, callId, details } });
  const headers: Record<string, string> = {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(body)),
    "x-call-id": callId,
  };
  if (known?.retryAfterSeconds !== undefined) headers["retry-after"] = String(known.retryAfterSeconds);
  if (known instanceof UnauthorizedError)
    headers["www-authenticate"] = 'Bearer realm="flint", Basic realm="flint"';
  if (known instanceof ReplicaLostError) headers["x-flint-error"] = "replica-lost";
  if (known instanceof MethodNotAllowedError) headers["allow"] = known.allow;
  return { status: httpStatusOf(code), code, headers, body };
}

/**
 * An error as a whole HTTP/1.1 response, for a socket that has left Node's HTTP server (a request it
 * could not parse, an upgrade): the same body as `errorResponse`, and the connection closes after it.
 */
export function rawErrorResponse(error: unknown, callId: string): string {
  const { status, headers, body } = errorResponse(error, callId);
  let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\nconnection: close\r\n`;
  for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
  return `${text}\r\n${body}`;
}
