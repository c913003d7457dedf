// The watchdog's Prometheus metrics, in a Registry of its own so nothing global leaks in or out.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Upper bounds in seconds: from a trivial in-process call (1 ms) to the longest sensible timeout. */
const DURATION_BUCKETS_SECONDS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** The server state the gauges report. */
export interface ServerState {
  inFlight(): number;
  ready(): boolean;
}

/** What the request path records; each call costs one counter increment and one histogram observation. */
export class WatchdogMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<"code">;
  private readonly duration: Histogram;
  private readonly upstreamRestarts: Counter;
  /** One pre-bound counter child per status seen, so a call does not hash a label set. */
  private readonly requestsByStatus = new Map<number, { inc(): void }>();

  /** Read at scrape time, so the request path never touches the in-flight and ready gauges. */
  private sources: ServerState = { inFlight: () => 0, ready: () => false };

  constructor() {
    const registers = [this.registry];
    const read = (): ServerState => this.sources;
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: "flint_watchdog_requests_total",
      help: "Calls answered, by HTTP status code (499: the client went away first).",
      labelNames: ["code"],
      registers,
    });
    this.duration = new Histogram({
      name: "flint_watchdog_request_duration_seconds",
      help: "Time from receiving a call to finishing its response, in seconds.",
      buckets: DURATION_BUCKETS_SECONDS,
      registers,
    });
    new Gauge({
      name: "flint_watchdog_in_flight",
      help: "Calls being served right now.",
      registers,
      collect() {
        this.set(read().inFlight());
      },
    });
    new Gauge({
      name: "flint_watchdog_ready",
      help: "1 when the replica takes calls (handler ready and not draining), else 0.",
      registers,
      collect() {
        this.set(read().ready() ? 1 : 0);
      },
    });
    this.upstreamRestarts = new Counter({
      name: "flint_watchdog_upstream_restarts_total",
      help: "Times the http-mode upstream process exited and was started again.",
      registers,
    });
  }

  /** Tells the gauges where to read the server's state. */
  observe(sources: ServerState): void {
    this.sources = sources;
  }

  /** Records one finished call. */
  observeCall(status: number, durationSeconds: number): void {
    let counter = this.requestsByStatus.get(status);
    if (counter === undefined) {
      counter = this.requests.labels(String(status));
      this.requestsByStatus.set(status, counter);
    }
    counter.inc();
    this.duration.observe(durationSeconds);
  }

  upstreamRestarted(): void {
    this.upstreamRestarts.inc();
  }
}
