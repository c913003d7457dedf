// A dead-man switch for the watchdog's event loop: the main thread beats, a worker thread kills the process when it stops.
import { Worker } from "node:worker_threads";

/** The stable code on the log line the guard writes before it kills a stuck process. */
export const EVENT_LOOP_STUCK_CODE = "EVENT_LOOP_STUCK";

/**
 * The main event loop has not run for longer than FLINT_EVENT_LOOP_DEADLINE: a module-mode handler
 * spinning in a CPU loop, most likely. Never thrown (the thread that would catch it is the stuck one):
 * the guard's worker writes its message and code as a fatal log line, then SIGKILLs the process so the
 * supervisor or the kubelet replaces it. Calls in flight on the stuck replica see their connection cut
 * (the gateway answers 502 for them).
 */
export class EventLoopStuckError extends Error {
  readonly code = EVENT_LOOP_STUCK_CODE;
  constructor(readonly deadlineMs: number) {
    super(
      `event loop stuck: blocked for longer than FLINT_EVENT_LOOP_DEADLINE (${deadlineMs}ms), ` +
        "a handler is not yielding (a CPU loop?); killing the replica so it is replaced",
    );
    this.name = "EventLoopStuckError";
  }
}

export interface EventLoopGuardOptions {
  /** How long the main loop may go without beating before the process is killed, in ms. */
  readonly deadlineMs: number;
  /** Bound into the fatal log line, as the watchdog's logger does. */
  readonly functionName: string;
}

/** What the worker is given; the worker's code is a string, so this is its whole interface. */
interface GuardWorkerData {
  /** [0]: beats from the main thread; [1]: 1 once the guard is closed. */
  readonly state: Int32Array;
  readonly deadlineMs: number;
  readonly checkIntervalMs: number;
  /** The fatal log line, less `time` and `blockedMs`, which the worker adds. */
  readonly line: Record<string, unknown>;
}

/**
 * The worker: a synchronous loop that sleeps on Atomics.wait (so it needs no event loop of its own) and
 * counts how long the beat counter has stood still. Only time the worker itself saw pass counts: a
 * tick that overslept (the whole process stopped by SIGSTOP or a debugger, or starved of CPU) adds at
 * most two intervals, so a resumed process is not killed for a pause it did not cause. The line goes
 * to fd 1 with a synchronous write: the worker's process.stdout is relayed by the main thread, which
 * is the one that is stuck.
 */
const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const { writeSync } = require("node:fs");
const { state, deadlineMs, checkIntervalMs, line } = workerData;
let lastBeats = Atomics.load(state, 0);
let lastTickMs = performance.now();
let stillMs = 0;
while (Atomics.load(state, 1) === 0) {
  Atomics.wait(state, 1, 0, checkIntervalMs);
  const nowMs = performance.now();
  const elapsedMs = Math.min(nowMs - lastTickMs, 2 * checkIntervalMs);
  lastTickMs = nowMs;
  const beats = Atomics.load(state, 0);
  if (beats !== lastBeats) {
    lastBeats = beats;
    stillMs = 0;
    continue;
  }
  stillMs += elapsedMs;
  if (stillMs >= deadlineMs && Atomics.load(state, 1) === 0) {
    // pino's shape (level 60 is fatal), so flint logs and log collectors read it like any other line.
    const fatal = { level: 60, time: Date.now(), ...line, blockedMs: Math.round(stillMs) };
    try { writeSync(1, JSON.stringify(fatal) + "\\n"); } catch {}
    process.kill(process.pid, "SIGKILL");
  }
}
`;

/**
 * Arms the dead-man switch: a timer on the main loop beats every `checkIntervalMs` and a worker
 * thread kills the process if the beats stop for `deadlineMs`. Both are unref'd, so the guard never
 * keeps a process alive; close() disarms it (on drain, so a slow shutdown is not mistaken for a hang).
 */
export class EventLoopGuard {
  private readonly state = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  private readonly beat: NodeJS.Timeout;
  private readonly worker: Worker;

  constructor({ deadlineMs, functionName }: EventLoopGuardOptions) {
    // Ten checks per deadline, at most a second apart: the kill comes at most a tenth late.
    const checkIntervalMs = Math.max(10, Math.min(1000, Math.floor(deadlineMs / 10)));
    const error = new EventLoopStuckError(deadlineMs);
    const data: GuardWorkerData = {
      state: this.state,
      deadlineMs,
      checkIntervalMs,
      line: { pid: process.pid, function: functionName, code: error.code, deadlineMs, msg: error.message },
    };
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: data, stdout: false, stderr: false });
    this.worker.unref();
    this.beat = setInterval(() => Atomics.add(this.state, 0, 1), checkIntervalMs).unref();
  }

  /** Disarms the switch and waits for the worker to end. */
  async close(): Promise<void> {
    clearInterval(this.beat);
    Atomics.store(this.state, 1, 1);
    Atomics.notify(this.state, 1);
    await this.worker.terminate();
  }
}
