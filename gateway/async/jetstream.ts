// The call queue on NATS JetStream: one work-queue stream of calls with a durable pull consumer per
// function (shared by every gateway replica), a stream of dead letters, and a stream of callbacks.
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  connect,
  nanos,
  type Consumer,
  type StoredMsg,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
} from "nats";
import type { Logger } from "pino";
import { functionKey, type FunctionRef } from "../../api/index.js";
import { AsyncQueueFullError, QueueUnavailableError } from "../errors.js";
import { decodeCall, decodeCallback, decodeDead, encodeCall, encodeCallback } from "./codec.js";
import type {
  CallQueue,
  CallbackBatch,
  CallbackDelivery,
  CallbackJob,
  ConsumerSettings,
  DeadLetter,
  Delivery,
  DeliveryBatch,
  QueueDepth,
  QueuedCall,
} from "./ports.js";

/** The direct-get API the manager object has but its exported type does not name (nats 2.29). */
interface DirectGet {
  getMessage(stream: string, query: { seq: number; next_by_subj: string }): Promise<StoredMsg>;
}

export const CALLS_STREAM = "FLINT_CALLS";
export const DEAD_STREAM = "FLINT_DEAD";
export const CALLBACKS_STREAM = "FLINT_CALLBACKS";
const CALLBACKS_CONSUMER = "callbacks";
/** Room left in a NATS message for a call's metadata headers. */
const HEADER_ROOM_BYTES = 64 * 1024;
/** Callbacks are small jobs; one that sits unacknowledged this long is given to another sender. */
const CALLBACK_ACK_WAIT_MS = 60_000;

export interface JetStreamQueueOptions {
  /** NATS_URL, e.g. nats://127.0.0.1:4222 (several, comma-separated). */
  readonly url: string;
  /** Bytes the calls stream may hold; a publish beyond it is refused (503). */
  readonly maxQueueBytes: number;
  /** How long dead letters are kept, in ms. */
  readonly deadLetterMaxAgeMs: number;
  /** Names this client in the server's connection list. */
  readonly name: string;
  readonly logger: Logger;
}

const subjectOf = (prefix: string, ref: FunctionRef): string => `${prefix}.${ref.namespace}.${ref.name}`;
const consumerOf = (ref: FunctionRef): string => `fn_${ref.namespace}_${ref.name}`;

/** Connects to NATS, creates or updates the streams, and returns the queue. */
export async function connectJetStreamQueue(options: JetStreamQueueOptions): Promise<JetStreamCallQueue> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: options.url.split(",").map((server) => server.trim()),
      name: options.name,
      // Keep trying for ever: a NATS restart must not end the gateway; calls fail fast meanwhile.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: false,
    });
  } catch (error) {
    throw new QueueUnavailableError(`cannot connect to NATS at ${options.url}`, { cause: error });
  }
  const queue = new JetStreamCallQueue(nc, await nc.jetstreamManager(), options);
  await queue.ensureStreams();
  return queue;
}

export class JetStreamCallQueue implements CallQueue {
  private readonly js: JetStreamClient;
  private readonly consumers = new Map<string, Promise<Consumer>>();
  private callbackConsumer: Promise<Consumer> | undefined;

  constructor(
    readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly options: JetStreamQueueOptions,
  ) {
    this.js = nc.jetstream();
    void this.watchStatus();
  }

  /** Creates the three streams, or brings their settings up to date. */
  async ensureStreams(): Promise<void> {
    await this.upsertStream({
      name: CALLS_STREAM,
      subjects: ["flint.calls.>"],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      max_bytes: this.options.maxQueueBytes,
      discard: DiscardPolicy.New,
      allow_direct: true,
      duplicate_window: nanos(120_000),
    });
    await this.upsertStream({
      name: DEAD_STREAM,
      subjects: ["flint.dead.>"],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(this.options.deadLetterMaxAgeMs),
      allow_direct: true,
    });
    await this.upsertStream({
      name: CALLBACKS_STREAM,
      subjects: ["flint.callbacks"],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      duplicate_window: nanos(120_000),
    });
    await this.jsm.consumers.add(CALLBACKS_STREAM, {
      durable_name: CALLBACKS_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(CALLBACK_ACK_WAIT_MS),
      max_deliver: -1,
    });
  }

  async publish(call: QueuedCall): Promise<void> {
    await this.guard("store the call", async () => {
      try {
        await this.js.publish(subjectOf("flint.calls", call.function), call.body, {
          headers: encodeCall(call),
          // JetStream drops a second copy within its duplicate window: a retried publish stores one call.
          msgID: call.callId,
        });
      } catch (error) {
        // The stream discards new messages past max_bytes (FLINT_ASYNC_QUEUE_BYTES): a full queue, not a down one.
        if (isStreamFull(error)) {
          throw new AsyncQueueFullError(this.options.maxQueueBytes, 1, { cause: error });
        }
        throw error;
      }
    });
  }

  maxBodyBytes(): number {
    // The call's metadata travels as headers in the same message: leave it 64 KiB.
    return Math.max(0, (this.nc.info?.max_payload ?? 1024 * 1024) - HEADER_ROOM_BYTES);
  }

  async ensureConsumer(ref: FunctionRef, settings: ConsumerSettings): Promise<void> {
    const config = {
      durable_name: consumerOf(ref),
      filter_subject: subjectOf("flint.calls", ref),
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(settings.ackWaitMs),
      deliver_policy: DeliverPolicy.All,
      // Attempts are counted and ended by the gateway (spec.async.maxRetries), not by the server.
      max_deliver: -1,
    };
    await this.guard("create the function's consumer", async () => {
      try {
        await this.jsm.consumers.add(CALLS_STREAM, config);
      } catch {
        // It exists with other settings (a changed timeout): update what may change.
        await this.jsm.consumers.update(CALLS_STREAM, config.durable_name, { ack_wait: config.ack_wait });
      }
    });
    this.consumers.delete(functionKey(ref));
  }

  async fetch(ref: FunctionRef, max: number, waitMs: number): Promise<DeliveryBatch> {
    const consumer = await this.consumer(ref);
    const messages = await this.guard("fetch calls", () =>
      consumer.fetch({ max_messages: max, expires: Math.max(1000, waitMs) }),
    );
    return mapBatch(messages, (msg) => toDelivery(msg));
  }

  async depth(ref: FunctionRef): Promise<QueueDepth> {
    return this.guard("read the queue depth", async () => {
      const info = await this.jsm.consumers.info(CALLS_STREAM, consumerOf(ref));
      const pending = info.num_pending + info.num_ack_pending;
      if (pending === 0) return { pending, oldestAgeMs: 0 };
      try {
        const oldest = await (this.jsm as JetStreamManager & { direct: DirectGet }).direct.getMessage(
          CALLS_STREAM,
          {
            seq: 0,
            next_by_subj: subjectOf("flint.calls", ref),
          },
        );
        const call = decodeCall(oldest.header, oldest.data);
        return { pending, oldestAgeMs: Math.max(0, Date.now() - call.acceptedAtMs) };
      } catch {
        return { pending, oldestAgeMs: 0 };
      }
    });
  }

  async deadLetter(letter: Omit<DeadLetter, "id">): Promise<void> {
    const { call, attempts, deadAtMs } = letter;
    await this.guard("store the dead letter", () =>
      this.js.publish(subjectOf("flint.dead", call.function), call.body, {
        headers: encodeCall(call, { attempts, deadAtMs }),
        msgID: `${call.callId}/dead/${attempts.length}`,
      }),
    );
  }

  async listDead(ref: FunctionRef | undefined, limit: number): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    await this.readDead(ref, limit, (letter) => letters.push(letter));
    return letters;
  }

  async redrive(
    ref: FunctionRef | undefined,
    id: string | undefined,
    before: (letter: DeadLetter) => Promise<void>,
  ): Promise<number> {
    if (id !== undefined) {
      const seq = Number(id);
      if (!Number.isSafeInteger(seq) || seq < 1) return 0;
      const stored = await this.guard("read the dead letter", async () => {
        try {
          return await this.jsm.streams.getMessage(DEAD_STREAM, { seq });
        } catch {
          return undefined;
        }
      });
      if (stored === undefined) return 0;
      const call = decodeCall(stored.header, stored.data);
      if (ref !== undefined && functionKey(ref) !== functionKey(call.function)) return 0;
      await before({ id, call, ...decodeDead(stored.header) });
      await this.requeue(call, seq);
      return 1;
    }
    let count = 0;
    // Redrive in pages: each page is removed from the dead stream as it is queued again.
    for (;;) {
      const page = await this.listDead(ref, 100);
      for (const letter of page) {
        await before(letter);
        await this.requeue(letter.call, Number(letter.id));
      }
      count += page.length;
      if (page.length < 100) return count;
    }
  }

  async purgeDead(ref: FunctionRef | undefined): Promise<number> {
    const response = await this.guard("purge dead letters", () =>
      this.jsm.streams.purge(DEAD_STREAM, {
        filter: ref === undefined ? "flint.dead.>" : subjectOf("flint.dead", ref),
      }),
    );
    return response.purged;
  }

  async publishCallback(job: CallbackJob): Promise<void> {
    await this.guard("store the callback", () =>
      this.js.publish("flint.callbacks", job.body, {
        headers: encodeCallback(job),
        msgID: `${job.callId}/callback/${job.attempts}`,
      }),
    );
  }

  async fetchCallbacks(max: number, waitMs: number): Promise<CallbackBatch> {
    this.callbackConsumer ??= this.js.consumers.get(CALLBACKS_STREAM, CALLBACKS_CONSUMER);
    const consumer = await this.guard(
      "open the callback consumer",
      () => this.callbackConsumer as Promise<Consumer>,
    );
    const messages = await this.guard("fetch callbacks", () =>
      consumer.fetch({ max_messages: max, expires: Math.max(1000, waitMs) }),
    );
    return mapBatch(messages, (msg): CallbackDelivery => ({
      job: decodeCallback(msg.headers, msg.data),
      attempt: msg.info.deliveryCount,
      ack: () => ackAck(msg),
      retry: (delayMs) => msg.nak(delayMs),
    }));
  }

  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    await this.nc.drain().catch(() => this.nc.close());
  }

  private consumer(ref: FunctionRef): Promise<Consumer> {
    const key = functionKey(ref);
    let consumer = this.consumers.get(key);
    if (consumer === undefined) {
      consumer = this.js.consumers.get(CALLS_STREAM, consumerOf(ref));
      consumer.catch(() => this.consumers.delete(key));
      this.consumers.set(key, consumer);
    }
    return this.guard("open the function's consumer", () => consumer);
  }

  private async requeue(call: QueuedCall, deadSeq: number): Promise<void> {
    await this.guard("queue the dead letter again", () =>
      this.js.publish(subjectOf("flint.calls", call.function), call.body, {
        headers: encodeCall(call),
        msgID: `${call.callId}/redrive/${deadSeq}`,
      }),
    );
    await this.guard("remove the redriven dead letter", () =>
      this.jsm.streams.deleteMessage(DEAD_STREAM, deadSeq, false),
    );
  }

  /** Reads dead letters oldest first through a short-lived consumer that acknowledges nothing. */
  private async readDead(
    ref: FunctionRef | undefined,
    limit: number,
    onLetter: (letter: DeadLetter) => void,
  ): Promise<void> {
    const filter = ref === undefined ? "flint.dead.>" : subjectOf("flint.dead", ref);
    await this.guard("read dead letters", async () => {
      const info = await this.jsm.consumers.add(DEAD_STREAM, {
        filter_subject: filter,
        ack_policy: AckPolicy.None,
        deliver_policy: DeliverPolicy.All,
        inactive_threshold: nanos(30_000),
      });
      try {
        const wanted = Math.min(limit, info.num_pending);
        if (wanted === 0) return;
        const consumer = await this.js.consumers.get(DEAD_STREAM, info.name);
        const messages = await consumer.fetch({ max_messages: wanted, expires: 5000 });
        let seen = 0;
        for await (const msg of messages) {
          const { attempts, deadAtMs } = decodeDead(msg.headers);
          onLetter({
            id: String(msg.info.streamSequence),
            call: decodeCall(msg.headers, msg.data),
            attempts,
            deadAtMs,
          });
          if (++seen >= wanted) messages.stop();
        }
      } finally {
        await this.jsm.consumers.delete(DEAD_STREAM, info.name).catch(() => undefined);
      }
    });
  }

  private async upsertStream(config: Parameters<JetStreamManager["streams"]["add"]>[0]): Promise<void> {
    const name = config.name as string;
    await this.guard(`create stream ${name}`, async () => {
      try {
        await this.jsm.streams.info(name);
      } catch {
        await this.jsm.streams.add(config);
        return;
      }
      const { name: _name, retention: _retention, storage: _storage, ...changeable } = config;
      await this.jsm.streams.update(name, changeable);
    });
  }

  /** Runs a NATS operation; any failure becomes QueueUnavailableError naming what was being done. */
  private async guard<T>(what: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof QueueUnavailableError || error instanceof AsyncQueueFullError) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new QueueUnavailableError(`could not ${what}: ${reason}`, { cause: error });
    }
  }

  private async watchStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      const type = String(status.type);
      if (type === "disconnect" || type === "reconnect") {
        this.options.logger.warn({ nats: type, server: status.data }, `NATS ${type}`);
      }
    }
  }
}

/** JetStream's answer to a publish past the stream's max_bytes ("maximum bytes exceeded", 10047). */
function isStreamFull(error: unknown): boolean {
  const apiError = (error as { api_error?: { err_code?: number; description?: string } }).api_error;
  return apiError?.err_code === 10047 || /maximum bytes/i.test(apiError?.description ?? "");
}

function toDelivery(msg: JsMsg): Delivery {
  return {
    call: decodeCall(msg.headers, msg.data),
    attempt: msg.info.deliveryCount,
    ack: () => ackAck(msg),
    retry: (delayMs) => msg.nak(delayMs),
    inProgress: () => msg.working(),
  };
}

/** Acknowledges and waits for the server to confirm, so "done" is never lost in a reconnect. */
async function ackAck(msg: JsMsg): Promise<void> {
  const confirmed = await msg.ackAck({ timeout: 5000 }).catch((error: unknown) => {
    throw new QueueUnavailableError("could not acknowledge a call", { cause: error });
  });
  if (!confirmed) throw new QueueUnavailableError("the server did not confirm an acknowledgement");
}

/**
 * Adapts a fetch to the port's batch type. A message that cannot be decoded is terminated (it would
 * fail the same way on every delivery) and skipped.
 */
function mapBatch<T>(
  messages: ConsumerMessages,
  map: (msg: JsMsg) => T,
): AsyncIterable<T> & { stop(): void } {
  return {
    stop: () => messages.stop(),
    async *[Symbol.asyncIterator]() {
      for await (const msg of messages) {
        let mapped: T;
        try {
          mapped = map(msg);
        } catch {
          msg.term("undecodable");
          continue;
        }
        yield mapped;
      }
    },
  };
}
