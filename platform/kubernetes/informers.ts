// Several informers seen as one (one per watched namespace): started, stopped, synced and healthy
// together; and the one way every Kubernetes adapter (the gateway's EndpointSlices and Functions,
// the controller's Functions, Deployments and Services) watches a collection in those namespaces.
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Clock } from "../ports.js";
import type { WatchedNamespaces } from "./config.js";
import { Reflector, type Informer, type ListPage, type ReflectorHandler } from "./reflector.js";

/** What an adapter built on informers (the EndpointSlice source, the Function store) is given. */
export interface InformerOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespaces: WatchedNamespaces;
  readonly logger: Logger;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** First delay after an informer error, in ms; doubled per failure. Default 500 (tests shorten it). */
  readonly initialBackoffMs?: number;
  /** Longest delay between an informer's attempts, in ms. Default 30 s. */
  readonly maxBackoffMs?: number;
}

export class InformerGroup {
  constructor(private readonly informers: readonly Informer[]) {}

  start(): void {
    for (const informer of this.informers) informer.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((informer) => informer.stop()));
  }

  /** Every informer has listed once. */
  synced(): boolean {
    return this.informers.every((informer) => informer.health().synced);
  }

  /** Every informer has listed once and none is failing now. */
  healthy(): boolean {
    return this.informers.every((informer) => {
      const health = informer.health();
      return health.synced && health.failingSinceMs === undefined;
    });
  }

  /** When the oldest failure still in progress began (epoch ms), or undefined when none is failing. */
  failingSinceMs(): number | undefined {
    let oldest: number | undefined;
    for (const informer of this.informers) {
      const since = informer.health().failingSinceMs;
      if (since !== undefined && (oldest === undefined || since < oldest)) oldest = since;
    }
    return oldest;
  }

  /** Resolves once every informer has listed once. */
  async whenSynced(): Promise<void> {
    await Promise.all(this.informers.map((informer) => informer.whenSynced()));
  }
}

/** One kind of object to watch, with the same label selector in every namespace. */
export interface WatchedCollection<T> {
  /** The collection's plural for logs, e.g. "endpointslices". */
  readonly what: string;
  /** Its path in `namespace`, or across all namespaces when undefined (for the watch). */
  path(namespace: string | undefined): string;
  /** Restricts list and watch to labelled objects. */
  readonly labelSelector?: string;
  /** Lists one page in `namespace` (all when undefined), with the same selector. */
  list(
    namespace: string | undefined,
    page: { limit: number; continueToken: string | undefined },
  ): Promise<ListPage<T>>;
}

/**
 * One Reflector per watched namespace (one for "all") over one collection, feeding one handler and
 * read as one cache. The handler's `synced` is called each time a reflector finishes a list while
 * every reflector of the group has listed at least once.
 */
export class NamespacedInformer<T extends KubernetesObject> extends InformerGroup {
  private readonly reflectors: readonly Reflector<T>[];
  /** The reflector of each watched namespace; one under "" when watching all. */
  private readonly byNamespace: ReadonlyMap<string, Reflector<T>>;

  constructor(options: InformerOptions, collection: WatchedCollection<T>, handler: ReflectorHandler<T>) {
    const scopes = options.namespaces === "all" ? [undefined] : options.namespaces;
    const everySynced = (): boolean => reflectors.every((reflector) => reflector.health().synced);
    const reflectors: Reflector<T>[] = scopes.map(
      (namespace) =>
        new Reflector<T>(
          {
            what: namespace === undefined ? collection.what : `${collection.what} in ${namespace}`,
            kubeConfig: options.kubeConfig,
            path: collection.path(namespace),
            ...(collection.labelSelector === undefined ? {} : { labelSelector: collection.labelSelector }),
            list: (page) => collection.list(namespace, page),
            logger: options.logger,
            clock: options.clock,
            initialBackoffMs: options.initialBackoffMs,
            maxBackoffMs: options.maxBackoffMs,
          },
          {
            put: (object) => handler.put(object),
            delete: (object) => handler.delete(object),
            synced: () => {
              if (everySynced()) handler.synced();
            },
          },
        ),
    );
    super(reflectors);
    this.reflectors = reflectors;
    this.byNamespace = new Map(scopes.map((namespace, i) => [namespace ?? "", reflectors[i]!]));
  }

  /** The object as last seen, or undefined (also for a namespace that is not watched). */
  get(namespace: string, name: string): T | undefined {
    return (this.byNamespace.get(namespace) ?? this.byNamespace.get(""))?.get(namespace, name);
  }

  /** Every object as last seen, in every watched namespace. */
  list(): T[] {
    return this.reflectors.flatMap((reflector) => [...reflector.objects()]);
  }
}
