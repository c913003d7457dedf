import { ManualClock } from "../platform/clock.js";
import { ConcurrencyReporter, ConcurrencyWindow } from "./stats.js";
import { RecordingBus } from "../testing/gateway.js";

// Timelines start on a whole second: t0 = 1_700_000_000_000 ms.
const t0 = 1_700_000_000_000;

describe("ConcurrencyWindow", () => {
  it("averages calls over time, queued ones included", () => {
    const window = new ConcurrencyWindow(t0);
    window.admit(t0); // call A arrives, runs the whole second
    window.admit(t0 + 250); // call B arrives, waits in the queue until t0 + 750, runs on
    window.enqueue(t0 + 250);
    window.admit(t0 + 500); // call C: 100 ms
    window.finish(t0 + 600);
    window.dequeue(t0 + 750);
    expect(window.close(t0 + 1000)).toEqual({
      averageConcurrency: 1 + 0.75 + 0.1,
      averageQueued: 0.5,
      peakConcurrency: 3,
      requests: 3,
      windowMs: 1000,
    });
    // A and B carry over into the next second as its starting level.
    window.finish(t0 + 1500);
    expect(window.close(t0 + 2000)).toEqual({
      averageConcurrency: 1 + 0.5,
      averageQueued: 0,
      peakConcurrency: 2,
      requests: 0,
      windowMs: 1000,
    });
  });

  it("counts a function created mid-second over the whole second", () => {
    const window = new ConcurrencyWindow(t0 + 900);
    window.admit(t0 + 900);
    expect(window.close(t0 + 1000)?.averageConcurrency).toBeCloseTo(0.1);
  });

  it("reports one zero window at the start of an idle stretch, then nothing", () => {
    const window = new ConcurrencyWindow(t0);
    expect(window.close(t0 + 1000)).toBeUndefined();
    window.admit(t0 + 1000);
    window.finish(t0 + 1200);
    expect(window.close(t0 + 2000)?.averageConcurrency).toBeCloseTo(0.2);
    expect(window.close(t0 + 3000)).toEqual({
      averageConcurrency: 0,
      averageQueued: 0,
      peakConcurrency: 0,
      requests: 0,
      windowMs: 1000,
    });
    expect(window.close(t0 + 4000)).toBeUndefined();
    expect(window.close(t0 + 5000)).toBeUndefined();
  });

  it("keeps reporting while a call is in flight with no arrivals", () => {
    const window = new ConcurrencyWindow(t0);
    window.admit(t0);
    window.close(t0 + 1000);
    expect(window.close(t0 + 2000)?.averageConcurrency).toBe(1);
    expect(window.close(t0 + 3000)?.averageConcurrency).toBe(1);
  });
});

describe("ConcurrencyReporter", () => {
  it("publishes each function's sample on every whole second of the clock", () => {
    const clock = new ManualClock(t0 + 300);
    const bus = new RecordingBus();
    const hello = new ConcurrencyWindow(clock.now());
    const idle = new ConcurrencyWindow(clock.now());
    const reporter = new ConcurrencyReporter(clock, bus, "gw-1", () => [
      { key: "default/hello", window: hello, readyReplicas: 2, asyncQueued: 0 },
      { key: "default/idle", window: idle, readyReplicas: 0, asyncQueued: 0 },
    ]);
    reporter.start();
    hello.admit(clock.now());
    clock.advance(700); // t0 + 1000
    hello.finish(clock.now());
    clock.advance(1000); // t0 + 2000
    reporter.stop();
    clock.advance(5000);
    expect(bus.samples).toEqual([
      {
        function: "default/hello",
        source: "gw-1",
        timestampMs: t0 + 1000,
        windowMs: 1000,
        averageConcurrency: 0.7,
        averageQueued: 0,
        peakConcurrency: 1,
        requests: 1,
        readyReplicas: 2,
        asyncQueued: 0,
      },
      {
        function: "default/hello",
        source: "gw-1",
        timestampMs: t0 + 2000,
        windowMs: 1000,
        averageConcurrency: 0,
        averageQueued: 0,
        peakConcurrency: 1,
        requests: 0,
        readyReplicas: 2,
        asyncQueued: 0,
      },
    ]);
    expect(clock.pendingTimers).toBe(0);
  });
});
