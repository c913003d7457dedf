// Errors the platform's adapters raise, each with a stable `code`: the Function stores' (memory,
// custom resources) and the one configuration error every component's env reader throws. The
// gateway maps the store codes to HTTP in one place (gateway/errors.ts, `httpStatusOf`).
import type { FieldError } from "../api/index.js";

/** The stable codes of store errors; also `error.code` in a gateway response body. */
export type StoreErrorCode = "BAD_REQUEST" | "FUNCTION_NOT_FOUND" | "FUNCTION_EXISTS" | "CONFLICT";

/** Base class of what a FunctionStore rejects with: callers branch on `code` or `instanceof`. */
export abstract class StoreError extends Error {
  abstract readonly code: StoreErrorCode;
  /** Field by field, when a Function was rejected as invalid. */
  readonly details: readonly FieldError[] = [];
  /** Never set: a store error does not go away by waiting (the same shape as the gateway's errors). */
  readonly retryAfterSeconds: number | undefined = undefined;
}

/** No Function of that name exists (or it was deleted while the call waited). */
export class FunctionNotFoundError extends StoreError {
  readonly code = "FUNCTION_NOT_FOUND";
  /** `key` is "namespace/name". */
  constructor(readonly key: string) {
    super(`function ${key} not found`);
    this.name = "FunctionNotFoundError";
  }
}

/** Create of a Function whose name is taken. */
export class FunctionExistsError extends StoreError {
  readonly code = "FUNCTION_EXISTS";
  constructor(readonly key: string) {
    super(`function ${key} already exists; use PUT to change it`);
    this.name = "FunctionExistsError";
  }
}

/** An update based on an old version of the Function (optimistic concurrency), or a name mismatch. */
export class ConflictError extends StoreError {
  readonly code = "CONFLICT";
  constructor(message: string) {
    super(message);
    this.name = "ConflictError";
  }
}

/** The store (the API server's validation, or ours) refused the Function as written. */
export class InvalidFunctionError extends StoreError {
  readonly code = "BAD_REQUEST";
  override readonly details: readonly FieldError[];
  constructor(message: string, details: readonly FieldError[] = [], options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidFunctionError";
    this.details = details;
  }
}

/** A create in a namespace outside FLINT_NAMESPACES: the gateway would never route it. */
export class NamespaceNotWatchedError extends StoreError {
  readonly code = "BAD_REQUEST";
  constructor(readonly namespace: string) {
    super(`namespace ${namespace} is not one this gateway serves (FLINT_NAMESPACES)`);
    this.name = "NamespaceNotWatchedError";
  }
}

/**
 * An environment variable has a value a component cannot use: thrown by every `loadConfig`, and
 * reported by each `main` as one line naming the variable, before it exits with status 1.
 */
export class ConfigError extends Error {
  readonly code = "CONFIG_INVALID";
  constructor(
    /** The environment variable at fault. */
    readonly variable: string,
    message: string,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}
