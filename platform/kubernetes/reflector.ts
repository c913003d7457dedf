// List and watch one kind of Kubernetes object, keep a cache of it, and tell a handler what changed:
// the one informer of every Kubernetes adapter (informers.ts groups them by namespace). Restarts
// itself with capped backoff after any error and reports its health for /readyz.
import { Watch, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { systemClock } from "../clock.js";
import type { Clock } from "../ports.js";

/** One page of a list as the typed clients return it (`_continue`) or raw JSON has it (`continue`). */
export interface ListPage<T> {
  readonly items: readonly T[];
  readonly metadata?: { resourceVersion?: string; _continue?: string; continue?: string };
}

/** Lists one page: `limit` objects at most, from `continueToken` on (absent for the first page). */
export type ListFunction<T> = (page: {
  limit: number;
  continueToken: string | undefined;
}) => Promise<ListPage<T>>;

/** What a reflector tells its owner. Calls never overlap; a handler that throws is logged, not retried. */
export interface ReflectorHandler<T> {
  /** An object was added, or changed (its resourceVersion differs from the cached one). */
  put(object: T): void;
  /** An object is gone; `object` is its last known state. */
  delete(object: T): void;
  /** A full list has been applied: every object that exists has been put, every vanished one deleted. */
  synced(): void;
}

export interface ReflectorOptions<T> {
  /** Names the reflector in logs, e.g. "endpointslices in team-a". */
  readonly what: string;
  readonly kubeConfig: KubeConfig;
  /** The collection's path, for the watch: `/apis/discovery.k8s.io/v1/endpointslices`. */
  readonly path: string;
  /** Restricts list and watch to labelled objects, e.g. `kubernetes.io/service-name`. */
  readonly labelSelector?: string;
  /** Lists the same collection with the same selector. */
  readonly list: ListFunction<T>;
  readonly logger: Logger;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** First delay after an error, in ms; doubled per consecutive failure. Default 500. */
  readonly initialBackoffMs?: number;
  /** Longest delay between attempts, in ms. Default 30 s. */
  readonly maxBackoffMs?: number;
  /** Objects per list page. Default 500. */
  readonly pageSize?: number;
}

/** Where a reflector stands, for readiness and logs. */
export interface ReflectorHealth {
  /** A full list has been applied at least once. */
  readonly synced: boolean;
  /** When the current run of failures began (epoch ms); undefined while the watch is up. */
  readonly failingSinceMs: number | undefined;
  /** The last error's message, while failing. */
  readonly lastError: string | undefined;
}

/** What a group of informers needs of each one, whatever it watches. */
export interface Informer {
  start(): void;
  stop(): Promise<void>;
  health(): ReflectorHealth;
  whenSynced(): Promise<void>;
}

/** A watch the server ended normally sooner than this after it began is retried with backoff. */
const MIN_WATCH_MS = 1000;
/** The server ends each watch after a random 5 to 10 minutes, so a silently dead connection is replaced. */
const WATCH_TIMEOUT_SECONDS = { min: 300, max: 600 };

/** How one watch ended: normally (re-watch from the last resourceVersion) or expired (list again). */
type WatchEnd = { readonly expired: boolean; readonly eventful: boolean };

/**
 * client-go's reflector in small: list (paged), then watch from the list's resourceVersion with
 * bookmarks; on "410 Gone" list again and diff against the cache, so deletes missed meanwhile are
 * delivered; on any other error wait (capped exponential backoff with jitter) and resume. An error
 * never stops it for good: it runs until `stop()`.
 */
export class Reflector<T extends KubernetesObject> implements Informer {
  private readonly cache = new Map<string, T>();
  private readonly watcher: Watch;
  private readonly clock: Clock;
  private resourceVersion: string | undefined;
  private abortWatch: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  /** A list request cannot be aborted: `stop()` does not wait for one (its result is discarded). */
  private listing = false;
  private stopped = false;
  private synced = false;
  private failingSinceMs: number | undefined;
  private lastError: string | undefined;
  private resolveSynced: () => void = () => undefined;
  private readonly firstSync = new Promise<void>((resolve) => (this.resolveSynced = resolve));

  constructor(
    private readonly options: ReflectorOptions<T>,
    private readonly handler: ReflectorHandler<T>,
  ) {
    this.watcher = new Watch(options.kubeConfig);
    this.clock = options.clock ?? systemClock;
  }

  /** Starts listing and watching in the background. */
  start(): void {
    if (this.running !== undefined || this.stopped) return;
    this.running = this.run();
  }

  /**
   * Stops the watch and any retry; resolves once the loop has ended (or, during a list, at once:
   * the list's answer is then ignored). The handler gets no more calls.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abortWatch?.();
    this.wake?.();
    if (!this.listing) await this.running;
  }

  health(): ReflectorHealth {
    return { synced: this.synced, failingSinceMs: this.failingSinceMs, lastError: this.lastError };
  }

  /** Synced and not failing. */
  healthy(): boolean {
    return this.synced && this.failingSinceMs === undefined;
  }

  /** Resolves at the first sync (never, if the reflector is stopped before it). */
  whenSynced(): Promise<void> {
    return this.firstSync;
  }

  /** The objects as last seen. */
  objects(): IterableIterator<T> {
    return this.cache.values();
  }

  /** One object as last seen (`namespace` empty for a cluster-scoped kind). */
  get(namespace: string, name: string): T | undefined {
    return this.cache.get(`${namespace}/${name}`);
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      try {
        if (this.resourceVersion === undefined) await this.relist();
        if (this.stopped) return;
        const startedMs = this.clock.now();
        const end = await this.watchOnce();
        if (end.expired) this.resourceVersion = undefined;
        if (this.clock.now() - startedMs < MIN_WATCH_MS && !end.eventful && !end.expired) {
          await this.sleep(this.backoffMs(attempt++));
        } else {
          attempt = 0;
        }
      } catch (error) {
        if (this.stopped) return;
        const message = error instanceof Error ? error.message : String(error);
        const delayMs = this.backoffMs(attempt++);
        this.failingSinceMs ??= this.clock.now();
        this.lastError = message;
        this.options.logger.warn(
          { err: error, informer: this.options.what, attempt, retryInMs: Math.round(delayMs) },
          "informer failed; retrying",
        );
        await this.sleep(delayMs);
      }
    }
  }

  /** Lists every object (page by page), then puts what is new or changed and deletes what vanished. */
  private async relist(): Promise<void> {
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion: string | undefined;
    do {
      this.listing = true;
      const page = await this.options
        .list({ limit: this.options.pageSize ?? 500, continueToken })
        .finally(() => (this.listing = false));
      if (this.stopped) return;
      items.push(...page.items);
      // Every page of one list carries the snapshot's resourceVersion.
      resourceVersion ??= page.metadata?.resourceVersion;
      continueToken = page.metadata?._continue ?? page.metadata?.continue ?? undefined;
      if (continueToken === "") continueToken = undefined;
    } while (continueToken !== undefined);
    if (resourceVersion === undefined || resourceVersion === "") {
      throw new Error(`the list of ${this.options.what} has no resourceVersion`);
    }
    const listed = new Set<string>();
    for (const item of items) {
      const key = keyOf(item);
      listed.add(key);
      this.apply(key, item);
    }
    for (const [key, cached] of this.cache) {
      if (listed.has(key)) continue;
      this.cache.delete(key);
      this.call(() => this.handler.delete(cached));
    }
    this.resourceVersion = resourceVersion;
    const first = !this.synced;
    this.synced = true;
    this.call(() => this.handler.synced());
    if (!first) return;
    this.options.logger.info({ informer: this.options.what, objects: this.cache.size }, "informer synced");
    this.resolveSynced();
  }

  /** One watch from the current resourceVersion, until the server ends it or it fails (rejects). */
  private watchOnce(): Promise<WatchEnd> {
    return new Promise<WatchEnd>((resolve, reject) => {
      let settled = false;
      let expired = false;
      let eventful = false;
      let failure: Error | undefined;
      let controller: AbortController | undefined;
      // Ends this watch at once, even before its request has been answered (stop, an ERROR event).
      const abort = (): void => {
        controller?.abort();
        done(null);
      };
      const done = (error: unknown): void => {
        if (settled) return;
        settled = true;
        if (this.abortWatch === abort) this.abortWatch = undefined;
        if (this.stopped) return resolve({ expired: false, eventful });
        if (failure !== undefined) return reject(failure);
        if (expired || isGone(error)) return resolve({ expired: true, eventful });
        if (error !== null && error !== undefined) return reject(toError(error));
        resolve({ expired: false, eventful });
      };
      const onEvent = (type: string, object: unknown): void => {
        if (settled || this.stopped) return;
        eventful = true;
        if (type === "ERROR") {
          const status = object as { code?: number; message?: string } | null;
          if (status?.code === 410) expired = true;
          else
            failure = new Error(
              `watch of ${this.options.what} failed: ${status?.message ?? JSON.stringify(object)}`,
            );
          abort();
          return;
        }
        this.onWatchEvent(type, object as T);
      };
      const timeoutSeconds =
        WATCH_TIMEOUT_SECONDS.min +
        Math.floor(Math.random() * (WATCH_TIMEOUT_SECONDS.max - WATCH_TIMEOUT_SECONDS.min));
      this.abortWatch = abort;
      this.watcher
        .watch(
          this.options.path,
          {
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds,
            labelSelector: this.options.labelSelector,
          },
          onEvent,
          done,
        )
        .then(
          (started) => {
            controller = started;
            // `done` already ran when the request failed before the response began.
            if (settled || this.stopped) return started.abort();
            this.markHealthy();
          },
          (error: unknown) => done(error),
        );
    });
  }

  private onWatchEvent(type: string, object: T): void {
    const resourceVersion = object.metadata?.resourceVersion;
    switch (type) {
      case "ADDED":
      case "MODIFIED":
        this.apply(keyOf(object), object);
        break;
      case "DELETED": {
        const key = keyOf(object);
        if (this.cache.delete(key)) this.call(() => this.handler.delete(object));
        break;
      }
      case "BOOKMARK":
        break;
      default:
        return;
    }
    if (resourceVersion !== undefined && resourceVersion !== "") this.resourceVersion = resourceVersion;
  }

  private apply(key: string, object: T): void {
    // managedFields is often the largest part of an object and no informer here reads it.
    if (object.metadata !== undefined) delete object.metadata.managedFields;
    const cached = this.cache.get(key);
    if (cached !== undefined && cached.metadata?.resourceVersion === object.metadata?.resourceVersion) return;
    this.cache.set(key, object);
    this.call(() => this.handler.put(object));
  }

  private markHealthy(): void {
    if (this.failingSinceMs !== undefined) {
      this.options.logger.info(
        { informer: this.options.what, failedForMs: Math.round(this.clock.now() - this.failingSinceMs) },
        "informer recovered",
      );
    }
    this.failingSinceMs = undefined;
    this.lastError = undefined;
  }

  private call(deliver: () => void): void {
    try {
      deliver();
    } catch (error) {
      this.options.logger.error({ err: error, informer: this.options.what }, "informer handler threw");
    }
  }

  /** Full jitter in the upper half: initial · 2^attempt, capped, times [0.5, 1). */
  private backoffMs(attempt: number): number {
    const initialMs = this.options.initialBackoffMs ?? 500;
    const maxMs = this.options.maxBackoffMs ?? 30_000;
    const capped = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
    return capped * (0.5 + Math.random() / 2);
  }

  /** Waits `delayMs`, or less if `stop()` wakes it. */
  private sleep(delayMs: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const cancel = this.clock.setTimer(resolve, delayMs);
      this.wake = () => (cancel(), resolve());
    });
  }
}

/** "namespace/name" of an object (namespace empty for cluster-scoped ones). */
export function keyOf(object: KubernetesObject): string {
  return `${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? ""}`;
}

/** Whether `error` is the API server's "410 Gone": the resourceVersion or continue token is too old. */
function isGone(error: unknown): boolean {
  const candidate = error as { statusCode?: unknown; code?: unknown } | null | undefined;
  return candidate?.statusCode === 410 || candidate?.code === 410;
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
