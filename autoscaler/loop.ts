// The autoscaler loop: owns the 1 s tick, sums the gateways' concurrency samples, asks the policy, and
// writes the replica count. Activation pokes are decided at once, not on the next tick.
import { functionKey, type FunctionRef, type FunctionResource } from "../api/index.js";
import { resolveScaleSpec, type Observation, type ScaleSettings, type ScalingPolicy } from "./index.js";
import type { Clock, ConcurrencySample } from "../platform/ports.js";

/** Where the loop reads replica counts and writes the desired number (the supervisor, or a Deployment's scale). */
export interface ReplicaTarget {
  /** Replicas ready for calls, and replicas asked for that are not ready yet. */
  counts(ref: FunctionRef): { ready: number; starting: number };
  setReplicas(ref: FunctionRef, replicas: number): void;
}

/** A change of a function's replica count, and why. */
export interface ScaleEvent {
  function: string;
  from: number;
  to: number;
  reason: "tick" | "activation" | "manual";
}

export interface ScalerLoopOptions {
  clock: Clock;
  /** Milliseconds between ticks (1000). */
  tickMs: number;
  onScale?: (event: ScaleEvent) => void;
}

interface Tracked {
  ref: FunctionRef;
  settings: ScaleSettings;
  state: unknown;
  desired: number;
  /** End of the newest stats window seen, and the sum over gateways of its average concurrency. */
  windowEndMs: number;
  concurrency: number;
  /** The async backlog in that window: the largest report, as every gateway sees the same queue. */
  queueDepth: number;
}

/** Runs one policy over every tracked function. */
export class ScalerLoop {
  private readonly functions = new Map<string, Tracked>();
  private cancelTick: (() => void) | undefined;

  constructor(
    private readonly policy: ScalingPolicy<unknown>,
    private readonly target: ReplicaTarget,
    private readonly options: ScalerLoopOptions,
  ) {}

  /** Starts ticking. */
  start(): void {
    const schedule = (): void => {
      this.cancelTick = this.options.clock.setTimer(() => {
        this.tick();
        schedule();
      }, this.options.tickMs);
    };
    schedule();
  }

  /**
   * Adds `fn` or takes its new scale settings; its history is kept across updates. A new function
   * starts at spec.scale.min, unless `resume` says what it runs now (a restarted or newly elected
   * autoscaler): then nothing is written, and the stored `state`, if the policy accepts it, carries
   * its history on. A fresh state does not scale down within its first window (the policy's rule).
   */
  track(fn: FunctionResource, resume?: { readonly replicas: number; readonly state?: unknown }): void {
    const key = functionKey(fn.metadata);
    const settings = resolveScaleSpec(fn.spec.scale);
    const known = this.functions.get(key);
    if (known !== undefined) {
      known.settings = settings;
      return;
    }
    const now = this.options.clock.now();
    const ref = { name: fn.metadata.name, namespace: fn.metadata.namespace };
    let state = this.policy.initialState(now);
    if (resume?.state !== undefined) {
      try {
        state = this.policy.restoreState(resume.state);
      } catch {
        // A state from another policy or version: start fresh rather than mis-scale.
      }
    }
    const desired = resume === undefined ? settings.min : resume.replicas;
    this.functions.set(key, {
      ...{ ref, settings, state, desired },
      ...{ windowEndMs: 0, concurrency: 0, queueDepth: 0 },
    });
    if (resume === undefined) this.target.setReplicas(ref, settings.min);
  }

  /** Every tracked function's policy state (plain JSON), to be stored so a successor can resume. */
  states(): { readonly ref: FunctionRef; readonly state: unknown }[] {
    return [...this.functions.values()].map(({ ref, state }) => ({ ref, state }));
  }

  untrack(ref: FunctionRef): void {
    this.functions.delete(functionKey(ref));
  }

  /** One gateway's figures for one second; samples of the same second from several gateways add up. */
  record(sample: ConcurrencySample): void {
    const tracked = this.functions.get(sample.function);
    if (tracked === undefined || sample.timestampMs < tracked.windowEndMs) return;
    if (sample.timestampMs > tracked.windowEndMs) {
      tracked.windowEndMs = sample.timestampMs;
      tracked.concurrency = 0;
      tracked.queueDepth = 0;
    }
    tracked.concurrency += sample.averageConcurrency;
    tracked.queueDepth = Math.max(tracked.queueDepth, sample.asyncQueued);
  }

  /** A call is waiting for `ref`, which has no ready replica: decide now. */
  activate(ref: FunctionRef): void {
    const tracked = this.functions.get(functionKey(ref));
    if (tracked === undefined) return;
    this.decide(
      tracked,
      { activation: true, concurrency: Math.max(1, this.concurrencyNow(tracked)) },
      "activation",
    );
  }

  /** The management API's manual scale: applied now, clamped to the function's min and max; later ticks may change it. */
  scale(ref: FunctionRef, replicas: number): void {
    const tracked = this.functions.get(functionKey(ref));
    if (tracked === undefined) return;
    const clamped = Math.min(tracked.settings.max, Math.max(tracked.settings.min, replicas));
    this.write(tracked, clamped, "manual");
  }

  /** Every function, decided at the clock's now. */
  tick(): void {
    for (const tracked of this.functions.values()) {
      this.decide(tracked, { activation: false, concurrency: this.concurrencyNow(tracked) }, "tick");
    }
  }

  desired(ref: FunctionRef): number | undefined {
    return this.functions.get(functionKey(ref))?.desired;
  }

  close(): Promise<void> {
    this.cancelTick?.();
    return Promise.resolve();
  }

  /** The newest second's concurrency, or 0 when no gateway has reported for two windows (idle). */
  private concurrencyNow(tracked: Tracked): number {
    return this.isFresh(tracked) ? tracked.concurrency : 0;
  }

  private isFresh(tracked: Tracked): boolean {
    return this.options.clock.now() - tracked.windowEndMs <= 2 * this.options.tickMs;
  }

  private decide(
    tracked: Tracked,
    figures: Pick<Observation, "activation" | "concurrency">,
    reason: ScaleEvent["reason"],
  ): void {
    const counts = this.target.counts(tracked.ref);
    const observed: Observation = {
      ...figures,
      readyReplicas: counts.ready,
      startingReplicas: counts.starting,
      queueDepth: this.isFresh(tracked) ? tracked.queueDepth : 0,
    };
    const decision = this.policy.decide(tracked.settings, observed, tracked.state, this.options.clock.now());
    tracked.state = decision.next;
    this.write(tracked, decision.desired, reason);
  }

  private write(tracked: Tracked, desired: number, reason: ScaleEvent["reason"]): void {
    if (desired === tracked.desired) return;
    const from = tracked.desired;
    tracked.desired = desired;
    this.options.onScale?.({ function: functionKey(tracked.ref), from, to: desired, reason });
    this.target.setReplicas(tracked.ref, desired);
  }
}
