// In-memory EndpointSource and Bus/ScaleTarget: what `flint up` wires the gateway to, and what tests
// drive by hand. The Kubernetes and NATS versions implement the same ports.
import { functionKey, type FunctionRef } from "../api/index.js";
import type {
  Bus,
  ConcurrencySample,
  Endpoint,
  EndpointListener,
  EndpointSource,
  ScaleRequest,
  ScaleTarget,
} from "./ports.js";

/** Replica sets set by hand (the process supervisor, or a test) and pushed to subscribers at once. */
export class MemoryEndpointSource implements EndpointSource {
  private readonly sets = new Map<string, readonly Endpoint[]>();
  private readonly listeners = new Map<string, Set<EndpointListener>>();

  subscribe(ref: FunctionRef, listener: EndpointListener): () => void {
    const key = functionKey(ref);
    let listeners = this.listeners.get(key);
    if (listeners === undefined) this.listeners.set(key, (listeners = new Set()));
    listeners.add(listener);
    const current = this.sets.get(key);
    if (current !== undefined) listener(current);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) this.listeners.delete(key);
    };
  }

  /** Replaces `ref`'s replica set. */
  set(ref: FunctionRef, endpoints: readonly Endpoint[]): void {
    const key = functionKey(ref);
    const frozen = Object.freeze(endpoints.map((endpoint) => Object.freeze({ ...endpoint })));
    this.sets.set(key, frozen);
    for (const listener of this.listeners.get(key) ?? []) listener(frozen);
  }

  /** Adds `endpoint` to `ref`'s set, or replaces the one with its id. */
  upsert(ref: FunctionRef, endpoint: Endpoint): void {
    const others = this.get(ref).filter((e) => e.id !== endpoint.id);
    this.set(ref, [...others, endpoint]);
  }

  /** Removes the endpoint with `id` from `ref`'s set. */
  remove(ref: FunctionRef, id: string): void {
    this.set(
      ref,
      this.get(ref).filter((e) => e.id !== id),
    );
  }

  get(ref: FunctionRef): readonly Endpoint[] {
    return this.sets.get(functionKey(ref)) ?? [];
  }
}

/** The in-process bus: samples and scale requests go synchronously to whoever listens. */
export class MemoryBus implements Bus, ScaleTarget {
  private readonly sampleListeners = new Set<(sample: ConcurrencySample) => void>();
  private readonly scaleListeners = new Set<(request: ScaleRequest) => void>();

  publishConcurrency(sample: ConcurrencySample): void {
    for (const listener of this.sampleListeners) listener(sample);
  }

  activate(ref: FunctionRef): Promise<void> {
    for (const listener of this.scaleListeners) listener({ type: "activate", ref });
    return Promise.resolve();
  }

  scale(ref: FunctionRef, replicas: number): Promise<void> {
    for (const listener of this.scaleListeners) listener({ type: "scale", ref, replicas });
    return Promise.resolve();
  }

  /** Receives every concurrency sample; the returned function stops it. */
  onConcurrency(listener: (sample: ConcurrencySample) => void): () => void {
    this.sampleListeners.add(listener);
    return () => void this.sampleListeners.delete(listener);
  }

  /** Receives every activation poke and manual scale request; the returned function stops it. */
  onScaleRequest(listener: (request: ScaleRequest) => void): () => void {
    this.scaleListeners.add(listener);
    return () => void this.scaleListeners.delete(listener);
  }
}
