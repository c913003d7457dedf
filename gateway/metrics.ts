// Prometheus metrics. The `function` label is "namespace/name" of a known function only; calls to
// names that do not exist share one fixed label value, so no caller can grow the series count.
import { Counter, Gauge, Histogram, Registry, type LabelValues } from "prom-client";
import type { ReplicaPool } from "./replica-pool.js";

/** The `function` label of calls that did not reach a known function (bad name, not found). */
export const UNKNOWN_FUNCTION = "(unknown)";

const REPLICA_STATES = ["starting", "ready", "draining"] as const;

/** One function's counters, looked up once per pool rather than by label on every call. */
export class FunctionMetrics {
  private readonly byCode = new Map<number, Counter.Internal>();
  readonly duration: Histogram.Internal<"function">;
  readonly coldStart: Histogram.Internal<"function">;

  constructor(
    private readonly metrics: GatewayMetrics,
    readonly key: string,
  ) {
    this.duration = metrics.duration.labels(key);
    this.coldStart = metrics.coldStart.labels(key);
  }

  /** Counts a finished call; `durationSeconds` from arrival at the gateway to the end of the response. */
  observe(status: number, durationSeconds: number): void {
    let counter = this.byCode.get(status);
    if (counter === undefined) {
      counter = this.metrics.requests.labels(this.key, String(status));
      this.byCode.set(status, counter);
    }
    counter.inc();
    this.duration.observe(durationSeconds);
  }

  /** Drops this function's series (it was deleted). */
  forget(): void {
    const { requests, duration, coldStart, activations } = this.metrics;
    for (const code of this.byCode.keys()) requests.remove(this.key, String(code));
    for (const metric of [duration, coldStart, activations]) metric.remove(this.key);
    this.byCode.clear();
  }
}

export class GatewayMetrics {
  readonly registry: Registry;
  readonly requests: Counter<"function" | "code">;
  readonly duration: Histogram<"function">;
  readonly coldStart: Histogram<"function">;
  readonly activations: Counter<"function">;
  private readonly unknown: FunctionMetrics;

  /** `pools` lists the known functions at scrape time; `queueBytes` reads the global queue budget. */
  constructor(pools: () => Iterable<ReplicaPool>, queueBytes: () => number, registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.requests = new Counter({
      name: "flint_gateway_requests_total",
      help: "Calls through /function/, by function and HTTP status (499: the client went away).",
      labelNames: ["function", "code"],
      registers,
    });
    this.duration = new Histogram({
      name: "flint_gateway_request_duration_seconds",
      help: "Time from a call's arrival at the gateway to the end of its response, queueing included.",
      labelNames: ["function"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.coldStart = new Histogram({
      name: "flint_gateway_cold_start_duration_seconds",
      help: "Time calls waited for their function to get a ready replica (cold starts); _count counts them.",
      labelNames: ["function"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64],
      registers,
    });
    this.activations = new Counter({
      name: "flint_gateway_activations_total",
      help: "Activation requests sent: a call waited at zero ready replicas.",
      labelNames: ["function"],
      registers,
    });
    const byFunction = ["function"];
    gauge(
      registry,
      "flint_gateway_in_flight_requests",
      "Calls holding a replica slot.",
      byFunction,
      pools,
      (pool) => [[{ function: pool.key }, pool.inFlight]],
    );
    gauge(
      registry,
      "flint_gateway_queued_requests",
      "Calls waiting for a ready replica or a free slot.",
      byFunction,
      pools,
      (pool) => [[{ function: pool.key }, pool.queueLength]],
    );
    const help = "Replicas by state, as this gateway sees them.";
    gauge(registry, "flint_gateway_replicas", help, ["function", "state"], pools, (pool) => {
      const counts = { starting: 0, ready: 0, draining: 0 };
      for (const replica of pool.snapshot().replicas) {
        if (replica.state in counts) counts[replica.state as keyof typeof counts]++;
      }
      return REPLICA_STATES.map((state) => [{ function: pool.key, state }, counts[state]]);
    });
    new Gauge({
      name: "flint_gateway_queue_bytes",
      help: "Bytes held by waiting calls across all functions (bounded by FLINT_QUEUE_BYTES).",
      registers,
      collect() {
        this.set(queueBytes());
      },
    });
    this.unknown = new FunctionMetrics(this, UNKNOWN_FUNCTION);
  }

  forFunction(key: string): FunctionMetrics {
    return new FunctionMetrics(this, key);
  }

  /** Counts a call that named no known function. */
  observeUnknown(status: number, durationSeconds: number): void {
    this.unknown.observe(status, durationSeconds);
  }
}

/** A gauge whose values are read from the pools at scrape time: no work on the call path. */
function gauge(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  pools: () => Iterable<ReplicaPool>,
  values: (pool: ReplicaPool) => [LabelValues<string>, number][],
): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const pool of pools()) {
        for (const [labels, value] of values(pool)) this.set(labels, value);
      }
    },
  });
}
