// Async calls in the gateway: accepting POST /async-function/... into the durable queue (202 + X-Call-Id),
// one consumer per known function, the callback sender, the backlog reader, and the dead-letter admin.
import { createHash, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { functionKey, parseFunctionRef, type FunctionRef, type FunctionResource } from "../../api/index.js";
import type { Credentials } from "../auth.js";
import type { ReplicaPool } from "../replica-pool.js";
import {
  AsyncUploadsFullError,
  BadFunctionNameError,
  BadRequestError,
  BodyTimeoutError,
  BodyTooLargeError,
  CallIdTakenError,
  CallNotFoundError,
  ClientClosedError,
  DeadLetterNotFoundError,
  IdempotencyKeyReusedError,
  isKnownError,
  MissingHostError,
  UnauthorizedError,
} from "../errors.js";
import { FunctionNotFoundError } from "../../platform/errors.js";
import { readRequestHead, upstreamHeaders, type RequestHead } from "../headers.js";
import type { FunctionMetrics } from "../metrics.js";
import type { Clock } from "../../platform/ports.js";
import { writeError } from "../proxy.js";
import { assertPublicPath, parseCallPath } from "../route.js";
import { CALL_TOKEN_HEADER, redactedUrl, type CallTokens } from "./call-access.js";
import { CallbackSender } from "./callbacks.js";
import { FunctionConsumer } from "./consumer.js";
import { AsyncMetrics } from "./metrics.js";
import type { CallQueue, CallRecord, CallRecords, DeadLetter, QueuedCall } from "./ports.js";
import type { RetryOn, RetrySettings } from "./retry.js";

export const ASYNC_PREFIX = "/async-function/";
/** GET /async-function/calls/:id reads a call's record (so a function named "calls" cannot be read by GET). */
export const CALLS_PATH = "/async-function/calls/";

/** Headers that are the gateway's business, not the function's. */
const GATEWAY_HEADERS = new Set(["x-callback-url", "idempotency-key", "content-length"]);
const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/;
/** How often each function's backlog is read from the queue, in ms. */
const DEPTH_INTERVAL_MS = 1000;

/** The gateway's async settings (see GatewayConfig). */
export interface AsyncConfig {
  /** Largest body an async call may carry, in bytes. FLINT_ASYNC_MAX_BODY, default 1Mi. */
  readonly maxBodyBytes: number;
  /** Async calls one function may have in flight per gateway. FLINT_ASYNC_CONCURRENCY, default 32. */
  readonly maxInFlight: number;
  readonly retryOn: RetryOn;
  /** Most response body kept for a callback, in bytes. FLINT_ASYNC_RESULT_MAX_BYTES, default 1Mi. */
  readonly resultMaxBytes: number;
  readonly callbackRetry: RetrySettings;
  readonly callbackTimeoutMs: number;
  /** On shutdown, how long async calls in flight may take to finish, in ms. */
  readonly drainTimeoutMs: number;
  /** Bodies read at once; one more gets 503. FLINT_ASYNC_MAX_UPLOADS. */
  readonly maxUploads: number;
  /** Retry-After for a refused upload, in seconds. */
  readonly retryAfterSeconds: number;
}

export interface AsyncCallsOptions {
  readonly queue: CallQueue;
  readonly records: CallRecords;
  readonly config: AsyncConfig;
  readonly activationTimeoutMs: number;
  readonly credentials: Credentials;
  /** Issues and checks each call's read token. */
  readonly tokens: CallTokens;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly defaultNamespace: string;
  readonly draining: () => boolean;
  /** Default Math.random; tests pass a seeded one. */
  readonly random?: () => number;
}

/** A function as async calls need it: its pool (shared with sync calls) and its metrics. */
export interface AsyncRoute {
  readonly pool: ReplicaPool;
  readonly metrics: FunctionMetrics;
}

export class AsyncCalls {
  readonly metrics: AsyncMetrics;
  private readonly consumers = new Map<string, FunctionConsumer>();
  private readonly routes = new Map<string, AsyncRoute>();
  private readonly callbacks: CallbackSender;
  private cancelDepth: (() => void) | undefined;
  private closed = false;
  /** Async bodies being read now, bounded by maxUploads. */
  private uploads = 0;

  constructor(private readonly options: AsyncCallsOptions) {
    this.metrics = new AsyncMetrics(options.registry);
    const random = options.random ?? Math.random;
    this.callbacks = new CallbackSender({
      queue: options.queue,
      records: options.records,
      clock: options.clock,
      logger: options.logger.child({ component: "callbacks" }),
      metrics: this.metrics,
      random,
      retry: options.config.callbackRetry,
      timeoutMs: options.config.callbackTimeoutMs,
    });
  }

  start(): void {
    this.callbacks.start();
    this.scheduleDepth();
  }

  /** A function appeared or changed: start its consumer or give it the new spec. */
  putFunction(fn: FunctionResource, route: AsyncRoute): void {
    const key = functionKey(fn.metadata);
    this.routes.set(key, route);
    const existing = this.consumers.get(key);
    if (existing !== undefined) return existing.configure(fn);
    const ref = { name: fn.metadata.name, namespace: fn.metadata.namespace };
    const { config } = this.options;
    const consumer = new FunctionConsumer(ref, fn, route.pool, route.metrics, {
      queue: this.options.queue,
      records: this.options.records,
      clock: this.options.clock,
      logger: this.options.logger,
      metrics: this.metrics,
      random: this.options.random ?? Math.random,
      maxInFlight: config.maxInFlight,
      retryOn: config.retryOn,
      resultMaxBytes: config.resultMaxBytes,
      activationTimeoutMs: this.options.activationTimeoutMs,
    });
    this.consumers.set(key, consumer);
    if (!this.closed) consumer.start();
  }

  /** A function was deleted: stop consuming (its queued calls stay until it is back or purged). */
  deleteFunction(ref: FunctionRef): void {
    const key = functionKey(ref);
    this.routes.delete(key);
    const consumer = this.consumers.get(key);
    if (consumer === undefined) return;
    this.consumers.delete(key);
    this.metrics.forget(key);
    void consumer.stop(0);
  }

  /** Async bodies being read now (bounded by FLINT_ASYNC_MAX_UPLOADS). */
  get uploading(): number {
    return this.uploads;
  }

  /** The function's async backlog as last read, for the autoscaler. */
  queued(key: string): number {
    return this.consumers.get(key)?.queued ?? 0;
  }

  /** Stops taking calls and callbacks; waits for calls in flight up to the drain timeout. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cancelDepth?.();
    const deadlineMs = this.options.config.drainTimeoutMs;
    await Promise.all([...this.consumers.values()].map((consumer) => consumer.stop(deadlineMs)));
    await this.callbacks.stop();
    await Promise.all([this.options.queue.close(), this.options.records.close()]);
  }

  /** Serves POST (or any method) /async-function/:name[/*]: store the call, answer 202. */
  submit(req: IncomingMessage, res: ServerResponse): void {
    const head = readRequestHead(req.rawHeaders);
    const callId = head.callId ?? randomUUID();
    this.accept(req, head, callId).then(
      (accepted) => {
        const token = this.options.tokens.issue(accepted.callId);
        const headers: Record<string, string> = {
          "content-type": "application/json; charset=utf-8",
          "x-call-id": accepted.callId,
          location: `${CALLS_PATH}${accepted.callId}`,
        };
        if (token !== undefined) headers[CALL_TOKEN_HEADER] = token;
        if (accepted.replayed) headers["x-flint-idempotent-replay"] = "true";
        if (this.options.draining()) headers["connection"] = "close";
        res.writeHead(202, headers);
        res.end(
          JSON.stringify({
            callId: accepted.callId,
            status: `${CALLS_PATH}${accepted.callId}`,
            ...(token === undefined ? {} : { token }),
          }),
        );
      },
      (error: unknown) => {
        if (error instanceof ClientClosedError) return;
        if (!isKnownError(error)) {
          this.options.logger.error({ callId, err: error }, "async call not accepted");
        }
        writeError(req, res, head, error, callId, this.options.draining());
        // A body left unread (too slow, too many, too large) is not waited for: the socket goes.
        if (!req.complete) res.once("finish", () => req.destroy());
      },
    );
  }

  /**
   * The record behind GET /async-function/calls/:id, for a caller with the management credential
   * (`authorized`) or the call's read token. Without either: 401; a token that is not this call's
   * gets the same 404 as an unknown id, so ids cannot be probed.
   */
  async record(callId: string, authorized: boolean, token: string | undefined): Promise<CallRecord> {
    if (!authorized) {
      if (token === undefined) throw new UnauthorizedError("missing");
      if (!this.options.tokens.verify(callId, token)) throw new CallNotFoundError(callId);
    }
    const record = await this.options.records.get(callId);
    if (record === undefined) throw new CallNotFoundError(callId);
    return record;
  }

  listDead(ref: FunctionRef | undefined, limit: number): Promise<DeadLetter[]> {
    return this.options.queue.listDead(ref, limit);
  }

  /** Queues dead letters again: one by id (404 if it is gone), or all of a function's, or all. */
  async redrive(ref: FunctionRef | undefined, id?: string): Promise<number> {
    const count = await this.options.queue.redrive(ref, id, (letter) => this.markRequeued(letter));
    if (id !== undefined && count === 0) throw new DeadLetterNotFoundError(id);
    return count;
  }

  purgeDead(ref: FunctionRef | undefined): Promise<number> {
    return this.options.queue.purgeDead(ref);
  }

  private async markRequeued(letter: DeadLetter): Promise<void> {
    const record = await this.options.records.get(letter.call.callId);
    const nowMs = this.options.clock.now();
    const { finishedAtMs: _finished, ...rest } = record ?? {
      callId: letter.call.callId,
      function: functionKey(letter.call.function),
      attempts: letter.attempts.length,
      acceptedAtMs: letter.call.acceptedAtMs,
      history: letter.attempts,
      finishedAtMs: undefined,
    };
    await this.options.records.put({ ...rest, state: "queued", updatedAtMs: nowMs });
  }

  // eslint-disable-next-line complexity -- each early refusal (auth, name, body, idempotency, queue) is one branch of the intake, in the order a caller meets them
  private async accept(
    req: IncomingMessage,
    head: RequestHead,
    callId: string,
  ): Promise<{ callId: string; replayed: boolean }> {
    const { config, defaultNamespace, credentials, queue, records, clock } = this.options;
    if (head.host === undefined && req.httpVersionMinor === 1) throw new MissingHostError();
    const { functionText, upstreamPath } = parseCallPath(req.url ?? ASYNC_PREFIX, ASYNC_PREFIX);
    assertPublicPath(upstreamPath);
    const ref = parseFunctionRef(functionText, defaultNamespace);
    if (ref === undefined) throw new BadFunctionNameError(functionText);
    const key = functionKey(ref);
    const route = this.routes.get(key);
    if (route === undefined) throw new FunctionNotFoundError(key);
    const { settings } = route.pool;
    if (settings.authRequired) {
      const problem = credentials.check(head.authorization);
      if (problem !== undefined) throw new UnauthorizedError(problem);
    }
    const callbackUrl = callbackUrlOf(req);
    const idempotency = idempotencyKeyOf(req);
    // The smallest of the gateway's limit, the function's, and what the queue's messages can hold.
    const limitBytes = Math.min(
      config.maxBodyBytes,
      settings.maxBodyBytes > 0 ? settings.maxBodyBytes : Number.MAX_SAFE_INTEGER,
      queue.maxBodyBytes(),
    );
    if (head.contentLength !== undefined && head.contentLength > limitBytes) {
      throw new BodyTooLargeError(limitBytes);
    }
    const body = head.hasBody
      ? await this.readUpload(req, limitBytes, settings.timeoutMs)
      : new Uint8Array(0);

    const fingerprint = idempotency === undefined ? undefined : fingerprintOf(req.method, upstreamPath, body);
    if (idempotency !== undefined) {
      const holder = await records.claimIdempotencyKey(key, idempotency, { callId, fingerprint });
      if (holder !== undefined) {
        if (holder.fingerprint !== undefined && holder.fingerprint !== fingerprint) {
          throw new IdempotencyKeyReusedError(holder.callId);
        }
        return { callId: holder.callId, replayed: true };
      }
    }
    const forward = upstreamHeaders(head, {
      callId,
      clientAddress: req.socket.remoteAddress,
      encrypted: "encrypted" in req.socket,
      prefix: `${ASYNC_PREFIX}${functionText}`,
    });
    const headers: string[] = [];
    for (let i = 0; i + 1 < forward.length; i += 2) {
      const name = forward[i] as string;
      const lower = name.toLowerCase();
      if (GATEWAY_HEADERS.has(lower)) continue;
      if (lower === "authorization" && settings.authRequired) continue;
      headers.push(name, forward[i + 1] as string);
    }
    const acceptedAtMs = clock.now();
    const call: QueuedCall = {
      callId,
      function: ref,
      method: req.method ?? "POST",
      path: upstreamPath,
      headers,
      body,
      callbackUrl,
      acceptedAtMs,
    };
    const release = async (): Promise<void> => {
      if (idempotency !== undefined) await records.releaseIdempotencyKey(key, idempotency);
    };
    let created: boolean;
    try {
      // The record first: with Redis down nothing reaches the queue, so a 503 always means "not taken".
      // Created only if the id is free: a caller's X-Call-Id never overwrites (or reruns) another call.
      created = await records.create({
        callId,
        function: key,
        state: "queued",
        attempts: 0,
        acceptedAtMs,
        updatedAtMs: acceptedAtMs,
        history: [],
        ...(callbackUrl === undefined ? {} : { callbackUrl: redactedUrl(callbackUrl) }),
      });
    } catch (error) {
      await Promise.allSettled([release()]);
      throw error;
    }
    if (!created) {
      await Promise.allSettled([release()]);
      throw new CallIdTakenError(callId);
    }
    try {
      await queue.publish(call);
    } catch (error) {
      // Not accepted: leave nothing behind that says otherwise.
      await Promise.allSettled([records.delete(callId), release()]);
      throw error;
    }
    this.metrics.count("enqueued", key);
    return { callId, replayed: false };
  }

  /** Reads a body within the upload cap and the function's timeout. */
  private async readUpload(req: IncomingMessage, limitBytes: number, timeoutMs: number): Promise<Uint8Array> {
    const { maxUploads, retryAfterSeconds } = this.options.config;
    if (this.uploads >= maxUploads) throw new AsyncUploadsFullError(maxUploads, retryAfterSeconds);
    this.uploads++;
    try {
      return await readBody(req, limitBytes, timeoutMs, this.options.clock);
    } finally {
      this.uploads--;
    }
  }

  private scheduleDepth(): void {
    this.cancelDepth = this.options.clock.setTimer(() => {
      void Promise.allSettled([...this.consumers.values()].map((consumer) => consumer.refreshDepth())).then(
        () => {
          if (!this.closed) this.scheduleDepth();
        },
      );
    }, DEPTH_INTERVAL_MS);
  }
}

/** X-Callback-Url, which must be an absolute http(s) URL. */
function callbackUrlOf(req: IncomingMessage): string | undefined {
  const value = req.headers["x-callback-url"];
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value[0] : value;
  let url: URL | undefined;
  try {
    url = text === undefined ? undefined : new URL(text);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new BadRequestError(
      `X-Callback-Url must be an absolute http or https URL, was ${JSON.stringify(text)}`,
    );
  }
  return url.href;
}

function idempotencyKeyOf(req: IncomingMessage): string | undefined {
  const value = req.headers["idempotency-key"];
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(",") : value;
  if (!IDEMPOTENCY_KEY_RE.test(text)) {
    throw new BadRequestError("Idempotency-Key must be 1 to 255 visible ASCII characters");
  }
  return text;
}

/** What an Idempotency-Key is bound to: the method, the path and query, and the body. */
function fingerprintOf(method: string | undefined, path: string, body: Uint8Array): string {
  return createHash("sha256")
    .update(`${method ?? "POST"} ${path}\n`)
    .update(body)
    .digest("base64url");
}

/**
 * Reads the whole body, refusing it as soon as it passes `limitBytes` (413) or when it has not all
 * arrived within `timeoutMs` (408): a stalled upload holds no memory or descriptor for long.
 */
function readBody(
  req: IncomingMessage,
  limitBytes: number,
  timeoutMs: number,
  clock: Clock,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cancelDeadline = clock.setTimer(() => {
      cleanup();
      reject(new BodyTimeoutError(timeoutMs));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limitBytes) {
        cleanup();
        req.resume();
        reject(new BodyTooLargeError(limitBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onClose = (): void => {
      if (req.complete) return;
      cleanup();
      reject(new ClientClosedError());
    };
    const cleanup = (): void => {
      cancelDeadline();
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("close", onClose);
    };
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("close", onClose);
  });
}
