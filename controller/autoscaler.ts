// The autoscaler on a cluster, run by the leader only: concurrency samples and activation pokes from
// every gateway (NATS), the shared decision loop, Deployment scale writes (merge patch on the scale
// subresource), and each function's policy state kept in Redis so a successor resumes its history.
import type { V1Deployment } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { functionKey, type FunctionRef, type FunctionResource } from "../api/index.js";
import { ScalerLoop, type ScaleEvent, type ScalingPolicy } from "../autoscaler/index.js";
import type { ScaleRequest } from "../platform/ports.js";
import type { Clock, ConcurrencySample } from "../platform/ports.js";
import { initialReplicas } from "./builders.js";
import type { ControllerConfig } from "./config.js";
import type { ObjectLister } from "./reconciler.js";

/** What the autoscaler hears from the gateways (NatsBus on a cluster, MemoryBus in tests). */
export interface ScaleSignals {
  onConcurrency(listener: (sample: ConcurrencySample) => void): () => void;
  onScaleRequest(listener: (request: ScaleRequest) => void): () => void;
}

/** Where each function's policy state is kept between leaders. */
export interface PolicyStateStore {
  load(keys: readonly string[]): Promise<Map<string, unknown>>;
  save(states: ReadonlyMap<string, unknown>): Promise<void>;
  delete(key: string): Promise<void>;
}

/** Redis: one JSON value per function under flint:autoscaler:<namespace>/<name>. */
export class RedisPolicyStateStore implements PolicyStateStore {
  constructor(private readonly redis: Redis) {}

  async load(keys: readonly string[]): Promise<Map<string, unknown>> {
    const states = new Map<string, unknown>();
    if (keys.length === 0) return states;
    const values = await this.redis.mget(keys.map(stateKey));
    keys.forEach((key, index) => {
      const text = values[index];
      if (text === null || text === undefined) return;
      try {
        states.set(key, JSON.parse(text));
      } catch {
        // A damaged value: that function starts without history.
      }
    });
    return states;
  }

  async save(states: ReadonlyMap<string, unknown>): Promise<void> {
    if (states.size === 0) return;
    const pipeline = this.redis.pipeline();
    for (const [key, state] of states) pipeline.set(stateKey(key), JSON.stringify(state));
    await pipeline.exec();
  }

  async delete(key: string): Promise<void> {
    await this.redis.del(stateKey(key));
  }
}

const stateKey = (key: string): string => `flint:autoscaler:${key}`;

export interface ClusterAutoscalerOptions {
  readonly policy: ScalingPolicy<unknown>;
  readonly signals: ScaleSignals;
  readonly store: PolicyStateStore;
  readonly deployments: ObjectLister<V1Deployment>;
  /** The merge patch of a Deployment's scale subresource. */
  readonly scale: (namespace: string, name: string, replicas: number) => Promise<void>;
  readonly config: Pick<ControllerConfig, "autoscalerTickMs" | "initialScale">;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How often states are saved, in ms. Default 5 s: a successor loses at most that much history. */
  readonly saveIntervalMs?: number;
  readonly onScale?: (event: ScaleEvent) => void;
}

/** Leader-only: `start` when elected, `stop` when the lease is lost. */
export class ClusterAutoscaler {
  private loop: ScalerLoop | undefined;
  private unsubscribe: (() => void)[] = [];
  private cancelSave: (() => void) | undefined;
  /** Functions known to the controller, whether or not this process leads. */
  private readonly functions = new Map<string, FunctionResource>();
  private generation = 0;

  constructor(private readonly options: ClusterAutoscalerOptions) {}

  get running(): boolean {
    return this.loop !== undefined;
  }

  /** Told of every Function change by the controller's informer. */
  onFunction(event: "put" | "delete", fn: FunctionResource): void {
    const key = functionKey(fn.metadata);
    if (event === "delete") {
      this.functions.delete(key);
      this.loop?.untrack(fn.metadata);
      void this.options.store.delete(key).catch(() => undefined);
      return;
    }
    const known = this.functions.has(key);
    this.functions.set(key, fn);
    if (this.loop !== undefined) this.track(this.loop, fn, known ? undefined : new Map());
  }

  /** Becomes the autoscaler: loads every function's stored state, then listens and ticks. */
  async start(): Promise<void> {
    if (this.loop !== undefined) return;
    const generation = ++this.generation;
    const { options } = this;
    const loop = new ScalerLoop(
      options.policy,
      {
        counts: (ref) => this.counts(ref),
        setReplicas: (ref, replicas) => this.write(ref, replicas),
      },
      { clock: options.clock, tickMs: options.config.autoscalerTickMs, onScale: options.onScale },
    );
    let states = new Map<string, unknown>();
    try {
      states = await options.store.load([...this.functions.keys()]);
    } catch (error) {
      options.logger.warn(
        { err: errorText(error) },
        "cannot read stored autoscaler state; starting without history",
      );
    }
    // Lost the lease (or started again) while loading.
    if (generation !== this.generation) return;
    for (const fn of this.functions.values()) this.track(loop, fn, states);
    this.unsubscribe = [
      options.signals.onConcurrency((sample) => loop.record(sample)),
      options.signals.onScaleRequest((request) => {
        if (request.type === "activate") loop.activate(request.ref);
        else loop.scale(request.ref, request.replicas);
      }),
    ];
    this.loop = loop;
    loop.start();
    this.scheduleSave();
    options.logger.info({ functions: this.functions.size, restored: states.size }, "autoscaler started");
  }

  /** Stops at once (leadership is gone), saving what it can. */
  async stop(): Promise<void> {
    this.generation++;
    const loop = this.loop;
    if (loop === undefined) return;
    this.loop = undefined;
    for (const stop of this.unsubscribe.splice(0)) stop();
    this.cancelSave?.();
    await loop.close();
    await this.save(loop);
  }

  /**
   * Tracks `fn` resuming from what runs now: a Deployment's replicas (or, for one not created yet,
   * the replicas the reconciler will create it with), and the stored state when there is one.
   */
  private track(
    loop: ScalerLoop,
    fn: FunctionResource,
    states: ReadonlyMap<string, unknown> | undefined,
  ): void {
    const { namespace, name } = fn.metadata;
    const deployment = this.options.deployments.get(namespace, name);
    const replicas = deployment?.spec?.replicas ?? initialReplicas(fn, this.options.config);
    const state = states?.get(functionKey(fn.metadata));
    loop.track(fn, state === undefined ? { replicas } : { replicas, state });
  }

  /** Ready replicas, and replicas asked for that are not ready yet, from the Deployment. */
  private counts(ref: FunctionRef): { ready: number; starting: number } {
    const deployment = this.options.deployments.get(ref.namespace, ref.name);
    if (deployment === undefined) {
      // Not created yet (or not seen yet): the reconciler is creating it with its initial replicas,
      // which count as starting, or a new function would be scaled to zero before it ever ran.
      const fn = this.functions.get(functionKey(ref));
      return { ready: 0, starting: fn === undefined ? 0 : initialReplicas(fn, this.options.config) };
    }
    const ready = deployment?.status?.readyReplicas ?? 0;
    const wanted = deployment?.spec?.replicas ?? 0;
    return { ready, starting: Math.max(0, wanted - ready) };
  }

  private write(ref: FunctionRef, replicas: number): void {
    this.options.scale(ref.namespace, ref.name, replicas).catch((error: unknown) => {
      this.options.logger.warn(
        { function: functionKey(ref), replicas, err: errorText(error) },
        "cannot write the Deployment's scale; the next decision tries again",
      );
    });
  }

  private scheduleSave(): void {
    this.cancelSave = this.options.clock.setTimer(() => {
      const loop = this.loop;
      if (loop === undefined) return;
      void this.save(loop).finally(() => {
        if (this.loop === loop) this.scheduleSave();
      });
    }, this.options.saveIntervalMs ?? 5000);
  }

  private async save(loop: ScalerLoop): Promise<void> {
    const states = new Map(loop.states().map(({ ref, state }) => [functionKey(ref), state]));
    try {
      await this.options.store.save(states);
    } catch (error) {
      this.options.logger.warn({ err: errorText(error) }, "cannot store autoscaler state");
    }
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
