// One attempt at an async call: through the function's ReplicaPool like a sync call (so it obeys the
// concurrency limit, waits in the same queue and triggers activation), with the response captured.
import type { Dispatcher } from "undici";
import type { ReplicaPool } from "../replica-pool.js";
import { PooledCall } from "../pooled-call.js";
import {
  CallTimeoutError,
  type KnownError,
  isKnownError,
  ReplicaUnavailableError,
  ShuttingDownError,
  httpStatusOf,
} from "../errors.js";
import type { FunctionMetrics } from "../metrics.js";
import type { Clock } from "../../platform/ports.js";
import { CONNECT_ERROR_CODES, QUEUED_CALL_OVERHEAD_BYTES } from "../proxy.js";
import type { Replica } from "../replica.js";
import type { QueuedCall } from "./ports.js";

/** What one attempt ended with. */
export interface AttemptOutcome {
  /** The function's status; or the gateway's (502, 503, 504) when the function did not answer. */
  readonly status: number;
  /** Set when the function did not answer: the gateway's error code. */
  readonly error: string | undefined;
  /** Response headers, [name, value, ...] (empty when the function did not answer). */
  readonly headers: string[];
  /** Response body, up to the result limit. */
  readonly body: Uint8Array;
  /** The body was longer than the limit and was cut. */
  readonly truncated: boolean;
  /** Retry-After from the function (or the gateway's own, on 503). */
  readonly retryAfter: string | undefined;
  /** How long the call waited for a replica (cold start or busy), in ms. */
  readonly waitedMs: number;
}

export interface AttemptOptions {
  readonly pool: ReplicaPool;
  readonly metrics: FunctionMetrics;
  readonly clock: Clock;
  /** Most response body kept for the record and the callback, in bytes. */
  readonly resultMaxBytes: number;
  /** 1-based, sent to the function as X-Flint-Attempt. */
  readonly attempt: number;
}

/** Sends `call` to a replica of `options.pool` once; never rejects. */
export function attemptCall(call: QueuedCall, options: AttemptOptions): Promise<AttemptOutcome> {
  return new Promise((resolve) => new CallAttempt(call, options, resolve).start());
}

class CallAttempt extends PooledCall {
  private upstream: AbortController | undefined;
  private cancelDeadline: (() => void) | undefined;
  private retried = false;
  private finished = false;
  private readonly startMs: number;

  constructor(
    private readonly call: QueuedCall,
    private readonly options: AttemptOptions,
    private readonly resolve: (outcome: AttemptOutcome) => void,
  ) {
    super(options.pool);
    this.startMs = options.clock.now();
  }

  start(): void {
    this.options.pool.enter();
    this.acquire();
  }

  protected observeColdStart(waitedMs: number): void {
    this.options.metrics.coldStart.observe(waitedMs / 1000);
  }

  protected queueCostBytes(): number {
    return QUEUED_CALL_OVERHEAD_BYTES + this.call.body.byteLength;
  }

  protected finish(error: unknown): void {
    this.fail(isKnownError(error) ? error : new ShuttingDownError());
  }

  protected send(replica: Replica): void {
    if (this.finished) {
      this.options.pool.release(replica);
      return;
    }
    this.replica = replica;
    const { pool, clock } = this.options;
    this.cancelDeadline ??= clock.setTimer(
      () => this.fail(new CallTimeoutError(pool.key, pool.settings.timeoutMs)),
      pool.settings.timeoutMs,
    );
    const headers = [
      ...this.call.headers,
      "content-length",
      String(this.call.body.byteLength),
      "x-flint-attempt",
      String(this.options.attempt),
    ];
    const upstream = new AbortController();
    this.upstream = upstream;
    replica.pool
      .request({
        method: this.call.method,
        path: this.call.path,
        headers,
        body: this.call.body,
        signal: upstream.signal,
      })
      .then(
        (response) => this.collect(response),
        (error: Error & { code?: string }) => this.onUpstreamError(error),
      );
  }

  private onUpstreamError(error: Error & { code?: string }): void {
    if (this.finished) return;
    const replica = this.replica as Replica;
    const { pool } = this.options;
    if (CONNECT_ERROR_CODES.has(error.code ?? "")) {
      pool.markUnreachable(replica);
      if (!this.retried) {
        // It never reached the replica: try another one once, as a sync call would.
        this.retried = true;
        this.retryElsewhere();
        return;
      }
    }
    this.fail(new ReplicaUnavailableError(pool.key, replica.id, { cause: error }));
  }

  private async collect(response: Dispatcher.ResponseData): Promise<void> {
    const chunks: Buffer[] = [];
    let kept = 0;
    let truncated = false;
    const limit = this.options.resultMaxBytes;
    try {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        if (kept >= limit) {
          truncated = true;
          continue;
        }
        const part = kept + chunk.length > limit ? chunk.subarray(0, limit - kept) : chunk;
        truncated ||= part.length < chunk.length;
        chunks.push(part);
        kept += part.length;
      }
    } catch (error) {
      const replicaId = this.replica?.id ?? "unknown";
      this.fail(new ReplicaUnavailableError(this.options.pool.key, replicaId, { cause: error }));
      return;
    }
    const retryAfter = response.headers["retry-after"];
    this.settle({
      status: response.statusCode,
      error: undefined,
      headers: headerList(response.headers),
      body: Buffer.concat(chunks),
      truncated,
      retryAfter: typeof retryAfter === "string" ? retryAfter : undefined,
      waitedMs: this.waitedMs,
    });
  }

  private fail(error: KnownError): void {
    this.upstream?.abort(error);
    this.settle({
      status: httpStatusOf(error.code),
      error: error.code,
      headers: [],
      body: Buffer.from(error.message),
      truncated: false,
      retryAfter: error.retryAfterSeconds === undefined ? undefined : String(error.retryAfterSeconds),
      waitedMs: this.waitedMs,
    });
  }

  private settle(outcome: AttemptOutcome): void {
    if (this.finished) return;
    this.finished = true;
    this.cancelDeadline?.();
    const { pool, metrics, clock } = this.options;
    if (this.ticket !== undefined) pool.cancel(this.ticket);
    if (this.replica !== undefined) pool.release(this.replica);
    this.replica = undefined;
    pool.leave();
    metrics.observe(outcome.status, (clock.now() - this.startMs) / 1000);
    this.resolve(outcome);
  }
}

/** Response headers as [name, value, ...], a repeated header as one entry per value. */
function headerList(headers: Record<string, string | string[] | undefined>): string[] {
  const list: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) list.push(name, item);
    else list.push(name, value);
  }
  return list;
}
