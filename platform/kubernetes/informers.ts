// Several informers seen as one (one per watched namespace): started, stopped, synced and healthy together.
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Clock } from "../ports.js";
import type { WatchedNamespaces } from "./config.js";
import type { Informer } from "./reflector.js";

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
