// The replay engine: a model of the platform (replicas that take time to start, a hard per-replica limit,
// a bounded FIFO queue at the gateway) driven by a policy, one function at a time, events in time order.
import type { Observation, ScalingPolicy } from "../types.js";
import type { FunctionWorkload, Workload } from "./workload.js";

/** The platform as the simulator models it. */
export interface PlatformModel {
  /** Time from asking for a replica to its first request, ms. */
  readonly startupMs: number;
  /** Requests a function may have waiting at the gateway; one more is dropped (503). */
  readonly queueLimit: number;
  /** A request that has waited this long without a replica is timed out (504), ms. */
  readonly queueTimeoutMs: number;
  /** The autoscaler's tick, ms. */
  readonly tickMs: number;
}

export const PLATFORM_DEFAULTS: Readonly<PlatformModel> = Object.freeze({
  startupMs: 1000,
  queueLimit: 10_000,
  queueTimeoutMs: 30_000,
  tickMs: 1000,
});

/** A policy as the simulator runs it: one instance per function, so an oracle can be told the future. */
export interface PolicyUnderTest {
  readonly name: string;
  forFunction(fn: FunctionWorkload, model: PlatformModel, horizonMs: number): ScalingPolicy;
}

/** What happened to one function in a replay. */
export interface FunctionOutcome {
  readonly name: string;
  readonly requests: number;
  /** Requests that arrived while the function had no ready replica and so waited for one to start. */
  readonly coldStarts: number;
  readonly completed: number;
  /** Requests refused because the queue was full. */
  readonly dropped: number;
  /** Requests that waited longer than the queue timeout. */
  readonly timedOut: number;
  /** Replica-time (starting, ready or draining) within the measured span, ms. */
  readonly replicaMs: number;
  /** Replica-time with no request running (starting, or ready and idle) within the measured span, ms. */
  readonly idleReplicaMs: number;
  /** Decisions that changed the number of replicas asked for. */
  readonly scaleChanges: number;
  readonly peakReplicas: number;
}

/** Request latencies (queueing + service), ms, gathered across functions. */
export class LatencyLog {
  private values = new Float64Array(1024);
  private size = 0;
  private sorted = true;

  push(latencyMs: number): void {
    if (this.size === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.size++] = latencyMs;
    this.sorted = false;
  }

  get count(): number {
    return this.size;
  }

  /** The nearest-rank percentile (0 < p ≤ 100), or 0 with no latencies. */
  percentile(p: number): number {
    if (this.size === 0) return 0;
    if (!this.sorted) {
      this.values.subarray(0, this.size).sort();
      this.sorted = true;
    }
    const rank = Math.min(this.size, Math.max(1, Math.ceil((p / 100) * this.size)));
    return this.values[rank - 1] ?? 0;
  }
}

/** A whole workload through one policy. */
export interface Replay {
  readonly functions: FunctionOutcome[];
  readonly latencies: LatencyLog;
}

/** Replays every function of `workload` through `policy` (functions are independent, so one at a time). */
export function replay(workload: Workload, policy: PolicyUnderTest, model: PlatformModel): Replay {
  const latencies = new LatencyLog();
  const functions = workload.functions.map((fn) =>
    simulateFunction(
      fn,
      policy.forFunction(fn, model, workload.durationMs),
      model,
      workload.durationMs,
      latencies,
    ),
  );
  return { functions, latencies };
}

const STARTING = 0;
const READY = 1;
const DRAINING = 2;

interface Replica {
  inFlight: number;
  readyAtMs: number;
  phase: typeof STARTING | typeof READY | typeof DRAINING;
}

/**
 * Replays one function. Events at equal times run in the order: completion, replica ready, queue
 * timeout, arrival, tick — so a freed slot or a new replica serves a request arriving at that instant.
 * Ticks run every `tickMs` up to `horizonMs`; an arrival with no replica at all pokes the policy at once.
 * After the horizon, what is in flight or queued still finishes (for its latency), uncounted in replica-time.
 */
// eslint-disable-next-line max-lines-per-function, complexity -- the simulator's event loop for one function: its steps share a dozen locals, and splitting it would thread them through every call
export function simulateFunction(
  fn: FunctionWorkload,
  policy: ScalingPolicy,
  model: PlatformModel,
  horizonMs: number,
  latencies: LatencyLog,
): FunctionOutcome {
  const { arrivalMs, durationMs } = fn.requests;
  const spec = fn.spec;
  const hardLimit = spec.concurrency;
  const starting: Replica[] = []; // ordered by readyAtMs: replicas are asked for in time order
  const ready: Replica[] = [];
  const queue = new RequestQueue(model.queueLimit);
  const completions = new CompletionHeap();
  let state = policy.initialState(0);

  let draining = 0;
  let readyIdle = 0;
  let inFlight = 0;
  let lastMs = 0;
  let concurrencyArea = 0;
  let replicaMs = 0;
  let idleReplicaMs = 0;
  let coldStarts = 0;
  let completed = 0;
  let dropped = 0;
  let timedOut = 0;
  let scaleChanges = 0;
  let peakReplicas = spec.min;

  // Replicas kept by scale.min were running before the replay began.
  for (let k = 0; k < spec.min; k++) ready.push({ inFlight: 0, readyAtMs: 0, phase: READY });
  readyIdle = spec.min;

  const advance = (toMs: number): void => {
    const dt = toMs - lastMs;
    if (dt <= 0) return;
    concurrencyArea += (inFlight + queue.size) * dt;
    if (lastMs < horizonMs) {
      const counted = Math.min(toMs, horizonMs) - lastMs;
      replicaMs += (ready.length + starting.length + draining) * counted;
      idleReplicaMs += (readyIdle + starting.length) * counted;
    }
    lastMs = toMs;
  };

  // The least busy ready replica below its hard limit.
  const pick = (): Replica | undefined => {
    let best: Replica | undefined;
    for (const replica of ready) {
      if (hardLimit > 0 && replica.inFlight >= hardLimit) continue;
      if (best === undefined || replica.inFlight < best.inFlight) {
        best = replica;
        if (replica.inFlight === 0) break;
      }
    }
    return best;
  };

  const dispatch = (replica: Replica, request: number, nowMs: number): void => {
    if (replica.inFlight === 0) readyIdle--;
    replica.inFlight++;
    inFlight++;
    const endMs = nowMs + (durationMs[request] as number);
    completions.push(endMs, replica);
    latencies.push(endMs - (arrivalMs[request] as number));
    completed++;
  };

  const serveQueue = (nowMs: number): void => {
    while (queue.size > 0) {
      const replica = pick();
      if (replica === undefined) return;
      dispatch(replica, queue.shift(), nowMs);
    }
  };

  const apply = (desired: number, nowMs: number): void => {
    const current = ready.length + starting.length;
    if (desired === current) return;
    scaleChanges++;
    if (desired > current) {
      for (let k = current; k < desired; k++) {
        starting.push({ inFlight: 0, readyAtMs: nowMs + model.startupMs, phase: STARTING });
      }
    } else {
      // Remove what costs least: replicas still starting (newest first), then idle ones, then the least
      // busy, which drain: they take no new request and go when their last one finishes.
      let remove = current - desired;
      for (; remove > 0 && starting.length > 0; remove--) starting.pop();
      for (; remove > 0; remove--) {
        let index = 0;
        for (let k = 1; k < ready.length; k++) {
          if ((ready[k] as Replica).inFlight < (ready[index] as Replica).inFlight) index = k;
        }
        const replica = ready[index] as Replica;
        ready[index] = ready[ready.length - 1] as Replica;
        ready.pop();
        if (replica.inFlight === 0) {
          readyIdle--;
        } else {
          replica.phase = DRAINING;
          draining++;
        }
      }
    }
    peakReplicas = Math.max(peakReplicas, ready.length + starting.length + draining);
  };

  const decide = (observed: Observation, nowMs: number): void => {
    const decision = policy.decide(spec, observed, state, nowMs);
    state = decision.next;
    apply(decision.desired, nowMs);
  };

  let next = 0;
  let nextTickMs = model.tickMs;
  const requests = arrivalMs.length;
  for (;;) {
    const completionMs = completions.size > 0 ? completions.peekMs() : Infinity;
    const readyMs = starting.length > 0 ? (starting[0] as Replica).readyAtMs : Infinity;
    const timeoutMs = queue.size > 0 ? (arrivalMs[queue.peek()] as number) + model.queueTimeoutMs : Infinity;
    const arrivalAtMs = next < requests ? (arrivalMs[next] as number) : Infinity;
    const tickMs = nextTickMs <= horizonMs ? nextTickMs : Infinity;
    const nowMs = Math.min(completionMs, readyMs, timeoutMs, arrivalAtMs, tickMs);
    if (nowMs === Infinity) break;
    advance(nowMs);

    if (completionMs === nowMs) {
      const replica = completions.pop();
      replica.inFlight--;
      inFlight--;
      if (replica.phase === DRAINING) {
        if (replica.inFlight === 0) draining--;
      } else {
        if (replica.inFlight === 0) readyIdle++;
        serveQueue(nowMs);
      }
    } else if (readyMs === nowMs) {
      const replica = starting.shift() as Replica;
      replica.phase = READY;
      ready.push(replica);
      readyIdle++;
      serveQueue(nowMs);
    } else if (timeoutMs === nowMs) {
      queue.shift();
      timedOut++;
    } else if (arrivalAtMs === nowMs) {
      const request = next++;
      const replica = ready.length > 0 ? pick() : undefined;
      if (replica !== undefined) {
        dispatch(replica, request, nowMs);
        continue;
      }
      if (ready.length === 0) coldStarts++;
      if (queue.size >= model.queueLimit) dropped++;
      else queue.push(request);
      // The gateway pokes the autoscaler when a request finds no replica at all, ready or starting.
      if (starting.length === 0 && ready.length === 0) {
        decide(
          {
            concurrency: inFlight + queue.size,
            readyReplicas: 0,
            startingReplicas: 0,
            queueDepth: 0,
            activation: true,
          },
          nowMs,
        );
      }
    } else {
      const concurrency = concurrencyArea / model.tickMs;
      concurrencyArea = 0;
      decide(
        {
          concurrency,
          readyReplicas: ready.length,
          startingReplicas: starting.length,
          queueDepth: 0,
          activation: false,
        },
        nowMs,
      );
      nextTickMs += model.tickMs;
    }
  }

  return {
    name: fn.name,
    requests,
    coldStarts,
    completed,
    dropped,
    timedOut,
    replicaMs,
    idleReplicaMs,
    scaleChanges,
    peakReplicas,
  };
}

/** A bounded FIFO of request indexes (a ring buffer). */
class RequestQueue {
  private readonly slots: Int32Array;
  private head = 0;
  size = 0;

  constructor(limit: number) {
    this.slots = new Int32Array(Math.max(1, limit));
  }

  push(request: number): void {
    this.slots[(this.head + this.size) % this.slots.length] = request;
    this.size++;
  }

  peek(): number {
    return this.slots[this.head] as number;
  }

  shift(): number {
    const request = this.slots[this.head] as number;
    this.head = (this.head + 1) % this.slots.length;
    this.size--;
    return request;
  }
}

/** Requests in flight by completion time: a binary min-heap over parallel arrays. */
class CompletionHeap {
  private readonly times: number[] = [];
  private readonly replicas: Replica[] = [];

  get size(): number {
    return this.times.length;
  }

  peekMs(): number {
    return this.times[0] as number;
  }

  push(timeMs: number, replica: Replica): void {
    const { times, replicas } = this;
    let index = times.length;
    times.push(timeMs);
    replicas.push(replica);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if ((times[parent] as number) <= timeMs) break;
      times[index] = times[parent] as number;
      replicas[index] = replicas[parent] as Replica;
      index = parent;
    }
    times[index] = timeMs;
    replicas[index] = replica;
  }

  pop(): Replica {
    const { times, replicas } = this;
    const top = replicas[0] as Replica;
    const lastTime = times.pop() as number;
    const lastReplica = replicas.pop() as Replica;
    const size = times.length;
    if (size > 0) {
      let index = 0;
      for (;;) {
        let child = 2 * index + 1;
        if (child >= size) break;
        if (child + 1 < size && (times[child + 1] as number) < (times[child] as number)) child++;
        if ((times[child] as number) >= lastTime) break;
        times[index] = times[child] as number;
        replicas[index] = replicas[child] as Replica;
        index = child;
      }
      times[index] = lastTime;
      replicas[index] = lastReplica;
    }
    return top;
  }
}
