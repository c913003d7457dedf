// Prometheus metrics of async calls, registered on the gateway's registry. `function` is "namespace/name"
// of a known function only.
import { Counter, Gauge, type Registry } from "prom-client";

export type AsyncEvent =
  "enqueued" | "started" | "succeeded" | "failed" | "retried" | "dead_lettered" | "duplicate";

const HELP: Record<AsyncEvent, string> = {
  enqueued: "Async calls accepted (stored in the queue, 202 sent).",
  started: "Attempts at async calls begun (a retry is a new attempt).",
  succeeded: "Async calls that ended with a status below 400.",
  failed: "Async calls that ended with a status that is not retried.",
  retried: "Attempts that failed and were scheduled again.",
  dead_lettered: "Async calls that failed every attempt.",
  duplicate:
    "Deliveries of calls that had already ended (a consumer died before acknowledging); not run again.",
};

export class AsyncMetrics {
  private readonly counters: Record<AsyncEvent, Counter<"function">>;
  readonly queueDepth: Gauge<"function">;
  readonly oldestAge: Gauge<"function">;
  readonly callbacks: Counter<"result">;

  constructor(registry: Registry) {
    const registers = [registry];
    const counter = (event: AsyncEvent): Counter<"function"> =>
      new Counter({
        name: `flint_async_calls_${event}_total`,
        help: HELP[event],
        labelNames: ["function"],
        registers,
      });
    this.counters = {
      enqueued: counter("enqueued"),
      started: counter("started"),
      succeeded: counter("succeeded"),
      failed: counter("failed"),
      retried: counter("retried"),
      dead_lettered: counter("dead_lettered"),
      duplicate: counter("duplicate"),
    };
    this.queueDepth = new Gauge({
      name: "flint_async_queue_depth",
      help: "Async calls accepted and not yet finished, by function (read from the queue every second).",
      labelNames: ["function"],
      registers,
    });
    this.oldestAge = new Gauge({
      name: "flint_async_oldest_pending_age_seconds",
      help: "Age of the oldest unfinished async call, by function.",
      labelNames: ["function"],
      registers,
    });
    this.callbacks = new Counter({
      name: "flint_async_callbacks_total",
      help: "Callback POSTs by result: delivered, retried, or failed (gave up).",
      labelNames: ["result"],
      registers,
    });
  }

  count(event: AsyncEvent, key: string): void {
    this.counters[event].labels(key).inc();
  }

  /** Drops a deleted function's series. */
  forget(key: string): void {
    for (const counter of Object.values(this.counters)) counter.remove(key);
    this.queueDepth.remove(key);
    this.oldestAge.remove(key);
  }
}
