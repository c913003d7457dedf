// Opens the call queue and the call records the configuration names: NATS JetStream and Redis when
// NATS_URL / REDIS_URL are set, memory otherwise (the `flint up` default; nothing survives a restart).
import type { Logger } from "pino";
import type { AsyncGatewayConfig } from "../config.js";
import type { Clock } from "../../platform/ports.js";
import { connectJetStreamQueue } from "./jetstream.js";
import { MemoryCallQueue, MemoryCallRecords } from "./memory.js";
import type { CallQueue, CallRecords } from "./ports.js";
import { RedisCallRecords } from "./redis-records.js";

/** How long a start waits for Redis before giving up, in ms. */
const REDIS_CONNECT_TIMEOUT_MS = 10_000;

export interface AsyncBackends {
  readonly queue: CallQueue;
  readonly records: CallRecords;
  /** Where each lives, for logs and /system/info: "nats" or "memory", "redis" or "memory". */
  readonly kind: { readonly queue: "nats" | "memory"; readonly records: "redis" | "memory" };
}

export async function openAsyncBackends(
  config: AsyncGatewayConfig,
  options: { readonly clock: Clock; readonly logger: Logger; readonly name: string },
): Promise<AsyncBackends> {
  const { clock, logger, name } = options;
  let records: CallRecords;
  if (config.redisUrl === undefined) {
    records = new MemoryCallRecords(clock, config.recordTtlMs, config.idempotencyTtlMs);
  } else {
    const redis = new RedisCallRecords({
      url: config.redisUrl,
      recordTtlMs: config.recordTtlMs,
      idempotencyTtlMs: config.idempotencyTtlMs,
      commandTimeoutMs: 2000,
      logger,
    });
    try {
      await redis.ready(REDIS_CONNECT_TIMEOUT_MS);
    } catch (error) {
      await redis.close();
      throw error;
    }
    records = redis;
  }
  let queue: CallQueue;
  try {
    queue =
      config.natsUrl === undefined
        ? new MemoryCallQueue(clock, config.queueMaxBytes)
        : await connectJetStreamQueue({
            url: config.natsUrl,
            maxQueueBytes: config.queueMaxBytes,
            deadLetterMaxAgeMs: config.deadLetterMaxAgeMs,
            name,
            logger,
          });
  } catch (error) {
    await records.close();
    throw error;
  }
  const kind = {
    queue: config.natsUrl === undefined ? ("memory" as const) : ("nats" as const),
    records: config.redisUrl === undefined ? ("memory" as const) : ("redis" as const),
  };
  return { queue, records, kind };
}
