// A FunctionStore that answers with live status from the local supervisor, the way a Function's
// status subresource answers on Kubernetes: replicas, readiness, URL and a Ready condition.
import type { FunctionRef, FunctionResource, FunctionStatus } from "../api/index.js";
import type { FunctionEvent, FunctionStore } from "../platform/ports.js";

/** Computes a function's status now. */
export type StatusSource = (fn: FunctionResource) => FunctionStatus;

export class LiveStatusStore implements FunctionStore {
  constructor(
    private readonly inner: FunctionStore,
    private readonly statusOf: StatusSource,
  ) {}

  async get(ref: FunctionRef): Promise<FunctionResource | undefined> {
    const fn = await this.inner.get(ref);
    return fn === undefined ? undefined : this.withStatus(fn);
  }

  async list(namespace?: string): Promise<FunctionResource[]> {
    return (await this.inner.list(namespace)).map((fn) => this.withStatus(fn));
  }

  create(fn: FunctionResource): Promise<FunctionResource> {
    return this.inner.create(fn);
  }

  update(fn: FunctionResource): Promise<FunctionResource> {
    return this.inner.update(fn);
  }

  delete(ref: FunctionRef): Promise<void> {
    return this.inner.delete(ref);
  }

  watch(listener: (event: FunctionEvent) => void): () => void {
    return this.inner.watch(listener);
  }

  private withStatus(fn: FunctionResource): FunctionResource {
    return { ...fn, status: this.statusOf(fn) };
  }
}
