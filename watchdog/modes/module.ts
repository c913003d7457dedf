// module mode: import the user's module once and call its fetch- or Lambda-style handler in-process.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Logger } from "pino";
import { readBody } from "../body.js";
import type { HandlerShape, ModuleHandlerConfig } from "../config.js";
import { HandlerFailedError, ModuleLoadError } from "../errors.js";
import { CallRequest, installFastResponse } from "../shapes/fast-fetch.js";
import { writeResponse } from "../shapes/fetch.js";
import { toLambdaEvent, writeLambdaResult } from "../shapes/lambda.js";
import type { Call, Mode } from "./mode.js";

/**
 * The second argument of every module handler, whatever its shape. The Lambda names
 * (`awsRequestId`, `getRemainingTimeInMillis`) are there so Lambda handlers run unchanged.
 */
export class CallContext {
  readonly functionVersion = "$LATEST";
  readonly callbackWaitsForEmptyEventLoop = false;

  constructor(
    private readonly call: Call,
    readonly functionName: string,
  ) {}

  get callId(): string {
    return this.call.id;
  }
  get awsRequestId(): string {
    return this.call.id;
  }
  /** When the call times out, in epoch milliseconds. */
  get deadlineMs(): number {
    return this.call.deadlineMs;
  }
  /** Fires when the call times out or the client goes away; stop work and return. */
  get signal(): AbortSignal {
    return this.call.signal;
  }
  getRemainingTimeInMillis(): number {
    return Math.max(0, this.call.deadlineMs - Date.now());
  }
}

type FetchHandler = (request: Request, context: CallContext) => unknown;
type LambdaHandler = (
  event: unknown,
  context: CallContext,
  callback?: (error: unknown, result?: unknown) => void,
) => unknown;

/** The export that was picked, and how to call it; logged at start so a guess is never silent. */
interface ResolvedHandler {
  readonly shape: HandlerShape;
  readonly exportName: string;
  readonly fn: (...args: never[]) => unknown;
}

export class ModuleMode implements Mode {
  private handler: ResolvedHandler | undefined;

  constructor(
    private readonly config: ModuleHandlerConfig,
    private readonly functionName: string,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const path = resolve(this.config.entry);
    installFastResponse();
    let namespace: Record<string, unknown>;
    try {
      namespace = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    } catch (error) {
      const reason = error instanceof Error ? error.message : JSON.stringify(error);
      throw new ModuleLoadError(`cannot import FLINT_ENTRY ${path}: ${reason}`, { cause: error });
    }
    this.handler = resolveHandler(namespace, this.config, path);
    this.logger.info(
      { entry: path, export: this.handler.exportName, shape: this.handler.shape },
      "handler loaded",
    );
  }

  ready(): boolean {
    return this.handler !== undefined;
  }

  handle(call: Call): Promise<void> {
    const handler = this.handler as ResolvedHandler;
    return handler.shape === "fetch" ? this.handleFetch(handler, call) : this.handleLambda(handler, call);
  }

  /**
   * Not an async function: a handler that returns its Response synchronously is written in the same
   * tick, with no promise of our own per step (every await costs a microtask on the hot path).
   */
  private handleFetch(handler: ResolvedHandler, call: Call): Promise<void> {
    let result: unknown;
    try {
      result = (handler.fn as FetchHandler)(
        new CallRequest(call) as unknown as Request,
        new CallContext(call, this.functionName),
      );
    } catch (error) {
      return Promise.reject(handlerFailed(error));
    }
    if (!isThenable(result)) return writeResponse(result, call);
    return Promise.resolve(result).then(
      (response) => (call.aborted ? undefined : writeResponse(response, call)),
      (error: unknown) => {
        throw handlerFailed(error);
      },
    );
  }

  private async handleLambda(handler: ResolvedHandler, call: Call): Promise<void> {
    const body = await readBody(call.body);
    if (call.aborted) return;
    const event = toLambdaEvent(call.req, body, call.id, Date.now());
    let result: unknown;
    try {
      result = await callLambda(handler.fn as LambdaHandler, event, new CallContext(call, this.functionName));
    } catch (error) {
      throw handlerFailed(error);
    }
    if (call.aborted) return;
    writeLambdaResult(result, call);
  }

  async close(): Promise<void> {
    // Nothing to stop: the module lives and dies with the process.
  }
}

/** A handler's throw or rejection, as the error the server answers 500 for; the original is the cause. */
function handlerFailed(error: unknown): HandlerFailedError {
  return new HandlerFailedError("the handler threw", { cause: error });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function"
  );
}

/**
 * Lambda's Node runtime supports both async handlers and the older callback style; a handler that
 * declares three parameters is given a callback and its return value is ignored, as Lambda does.
 */
function callLambda(fn: LambdaHandler, event: unknown, context: CallContext): unknown {
  if (fn.length < 3) return fn(event, context);
  return new Promise((resolvePromise, rejectPromise) => {
    const callback = (error: unknown, result?: unknown): void => {
      if (error !== null && error !== undefined)
        rejectPromise(error instanceof Error ? error : new Error(JSON.stringify(error)));
      else resolvePromise(result);
    };
    fn(event, context, callback);
  });
}

function resolveHandler(
  namespace: Record<string, unknown>,
  config: ModuleHandlerConfig,
  path: string,
): ResolvedHandler {
  const pick = (exportName: string, shape: HandlerShape): ResolvedHandler | undefined => {
    let value = namespace[exportName];
    // `export default { fetch(request) {} }`, the Workers/Bun/Deno convention, is fetch style too.
    if (shape === "fetch" && isObject(value) && typeof value.fetch === "function") {
      const target = value;
      const fetch = value.fetch as FetchHandler;
      value = (request: Request, context: CallContext) => fetch.call(target, request, context);
    }
    return typeof value === "function"
      ? { shape, exportName, fn: value as ResolvedHandler["fn"] }
      : undefined;
  };

  const { exportName, shape } = config;
  let handler: ResolvedHandler | undefined;
  if (shape !== undefined) handler = pick(exportName ?? (shape === "fetch" ? "default" : "handler"), shape);
  else handler = pick("default", "fetch") ?? pick("handler", "lambda");
  if (handler !== undefined) return handler;

  const wanted =
    shape === undefined
      ? `a default export (fetch style) or an export named "handler" (Lambda style)`
      : `an export named "${exportName ?? (shape === "fetch" ? "default" : "handler")}" that is a ${shape} handler`;
  const found = Object.keys(namespace).join(", ") || "nothing";
  throw new ModuleLoadError(`${path} has no handler: expected ${wanted}, found exports: ${found}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}
