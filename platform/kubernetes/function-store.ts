// The gateway's FunctionStore on Kubernetes: Function custom resources, so the management API and
// kubectl see and change the same functions. Reads and writes go to the API server; `watch` is an
// informer over the watched namespaces.
import { ApiException, CustomObjectsApi } from "@kubernetes/client-node";
import type { Logger } from "pino";
import {
  FUNCTION_API,
  functionKey,
  validateFunction,
  type FieldError,
  type FunctionRef,
  type FunctionResource,
} from "../../api/index.js";
import {
  ConflictError,
  FunctionExistsError,
  FunctionNotFoundError,
  InvalidFunctionError,
  NamespaceNotWatchedError,
} from "../errors.js";
import type { FunctionEvent, FunctionStore } from "../ports.js";
import { KubernetesApiError } from "./errors.js";
import { NamespacedInformer, type InformerOptions } from "./informers.js";
import { keyOf } from "./reflector.js";

/** A Function as the API server sends it: anything, until validated. */
type RawFunction = { metadata?: { name?: string; namespace?: string; resourceVersion?: string } } & Record<
  string,
  unknown
>;

/** An update without a resourceVersion is retried this many times when another writer wins a race. */
const UNCONDITIONAL_UPDATE_ATTEMPTS = 5;

export type CustomResourceFunctionStoreOptions = InformerOptions;

/**
 * Functions as `flint.dev/v1alpha1` custom resources. Objects from the API server are checked with
 * the same validator as manifests (api/ validateFunction): one it rejects is logged and left out (a
 * Function that was valid before keeps its last valid version), never a crash. The gateway never
 * writes `status`: the controller owns it.
 */
export class CustomResourceFunctionStore implements FunctionStore {
  /** One informer per watched namespace (one in all), started by the first `watch`. */
  readonly informers: NamespacedInformer<RawFunction>;
  private readonly api: CustomObjectsApi;
  private readonly logger: Logger;
  /** The valid Functions the informers have seen, by "namespace/name". */
  private readonly functions = new Map<string, FunctionResource>();
  private readonly listeners = new Set<(event: FunctionEvent) => void>();
  private watching = false;
  private announcedSync = false;

  constructor(private readonly options: CustomResourceFunctionStoreOptions) {
    this.api = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.logger = options.logger.child({ component: "functions" });
    this.informers = new NamespacedInformer<RawFunction>(
      { ...options, logger: this.logger },
      {
        what: "functions",
        path: collectionPath,
        list: (namespace, { limit, continueToken }) => this.listPage(namespace, limit, continueToken),
      },
      {
        put: (raw) => this.onPut(raw),
        delete: (raw) => this.onDelete(raw),
        synced: () => this.onSynced(),
      },
    );
  }

  async get(ref: FunctionRef): Promise<FunctionResource | undefined> {
    if (!this.watches(ref.namespace)) return undefined;
    const raw = await this.getRaw(ref);
    return raw === undefined ? undefined : this.readable(raw);
  }

  async list(namespace?: string): Promise<FunctionResource[]> {
    let scopes: (string | undefined)[];
    if (namespace !== undefined) scopes = this.watches(namespace) ? [namespace] : [];
    else scopes = this.options.namespaces === "all" ? [undefined] : [...this.options.namespaces];
    const items: FunctionResource[] = [];
    for (const scope of scopes) {
      let continueToken: string | undefined;
      do {
        const page = await this.listPage(scope, 500, continueToken);
        for (const raw of page.items) {
          const fn = this.readable(raw);
          if (fn !== undefined) items.push(fn);
        }
        continueToken = page.metadata?.continue || undefined;
      } while (continueToken !== undefined);
    }
    return items.sort(
      (a, b) =>
        compare(a.metadata.namespace, b.metadata.namespace) || compare(a.metadata.name, b.metadata.name),
    );
  }

  async create(fn: FunctionResource): Promise<FunctionResource> {
    const key = functionKey(fn.metadata);
    const { name, namespace, labels, annotations } = fn.metadata;
    if (!this.watches(namespace)) throw new NamespaceNotWatchedError(namespace);
    const body = {
      apiVersion: FUNCTION_API.apiVersion,
      kind: FUNCTION_API.kind,
      metadata: { name, namespace, ...(labels && { labels }), ...(annotations && { annotations }) },
      spec: fn.spec,
    };
    try {
      const created = (await this.api.createNamespacedCustomObject({
        ...resource(namespace),
        body,
      })) as RawFunction;
      return this.written(created);
    } catch (error) {
      if (statusOf(error) === 409) throw new FunctionExistsError(key);
      throw this.mapped(error, `create function ${key}`);
    }
  }

  /**
   * Replaces spec, labels and annotations, keeping the rest of the stored metadata (owner
   * references, finalizers). With `fn.metadata.resourceVersion` the write is conditional on it;
   * without, it is based on a fresh read and retried if another writer comes in between.
   */
  async update(fn: FunctionResource): Promise<FunctionResource> {
    const ref = { name: fn.metadata.name, namespace: fn.metadata.namespace };
    const key = functionKey(ref);
    const expected = fn.metadata.resourceVersion;
    if (!this.watches(ref.namespace)) throw new FunctionNotFoundError(key);
    for (let attempt = 1; ; attempt++) {
      const current = await this.getRaw(ref);
      if (current === undefined) throw new FunctionNotFoundError(key);
      const stored = current.metadata?.resourceVersion;
      if (expected !== undefined && expected !== stored) throw staleError(key, expected, stored);
      const metadata: Record<string, unknown> = { ...current.metadata, resourceVersion: stored };
      delete metadata["managedFields"];
      delete metadata["labels"];
      delete metadata["annotations"];
      if (fn.metadata.labels !== undefined) metadata["labels"] = fn.metadata.labels;
      if (fn.metadata.annotations !== undefined) metadata["annotations"] = fn.metadata.annotations;
      try {
        const replaced = (await this.api.replaceNamespacedCustomObject({
          ...resource(ref.namespace),
          name: ref.name,
          body: { ...current, metadata, spec: fn.spec },
        })) as RawFunction;
        return this.written(replaced);
      } catch (error) {
        const status = statusOf(error);
        if (status === 404) throw new FunctionNotFoundError(key);
        if (status !== 409) throw this.mapped(error, `update function ${key}`);
        if (expected !== undefined || attempt >= UNCONDITIONAL_UPDATE_ATTEMPTS) {
          throw staleError(key, expected ?? stored ?? "", undefined);
        }
      }
    }
  }

  async delete(ref: FunctionRef): Promise<void> {
    const key = functionKey(ref);
    if (!this.watches(ref.namespace)) throw new FunctionNotFoundError(key);
    try {
      await this.api.deleteNamespacedCustomObject({ ...resource(ref.namespace), name: ref.name });
    } catch (error) {
      if (statusOf(error) === 404) throw new FunctionNotFoundError(key);
      throw this.mapped(error, `delete function ${key}`);
    }
  }

  watch(listener: (event: FunctionEvent) => void): () => void {
    this.listeners.add(listener);
    if (!this.watching) {
      this.watching = true;
      this.informers.start();
    } else {
      for (const fn of this.functions.values()) this.deliver(listener, { type: "put", function: fn });
      if (this.announcedSync) this.deliver(listener, { type: "synced" });
    }
    return () => void this.listeners.delete(listener);
  }

  /** Stops the informers; watch listeners get nothing more. */
  async close(): Promise<void> {
    this.listeners.clear();
    await this.informers.stop();
  }

  private onPut(raw: RawFunction): void {
    const key = keyOf(raw);
    const fn = this.readable(raw, this.functions.has(key) ? "keeping its last valid version" : "ignoring it");
    if (fn === undefined) return;
    this.functions.set(key, fn);
    this.broadcast({ type: "put", function: fn });
  }

  private onDelete(raw: RawFunction): void {
    const key = keyOf(raw);
    const fn = this.functions.get(key);
    if (fn === undefined) return;
    this.functions.delete(key);
    this.broadcast({ type: "delete", ref: { name: fn.metadata.name, namespace: fn.metadata.namespace } });
  }

  private onSynced(): void {
    if (this.announcedSync) return;
    this.announcedSync = true;
    this.broadcast({ type: "synced" });
  }

  private broadcast(event: FunctionEvent): void {
    for (const listener of [...this.listeners]) this.deliver(listener, event);
  }

  /** Each listener gets its own copy, as from MemoryFunctionStore. */
  private deliver(listener: (event: FunctionEvent) => void, event: FunctionEvent): void {
    try {
      listener(event.type === "put" ? { type: "put", function: structuredClone(event.function) } : event);
    } catch (error) {
      this.logger.error({ err: error }, "function watch listener threw");
    }
  }

  /** The Function in `raw`, validated and with defaults; undefined (and logged) when it is not valid. */
  private readable(raw: RawFunction, consequence = "ignoring it"): FunctionResource | undefined {
    const metadata = { ...(raw.metadata ?? {}) } as Record<string, unknown>;
    delete metadata["managedFields"];
    const result = validateFunction({ ...raw, metadata });
    if (result.ok) return result.value;
    this.logger.warn(
      {
        function: keyOf(raw),
        resourceVersion: raw.metadata?.resourceVersion,
        errors: result.errors.slice(0, 10),
      },
      `function in the API server is not valid; ${consequence}`,
    );
    return undefined;
  }

  /** What a create or replace returned; it should always be valid, as the API server checked it. */
  private written(raw: RawFunction): FunctionResource {
    const fn = this.readable(raw);
    if (fn === undefined) {
      throw new KubernetesApiError(
        `the API server stored function ${keyOf(raw)} in a form this gateway does not accept (is the CRD older or newer than the gateway?)`,
      );
    }
    return fn;
  }

  private async getRaw(ref: FunctionRef): Promise<RawFunction | undefined> {
    try {
      return (await this.api.getNamespacedCustomObject({
        ...resource(ref.namespace),
        name: ref.name,
      })) as RawFunction;
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw this.mapped(error, `read function ${functionKey(ref)}`);
    }
  }

  private async listPage(
    namespace: string | undefined,
    limit: number,
    continueToken: string | undefined,
  ): Promise<{ items: RawFunction[]; metadata?: { resourceVersion?: string; continue?: string } }> {
    const page = { limit, _continue: continueToken };
    try {
      return (await (namespace === undefined
        ? this.api.listClusterCustomObject({ ...CRD, ...page })
        : this.api.listNamespacedCustomObject({ ...resource(namespace), ...page }))) as {
        items: RawFunction[];
        metadata?: { resourceVersion?: string; continue?: string };
      };
    } catch (error) {
      throw this.mapped(error, `list functions${namespace === undefined ? "" : ` in ${namespace}`}`);
    }
  }

  private watches(namespace: string): boolean {
    return this.options.namespaces === "all" || this.options.namespaces.includes(namespace);
  }

  /** A rejected manifest (422) becomes a 400 with the API server's field errors; anything else a KubernetesApiError. */
  private mapped(error: unknown, doing: string): Error {
    const status = statusOf(error);
    const body = bodyOf(error);
    if (status === 422 || status === 400) {
      const details: FieldError[] = (body?.details?.causes ?? []).map((cause) => ({
        path: (cause.field ?? "").replace(/^\./, ""),
        message: cause.message ?? cause.reason ?? "invalid",
      }));
      return new InvalidFunctionError(body?.message ?? `the API server refused to ${doing}`, details, {
        cause: error,
      });
    }
    this.logger.error({ err: error, status, reason: body?.reason }, `cannot ${doing}`);
    return new KubernetesApiError(
      `cannot ${doing}: ${status === undefined ? "no answer from the API server" : `the API server answered ${status}${body?.reason === undefined ? "" : ` ${body.reason}`}`}`,
      { cause: error },
    );
  }
}

/** The parts of a Kubernetes Status body Flint reads. */
interface StatusBody {
  message?: string;
  reason?: string;
  details?: { causes?: { field?: string; message?: string; reason?: string }[] };
}

function statusOf(error: unknown): number | undefined {
  return error instanceof ApiException ? (error as ApiException<unknown>).code : undefined;
}

function bodyOf(error: unknown): StatusBody | undefined {
  if (!(error instanceof ApiException)) return undefined;
  const body = (error as ApiException<unknown>).body;
  if (typeof body !== "string") return typeof body === "object" && body !== null ? body : undefined;
  try {
    return JSON.parse(body) as StatusBody;
  } catch {
    return undefined;
  }
}

function staleError(key: string, expected: string, stored: string | undefined): ConflictError {
  return new ConflictError(
    `function ${key} has changed since resourceVersion ${expected}${stored === undefined ? "" : ` (now ${stored})`}; read it again and retry`,
  );
}

const CRD = { group: FUNCTION_API.group, version: FUNCTION_API.version, plural: FUNCTION_API.plural };

function resource(namespace: string): typeof CRD & { namespace: string } {
  return { ...CRD, namespace };
}

function collectionPath(namespace: string | undefined): string {
  const base = `/apis/${FUNCTION_API.group}/${FUNCTION_API.version}`;
  return namespace === undefined
    ? `${base}/${FUNCTION_API.plural}`
    : `${base}/namespaces/${namespace}/${FUNCTION_API.plural}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
