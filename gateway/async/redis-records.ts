// Call records and idempotency keys in Redis: one JSON value per call and one key per idempotency key,
// each with a TTL. Commands fail fast while Redis is down (no offline queue), so callers can answer 503.
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { RecordsUnavailableError } from "../errors.js";
import type { CallRecord, CallRecords, IdempotencyClaim } from "./ports.js";

export interface RedisRecordsOptions {
  /** REDIS_URL, e.g. redis://127.0.0.1:6379/0. */
  readonly url: string;
  /** How long a call record is kept after its last change, in ms. */
  readonly recordTtlMs: number;
  /** How long an Idempotency-Key maps to its call, in ms. */
  readonly idempotencyTtlMs: number;
  /** Longest a command may take before it counts as failed, in ms. */
  readonly commandTimeoutMs: number;
  readonly logger: Logger;
}

const recordKey = (callId: string): string => `flint:call:${callId}`;
const idempotencyKey = (scope: string, key: string): string => `flint:idem:${scope}:${key}`;

export class RedisCallRecords implements CallRecords {
  readonly redis: Redis;
  private down = false;

  constructor(private readonly options: RedisRecordsOptions) {
    this.redis = new Redis(options.url, {
      // Without this a command waits, unbounded, for Redis to come back; the API must answer now.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs,
      retryStrategy: (times) => Math.min(100 * times, 2000),
      lazyConnect: false,
    });
    this.redis.on("error", (error: Error) => {
      if (this.down) return;
      this.down = true;
      options.logger.warn(
        { err: error.message },
        "Redis unavailable; async calls are refused until it is back",
      );
    });
    this.redis.on("ready", () => {
      if (!this.down) return;
      this.down = false;
      options.logger.info("Redis available again");
    });
  }

  /** Resolves once connected, or rejects after `timeoutMs`. */
  async ready(timeoutMs: number): Promise<void> {
    if (this.redis.status === "ready") return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.redis.off("ready", onReady);
        reject(new RecordsUnavailableError(`no connection to ${this.options.url} within ${timeoutMs}ms`));
      }, timeoutMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.redis.once("ready", onReady);
    });
  }

  async claimIdempotencyKey(
    scope: string,
    key: string,
    claim: IdempotencyClaim,
  ): Promise<IdempotencyClaim | undefined> {
    // "callId fingerprint" (a call id has no space). SET NX GET: one round trip that either takes
    // the key or returns who holds it (Redis >= 7.0).
    const value = claim.fingerprint === undefined ? claim.callId : `${claim.callId} ${claim.fingerprint}`;
    const holder = await this.guard("claim the idempotency key", () =>
      this.redis.set(idempotencyKey(scope, key), value, "PX", this.options.idempotencyTtlMs, "NX", "GET"),
    );
    if (holder === null) return undefined;
    const space = holder.indexOf(" ");
    return space === -1
      ? { callId: holder, fingerprint: undefined }
      : { callId: holder.slice(0, space), fingerprint: holder.slice(space + 1) };
  }

  async releaseIdempotencyKey(scope: string, key: string): Promise<void> {
    await this.guard("release the idempotency key", () => this.redis.del(idempotencyKey(scope, key)));
  }

  async create(record: CallRecord): Promise<boolean> {
    const written = await this.guard("write the call record", () =>
      this.redis.set(recordKey(record.callId), JSON.stringify(record), "PX", this.options.recordTtlMs, "NX"),
    );
    return written === "OK";
  }

  async put(record: CallRecord): Promise<void> {
    await this.guard("write the call record", () =>
      this.redis.set(recordKey(record.callId), JSON.stringify(record), "PX", this.options.recordTtlMs),
    );
  }

  async swap(record: CallRecord): Promise<CallRecord | undefined> {
    const text = await this.guard("write the call record", () =>
      this.redis.set(recordKey(record.callId), JSON.stringify(record), "PX", this.options.recordTtlMs, "GET"),
    );
    return text === null ? undefined : (JSON.parse(text) as CallRecord);
  }

  async get(callId: string): Promise<CallRecord | undefined> {
    const text = await this.guard("read the call record", () => this.redis.get(recordKey(callId)));
    return text === null ? undefined : (JSON.parse(text) as CallRecord);
  }

  async delete(callId: string): Promise<void> {
    await this.guard("delete the call record", () => this.redis.del(recordKey(callId)));
  }

  close(): Promise<void> {
    this.redis.disconnect();
    return Promise.resolve();
  }

  private async guard<T>(what: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new RecordsUnavailableError(`could not ${what}: ${reason}`, { cause: error });
    }
  }
}
