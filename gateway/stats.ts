// Concurrency stats for the autoscaler: per function, the time-weighted average of calls admitted and
// not yet finished (queued + in flight) over each second, published through the Bus.
import type { Bus, Clock, ConcurrencySample } from "../platform/ports.js";

/** Length of a stats window in milliseconds; windows close on whole seconds of the clock. */
export const WINDOW_MS = 1000;

/** A window's figures, before they are labelled with the function and the gateway. */
export interface WindowFigures {
  readonly averageConcurrency: number;
  readonly averageQueued: number;
  readonly peakConcurrency: number;
  readonly requests: number;
  readonly windowMs: number;
}

/**
 * One function's concurrency, integrated over time. `active` counts calls from admission (the gateway
 * routed the call to a known function) until the response is finished or the call failed; `queued`
 * is the part of them waiting for a replica or a free slot. Each change adds level × elapsed time to
 * the window's area; the window's average is area / window length.
 */
export class ConcurrencyWindow {
  private active = 0;
  private queued = 0;
  private lastChangeMs: number;
  private windowStartMs: number;
  private activeAreaMs = 0;
  private queuedAreaMs = 0;
  private peak = 0;
  private arrivals = 0;
  /** Whether the last closed window was idle, so an idle stretch is reported once, not every second. */
  private reportedIdle = true;

  constructor(nowMs: number) {
    this.lastChangeMs = nowMs;
    // Before it existed the function had no calls: the first window still spans the whole second.
    this.windowStartMs = Math.floor(nowMs / WINDOW_MS) * WINDOW_MS;
  }

  /** Calls admitted and not yet finished. */
  get level(): number {
    return this.active;
  }

  admit(nowMs: number): void {
    this.advance(nowMs);
    this.active++;
    this.arrivals++;
    if (this.active > this.peak) this.peak = this.active;
  }

  finish(nowMs: number): void {
    this.advance(nowMs);
    this.active--;
  }

  enqueue(nowMs: number): void {
    this.advance(nowMs);
    this.queued++;
  }

  dequeue(nowMs: number): void {
    this.advance(nowMs);
    this.queued--;
  }

  /**
   * Ends the window at `endMs` and starts the next one there. Returns its figures, or undefined for
   * an idle window that follows an idle window (one zero sample marks the start of an idle stretch).
   */
  close(endMs: number): WindowFigures | undefined {
    this.advance(endMs);
    const windowMs = Math.max(1, endMs - this.windowStartMs);
    const idle = this.activeAreaMs === 0 && this.arrivals === 0 && this.active === 0;
    const figures: WindowFigures = {
      averageConcurrency: this.activeAreaMs / windowMs,
      averageQueued: this.queuedAreaMs / windowMs,
      peakConcurrency: this.peak,
      requests: this.arrivals,
      windowMs,
    };
    this.windowStartMs = endMs;
    this.activeAreaMs = 0;
    this.queuedAreaMs = 0;
    this.peak = this.active;
    this.arrivals = 0;
    const skip = idle && this.reportedIdle;
    this.reportedIdle = idle;
    return skip ? undefined : figures;
  }

  private advance(nowMs: number): void {
    const elapsedMs = nowMs - this.lastChangeMs;
    if (elapsedMs <= 0) return;
    this.activeAreaMs += this.active * elapsedMs;
    this.queuedAreaMs += this.queued * elapsedMs;
    this.lastChangeMs = nowMs;
  }
}

/** The figures of a window with no call in it, sent when only the async backlog is news. */
const IDLE_FIGURES = {
  averageConcurrency: 0,
  averageQueued: 0,
  peakConcurrency: 0,
  requests: 0,
  windowMs: 1000,
} as const;

/** What the reporter needs to know about each function at the end of a window. */
export interface ReportedFunction {
  readonly key: string;
  readonly window: ConcurrencyWindow;
  readonly readyReplicas: number;
  /** Async calls pending in the function's queue, as last read. */
  readonly asyncQueued: number;
}

/** Closes every function's window on each whole second of the clock and publishes the samples. */
export class ConcurrencyReporter {
  private cancelTimer: (() => void) | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly bus: Bus,
    private readonly source: string,
    private readonly functions: () => Iterable<ReportedFunction>,
  ) {}

  start(): void {
    if (this.cancelTimer === undefined) this.schedule();
  }

  /** Closes the current windows now and publishes them (also used on shutdown so the last second counts). */
  flush(): void {
    const nowMs = this.clock.now();
    const timestampMs = Math.round(nowMs / WINDOW_MS) * WINDOW_MS;
    for (const fn of this.functions()) {
      const figures = fn.window.close(nowMs) ?? (fn.asyncQueued > 0 ? IDLE_FIGURES : undefined);
      if (figures === undefined) continue;
      const sample: ConcurrencySample = {
        function: fn.key,
        source: this.source,
        timestampMs,
        readyReplicas: fn.readyReplicas,
        asyncQueued: fn.asyncQueued,
        ...figures,
      };
      this.bus.publishConcurrency(sample);
    }
  }

  stop(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private schedule(): void {
    const nowMs = this.clock.now();
    const nextMs = (Math.floor(nowMs / WINDOW_MS) + 1) * WINDOW_MS;
    this.cancelTimer = this.clock.setTimer(this.tick, nextMs - nowMs);
  }

  private readonly tick = (): void => {
    this.flush();
    this.schedule();
  };
}
