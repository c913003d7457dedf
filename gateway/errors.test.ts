import type { KnownError } from "./errors.js";
import {
  ActivationQueueFullError,
  ActivationTimeoutError,
  AsyncQueueFullError,
  AsyncUploadsFullError,
  BadFunctionNameError,
  BadRequestError,
  BodyTimeoutError,
  BodyTooLargeError,
  CallIdTakenError,
  CallTimeoutError,
  ClientClosedError,
  ConcurrencyLimitError,
  HeadersTooLargeError,
  IdempotencyKeyReusedError,
  MethodNotAllowedError,
  QueueBytesExhaustedError,
  QueueTimeoutError,
  ReplicaLostError,
  ReplicaUnavailableError,
  RequestTimeoutError,
  ReservedPathError,
  RouteNotFoundError,
  ShuttingDownError,
  UnauthorizedError,
  errorResponse,
} from "./errors.js";
import { ConflictError, FunctionExistsError, FunctionNotFoundError } from "../platform/errors.js";

describe("errorResponse", () => {
  it.each<[KnownError, number, string, string | undefined]>([
    [new BadRequestError("bad"), 400, "BAD_REQUEST", undefined],
    [new BadFunctionNameError("Hello"), 400, "BAD_FUNCTION_NAME", undefined],
    [new UnauthorizedError("missing"), 401, "UNAUTHORIZED", undefined],
    [new RouteNotFoundError("GET", "/x"), 404, "NOT_FOUND", undefined],
    [new FunctionNotFoundError("default/x"), 404, "FUNCTION_NOT_FOUND", undefined],
    [new RequestTimeoutError(), 408, "REQUEST_TIMEOUT", undefined],
    [new FunctionExistsError("default/x"), 409, "FUNCTION_EXISTS", undefined],
    [new ConflictError("stale"), 409, "CONFLICT", undefined],
    [new BodyTooLargeError(10), 413, "BODY_TOO_LARGE", undefined],
    [new HeadersTooLargeError(), 431, "HEADERS_TOO_LARGE", undefined],
    [new ConcurrencyLimitError("default/x", 5, 2), 429, "CONCURRENCY_LIMIT", "2"],
    [new ClientClosedError(), 499, "CLIENT_CLOSED", undefined],
    [new ReplicaUnavailableError("default/x", "r1"), 502, "REPLICA_UNAVAILABLE", undefined],
    [new ActivationQueueFullError("default/x", 5, 1), 503, "ACTIVATION_QUEUE_FULL", "1"],
    [new QueueBytesExhaustedError(100, 3), 503, "QUEUE_BYTES_EXHAUSTED", "3"],
    [new ActivationTimeoutError("default/x", 30_000, 1), 503, "ACTIVATION_TIMEOUT", "1"],
    [new QueueTimeoutError("default/x", 30_000, 1), 503, "QUEUE_TIMEOUT", "1"],
    [new ShuttingDownError(), 503, "SHUTTING_DOWN", "1"],
    [new CallTimeoutError("default/x", 1000), 504, "CALL_TIMEOUT", undefined],
    [new ReservedPathError(), 404, "RESERVED_PATH", undefined],
    [new MethodNotAllowedError("TRACE", "GET, POST"), 405, "METHOD_NOT_ALLOWED", undefined],
    [new BodyTimeoutError(10_000), 408, "BODY_TIMEOUT", undefined],
    [new CallIdTakenError("c-1"), 409, "CALL_ID_TAKEN", undefined],
    [new IdempotencyKeyReusedError("c-1"), 422, "IDEMPOTENCY_KEY_REUSED", undefined],
    [new ReplicaLostError("default/x", "r1"), 502, "REPLICA_LOST", undefined],
    [new AsyncUploadsFullError(64, 1), 503, "ASYNC_UPLOADS_FULL", "1"],
    [new AsyncQueueFullError(1024, 2), 503, "ASYNC_QUEUE_FULL", "2"],
  ])("%s → %d %s", (error, status, code, retryAfter) => {
    const response = errorResponse(error, "call-1");
    expect(response.status).toBe(status);
    expect(response.code).toBe(code);
    expect(response.headers["retry-after"]).toBe(retryAfter);
    expect(response.headers["x-call-id"]).toBe("call-1");
    expect(JSON.parse(response.body)).toEqual({ error: { code, message: error.message, callId: "call-1" } });
    expect(Number(response.headers["content-length"])).toBe(Buffer.byteLength(response.body));
  });

  it("names a lost replica in X-Flint-Error and lists the allowed methods on 405", () => {
    expect(errorResponse(new ReplicaLostError("default/x", "r1"), "c").headers["x-flint-error"]).toBe(
      "replica-lost",
    );
    expect(errorResponse(new MethodNotAllowedError("TRACE", "GET, POST"), "c").headers["allow"]).toBe(
      "GET, POST",
    );
  });

  it("lists a rejected manifest's fields", () => {
    const error = new BadRequestError("invalid Function manifest", [
      { path: "spec.scale.min", message: "too big" },
    ]);
    expect(JSON.parse(errorResponse(error, "c").body)).toEqual({
      error: {
        code: "BAD_REQUEST",
        message: "invalid Function manifest",
        callId: "c",
        details: [{ path: "spec.scale.min", message: "too big" }],
      },
    });
  });

  it("asks for a credential on 401", () => {
    expect(errorResponse(new UnauthorizedError("wrong"), "c").headers["www-authenticate"]).toBe(
      'Bearer realm="flint", Basic realm="flint"',
    );
  });

  it("keeps a bug's message out of the response", () => {
    const response = errorResponse(new TypeError("secret internals"), "c");
    expect(response.status).toBe(500);
    expect(response.body).not.toContain("secret internals");
    expect(JSON.parse(response.body)).toMatchObject({ error: { code: "INTERNAL" } });
  });

  it("keeps the cause chain", () => {
    const cause = new Error("ECONNREFUSED");
    expect(new ReplicaUnavailableError("default/x", "r1", { cause }).cause).toBe(cause);
  });
});
