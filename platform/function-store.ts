// The in-memory FunctionStore: what `flint up` and an embedded gateway keep Functions in.
import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { functionKey, type FunctionRef, type FunctionResource } from "../api/index.js";
import { systemClock } from "./clock.js";
import { ConflictError, FunctionExistsError, FunctionNotFoundError } from "./errors.js";
import type { Clock, FunctionEvent, FunctionStore } from "./ports.js";

/**
 * Functions in a Map, with the API server's bookkeeping: uid, creationTimestamp, a resourceVersion
 * that changes on every write (optimistic concurrency), and a generation that changes with the spec.
 * Callers get copies; listeners must not throw.
 */
export class MemoryFunctionStore implements FunctionStore {
  private readonly functions = new Map<string, FunctionResource>();
  private readonly listeners = new Set<(event: FunctionEvent) => void>();
  private lastVersion = 0;

  constructor(private readonly clock: Clock = systemClock) {}

  get(ref: FunctionRef): Promise<FunctionResource | undefined> {
    const fn = this.functions.get(functionKey(ref));
    return Promise.resolve(fn === undefined ? undefined : structuredClone(fn));
  }

  list(namespace?: string): Promise<FunctionResource[]> {
    const items = [...this.functions.values()]
      .filter((fn) => namespace === undefined || fn.metadata.namespace === namespace)
      .sort((a, b) => compare(functionKey(a.metadata), functionKey(b.metadata)))
      .map((fn) => structuredClone(fn));
    return Promise.resolve(items);
  }

  create(fn: FunctionResource): Promise<FunctionResource> {
    const key = functionKey(fn.metadata);
    if (this.functions.has(key)) return Promise.reject(new FunctionExistsError(key));
    const { name, namespace, labels, annotations } = fn.metadata;
    const stored: FunctionResource = {
      apiVersion: fn.apiVersion,
      kind: fn.kind,
      metadata: {
        name,
        namespace,
        ...(labels === undefined ? {} : { labels: { ...labels } }),
        ...(annotations === undefined ? {} : { annotations: { ...annotations } }),
        uid: randomUUID(),
        generation: 1,
        resourceVersion: this.nextVersion(),
        creationTimestamp: new Date(this.clock.now()).toISOString(),
      },
      spec: structuredClone(fn.spec),
    };
    return Promise.resolve(this.put(key, stored));
  }

  update(fn: FunctionResource): Promise<FunctionResource> {
    const key = functionKey(fn.metadata);
    const current = this.functions.get(key);
    if (current === undefined) return Promise.reject(new FunctionNotFoundError(key));
    const expected = fn.metadata.resourceVersion;
    if (expected !== undefined && expected !== current.metadata.resourceVersion) {
      return Promise.reject(
        new ConflictError(
          `function ${key} has changed since resourceVersion ${expected} (now ${current.metadata.resourceVersion}); read it again and retry`,
        ),
      );
    }
    const specChanged = !isDeepStrictEqual(current.spec, fn.spec);
    const { labels, annotations } = fn.metadata;
    const stored: FunctionResource = {
      ...current,
      metadata: {
        ...current.metadata,
        labels: labels === undefined ? undefined : { ...labels },
        annotations: annotations === undefined ? undefined : { ...annotations },
        generation: (current.metadata.generation ?? 1) + (specChanged ? 1 : 0),
        resourceVersion: this.nextVersion(),
      },
      spec: structuredClone(fn.spec),
    };
    if (stored.metadata.labels === undefined) delete stored.metadata.labels;
    if (stored.metadata.annotations === undefined) delete stored.metadata.annotations;
    return Promise.resolve(this.put(key, stored));
  }

  delete(ref: FunctionRef): Promise<void> {
    const key = functionKey(ref);
    if (!this.functions.delete(key)) return Promise.reject(new FunctionNotFoundError(key));
    const event: FunctionEvent = { type: "delete", ref: { name: ref.name, namespace: ref.namespace } };
    for (const listener of this.listeners) listener(event);
    return Promise.resolve();
  }

  watch(listener: (event: FunctionEvent) => void): () => void {
    this.listeners.add(listener);
    for (const fn of this.functions.values()) listener({ type: "put", function: structuredClone(fn) });
    listener({ type: "synced" });
    return () => void this.listeners.delete(listener);
  }

  private put(key: string, stored: FunctionResource): FunctionResource {
    this.functions.set(key, stored);
    for (const listener of this.listeners) listener({ type: "put", function: structuredClone(stored) });
    return structuredClone(stored);
  }

  private nextVersion(): string {
    this.lastVersion += 1;
    return String(this.lastVersion);
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
