// A watch that keeps a local cache of one kind and survives errors: an informer error means it has
// stopped, so it is restarted with capped backoff, and its health shows in /readyz (STYLE.md).
import {
  makeInformer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Clock } from "../platform/ports.js";
import type { ObjectLister } from "./reconciler.js";

export type InformerEvent = "add" | "update" | "delete";

export interface ResilientInformerOptions<T extends KubernetesObject> {
  /** The watch path, e.g. /apis/apps/v1/deployments or /apis/apps/v1/namespaces/x/deployments. */
  readonly path: string;
  readonly list: () => Promise<KubernetesListObject<T>>;
  readonly labelSelector?: string;
  readonly onEvent: (event: InformerEvent, object: T) => void;
  readonly clock: Clock;
  readonly logger: Logger;
  /** First and longest restart delay after an error, in ms. */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

export class ResilientInformer<T extends KubernetesObject> implements ObjectLister<T> {
  private readonly informer: ReturnType<typeof makeInformer<T>>;
  private failures = 0;
  private cancelRestart: (() => void) | undefined;
  private stopped = false;
  /** Listed at least once and not failed since. */
  healthy = false;

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: ResilientInformerOptions<T>,
  ) {
    this.informer = makeInformer(kubeConfig, options.path, options.list, options.labelSelector);
    for (const event of ["add", "update", "delete"] as const) {
      this.informer.on(event, (object: T) => options.onEvent(event, object));
    }
    this.informer.on("connect", () => {
      this.healthy = true;
      this.failures = 0;
    });
    this.informer.on("error", (error: unknown) => this.restart(error));
  }

  async start(): Promise<void> {
    this.stopped = false;
    try {
      await this.informer.start();
      this.healthy = true;
    } catch (error) {
      this.restart(error);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelRestart?.();
    await this.informer.stop();
  }

  get(namespace: string, name: string): T | undefined {
    return this.informer.get(name, namespace);
  }

  list(): T[] {
    return [...this.informer.list()];
  }

  private restart(error: unknown): void {
    this.healthy = false;
    if (this.stopped || this.cancelRestart !== undefined) return;
    this.failures++;
    const min = this.options.minBackoffMs ?? 500;
    const max = this.options.maxBackoffMs ?? 30_000;
    const delayMs = Math.min(max, min * 2 ** Math.min(this.failures - 1, 16));
    this.options.logger.warn(
      {
        path: this.options.path,
        err: error instanceof Error ? error.message : String(error),
        retryInMs: delayMs,
      },
      "watch failed; restarting",
    );
    this.cancelRestart = this.options.clock.setTimer(() => {
      this.cancelRestart = undefined;
      if (!this.stopped) void this.start();
    }, delayMs);
  }
}
