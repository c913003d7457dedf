// The gateway's ports on Kubernetes, assembled: Functions from custom resources, replicas from
// EndpointSlices, samples and scale requests over NATS, and the readiness of the informers.
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { systemClock } from "../clock.js";
import { connectNatsBus, type NatsBus } from "../nats-bus.js";
import type { Bus, Clock, EndpointSource, FunctionStore, ScaleTarget } from "../ports.js";
import type { KubernetesGatewayConfig } from "./config.js";
import { EndpointSliceSource } from "./endpoints.js";
import { CustomResourceFunctionStore } from "./function-store.js";
import type { InformerGroup } from "./informers.js";

/** What a platform gives createGateway, and how main asks after it and closes it. */
export interface PlatformPorts {
  readonly store: FunctionStore;
  readonly endpoints: EndpointSource;
  readonly scaleTarget: ScaleTarget;
  readonly bus: Bus;
  /** For GET /system/info. */
  readonly platform: string;
  /** Whether the platform's view is good enough to take traffic (for /readyz). */
  ready(): boolean;
  /** Stops watches and closes connections; after the gateway has closed. */
  close(): Promise<void>;
}

export interface KubernetesPlatformOptions {
  /** Usually KubeConfig.loadFromDefault(): in-cluster with the pod's ServiceAccount. */
  readonly kubeConfig: KubeConfig;
  readonly config: KubernetesGatewayConfig;
  readonly logger: Logger;
  /** Names this gateway's NATS connection (its instance id). */
  readonly name: string;
  readonly clock?: Clock;
  /** Informer backoff after an error, in ms (tests shorten it). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

export interface KubernetesPlatform extends PlatformPorts {
  /** The CR store itself (the gateway gets `store`, whose "synced" also waits for the EndpointSlices). */
  readonly functions: CustomResourceFunctionStore;
  readonly endpoints: EndpointSliceSource;
  readonly bus: NatsBus;
}

/**
 * Connects to NATS (rejects when it cannot) and starts the EndpointSlice informer; the Function
 * informer starts when the gateway first watches the store.
 */
export async function openKubernetesPlatform(
  options: KubernetesPlatformOptions,
): Promise<KubernetesPlatform> {
  const { kubeConfig, config, logger } = options;
  const clock = options.clock ?? systemClock;
  const bus = await connectNatsBus(config.natsUrl, { logger, name: options.name });
  const informerOptions = {
    kubeConfig,
    namespaces: config.namespaces,
    logger,
    clock,
    initialBackoffMs: options.initialBackoffMs,
    maxBackoffMs: options.maxBackoffMs,
  };
  const endpoints = new EndpointSliceSource(informerOptions);
  const functions = new CustomResourceFunctionStore(informerOptions);
  endpoints.start();
  const informers = [functions.informers, endpoints.informers];
  return {
    functions,
    store: syncedAfter(functions, endpoints.informers.whenSynced()),
    endpoints,
    scaleTarget: bus,
    bus,
    platform: "kubernetes",
    ready: () => informersReady(informers, clock.now(), config.informerGraceMs),
    close: async () => {
      await Promise.all([functions.close(), endpoints.close()]);
      await bus.close();
    },
  };
}

/**
 * Every informer has synced, and none has been failing for `graceMs` or longer. Within the grace the
 * gateway routes from what it last saw: an API server restart should not take every gateway out of
 * its Service at once.
 */
export function informersReady(groups: readonly InformerGroup[], nowMs: number, graceMs: number): boolean {
  return groups.every((group) => {
    if (!group.synced()) return false;
    const since = group.failingSinceMs();
    return since === undefined || nowMs - since < graceMs;
  });
}

/**
 * `store` with its watch's "synced" held back until `ready` resolves, so the gateway does not call
 * itself ready while it knows the functions but not yet their replicas (every call would look like a
 * cold start and poke the autoscaler for nothing).
 */
export function syncedAfter(store: FunctionStore, ready: Promise<void>): FunctionStore {
  return {
    get: (ref) => store.get(ref),
    list: (namespace) => store.list(namespace),
    create: (fn) => store.create(fn),
    update: (fn) => store.update(fn),
    delete: (ref) => store.delete(ref),
    watch(listener) {
      let stopped = false;
      const stop = store.watch((event) => {
        if (event.type !== "synced") return listener(event);
        void ready.then(() => {
          if (!stopped) listener(event);
        });
      });
      return () => {
        stopped = true;
        stop();
      };
    },
  };
}
