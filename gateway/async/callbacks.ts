// Sends async results to X-Callback-Url: jobs come from the durable callback queue, each POST is
// retried with backoff up to its own limit, and the call's record says how it went.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Logger } from "pino";
import { functionKey } from "../../api/index.js";
import type { Clock } from "../../platform/ports.js";
import type { AsyncMetrics } from "./metrics.js";
import type { CallRecords, CallbackBatch, CallbackDelivery, CallQueue } from "./ports.js";
import { backoffMs, type RetrySettings } from "./retry.js";
import { HOP_BY_HOP_HEADERS } from "../../platform/http-headers.js";

/** Callback POSTs one gateway has open at once. */
const MAX_OPEN = 16;
const FETCH_WAIT_MS = 2000;

/**
 * Response headers not passed on to the callback receiver: the hop-by-hop ones (they describe the
 * function's connection), and those the callback request sets itself.
 */
const DROPPED: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP_HEADERS,
  "content-length",
  "host",
  "date",
  "x-call-id",
]);

export interface CallbackSenderOptions {
  readonly queue: CallQueue;
  readonly records: CallRecords;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: AsyncMetrics;
  readonly random: () => number;
  /** Retries after the first POST, and their backoff. */
  readonly retry: RetrySettings;
  /** One POST's deadline, in ms. */
  readonly timeoutMs: number;
}

export class CallbackSender {
  private open = 0;
  private stopped = false;
  private batch: CallbackBatch | undefined;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly options: CallbackSenderOptions) {}

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.batch?.stop();
    this.wake?.();
    await this.running;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      const room = MAX_OPEN - this.open;
      if (room <= 0) {
        await this.pause(100);
        continue;
      }
      try {
        this.batch = await this.options.queue.fetchCallbacks(room, FETCH_WAIT_MS);
        if (this.stopped) this.batch.stop();
        for await (const delivery of this.batch) void this.send(delivery);
        failures = 0;
      } catch (error) {
        failures++;
        if (failures === 1) {
          this.options.logger.warn({ err: (error as Error).message }, "cannot take callbacks; retrying");
        }
        await this.pause(Math.min(5000, 100 * 2 ** Math.min(failures, 6)));
      } finally {
        this.batch = undefined;
      }
    }
  }

  private pause(delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      const cancel = this.options.clock.setTimer(resolve, delayMs);
      this.wake = () => {
        cancel();
        resolve();
      };
    });
  }

  private async send(delivery: CallbackDelivery): Promise<void> {
    this.open++;
    const { job, attempt } = delivery;
    const { logger, metrics, retry } = this.options;
    try {
      const status = await this.post(delivery).catch((error: Error) => error);
      const delivered = typeof status === "number" && status >= 200 && status < 300;
      if (delivered) {
        await delivery.ack();
        metrics.callbacks.labels("delivered").inc();
        await this.mark(job.callId, "delivered");
        return;
      }
      const why = typeof status === "number" ? `status ${status}` : status.message;
      if (attempt <= retry.maxRetries) {
        const delayMs = backoffMs(attempt, retry, this.options.random);
        delivery.retry(delayMs);
        metrics.callbacks.labels("retried").inc();
        logger.info({ callId: job.callId, attempt, why, retryInMs: delayMs }, "callback failed; retrying");
        return;
      }
      await delivery.ack();
      metrics.callbacks.labels("failed").inc();
      logger.warn({ callId: job.callId, attempts: attempt, why }, "callback failed; giving up");
      await this.mark(job.callId, "failed");
    } catch (error) {
      delivery.retry(1000);
      logger.warn({ callId: job.callId, err: (error as Error).message }, "callback deferred");
    } finally {
      this.open--;
      this.wake?.();
    }
  }

  /** Records the callback's fate; the record may have expired, and a lost mark loses no call. */
  private async mark(callId: string, callback: "delivered" | "failed"): Promise<void> {
    try {
      const record = await this.options.records.get(callId);
      if (record !== undefined) await this.options.records.put({ ...record, callback });
    } catch (error) {
      this.options.logger.debug({ callId, err: (error as Error).message }, "callback state not recorded");
    }
  }

  /** POSTs the result; resolves with the receiver's status. */
  private post(delivery: CallbackDelivery): Promise<number> {
    const { job, attempt } = delivery;
    const url = new URL(job.url);
    // A raw header list gets no defaults from Node, Host included.
    const headers: string[] = ["host", url.host];
    for (let i = 0; i + 1 < job.headers.length; i += 2) {
      const name = job.headers[i] as string;
      if (!DROPPED.has(name.toLowerCase())) headers.push(name, job.headers[i + 1] as string);
    }
    headers.push(
      "content-length",
      String(job.body.byteLength),
      "x-call-id",
      job.callId,
      "x-flint-function",
      functionKey(job.function),
      "x-flint-state",
      job.state,
      "x-flint-status",
      String(job.status),
      "x-flint-attempts",
      String(job.attempts),
      "x-flint-callback-attempt",
      String(attempt),
    );
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { method: "POST", headers, timeout: this.options.timeoutMs }, (res) => {
        res.resume();
        res.once("end", () => resolve(res.statusCode ?? 0));
        res.once("error", reject);
      });
      req.once("timeout", () => req.destroy(new Error(`no answer within ${this.options.timeoutMs}ms`)));
      req.once("error", reject);
      req.end(job.body);
    });
  }
}
