// The gateway's EndpointSource on Kubernetes: each function's replica set from the EndpointSlices of
// its Service, from one informer over all watched namespaces.
import { DiscoveryV1Api, type V1EndpointConditions, type V1EndpointSlice } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { FUNCTION_LABEL, names, type FunctionRef } from "../../api/index.js";
import type { Endpoint, EndpointListener, EndpointSource, EndpointState } from "../ports.js";
import { keyOf, type ReflectorHandler } from "./reflector.js";
import { NamespacedInformer, type InformerOptions } from "./informers.js";

/** Set by Kubernetes on every slice of a Service: the Service's name. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
/**
 * Only the slices of Flint's Services: the EndpointSlice controller copies a Service's labels onto
 * its slices, and every function Service carries FUNCTION_LABEL. Other Services' slices (often most
 * of a cluster's) are neither listed nor watched.
 */
export const SLICE_SELECTOR = `${SERVICE_NAME_LABEL},${FUNCTION_LABEL}`;
/** The name of the Service port (and the watchdog's container port) calls go to. */
const HTTP_PORT_NAME = "http";

/**
 * What a replica's slice conditions mean to the gateway. `ready` unset counts as ready and
 * `terminating` unset as not terminating (the API's rules for an unknown condition).
 * - terminating → draining: it gets no new calls; its calls in flight finish (serving or not).
 * - ready → ready.
 * - otherwise → starting: the gateway probes GET /_/ready itself and uses it as soon as it answers,
 *   before the kubelet's readiness reaches the slice.
 */
export function endpointState(conditions: V1EndpointConditions | undefined): EndpointState {
  if (conditions?.terminating === true) return "draining";
  if (conditions?.ready ?? true) return "ready";
  return "starting";
}

/**
 * The replicas one slice lists: address[0] of each endpoint, the slice's `http` port (or its only
 * port), id the pod's name (or the address when the endpoint names no pod). No usable port: none.
 */
export function endpointsOfSlice(slice: V1EndpointSlice): Endpoint[] {
  const ports = slice.ports ?? [];
  const port = (
    ports.find((candidate) => candidate.name === HTTP_PORT_NAME) ??
    (ports.length === 1 ? ports[0] : undefined)
  )?.port;
  if (port === undefined || port === null) return [];
  const endpoints: Endpoint[] = [];
  for (const endpoint of slice.endpoints ?? []) {
    const host = endpoint.addresses?.[0];
    if (host === undefined || host === "") continue;
    endpoints.push({
      id: endpoint.targetRef?.name ?? host,
      host,
      port,
      state: endpointState(endpoint.conditions),
    });
  }
  return endpoints;
}

/** Which state wins when one replica is in two slices for a moment (a slice being rebalanced). */
const STATE_RANK: Record<EndpointState, number> = { starting: 0, ready: 1, draining: 2 };

/**
 * One function's replica set from its slices' endpoints: one entry per id, sorted by id. A replica
 * listed twice keeps its most advanced state (draining over ready over starting): termination
 * cannot be undone, and a stale "starting" copy must not hide a ready replica.
 */
export function mergeReplicaSet(slices: Iterable<readonly Endpoint[]>): Endpoint[] {
  const byId = new Map<string, Endpoint>();
  for (const endpoints of slices) {
    for (const endpoint of endpoints) {
      const seen = byId.get(endpoint.id);
      if (seen === undefined || STATE_RANK[endpoint.state] > STATE_RANK[seen.state])
        byId.set(endpoint.id, endpoint);
    }
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Whether two replica sets (as mergeReplicaSet returns them: sorted by id) are the same. */
export function sameReplicaSet(a: readonly Endpoint[], b: readonly Endpoint[]): boolean {
  return (
    a.length === b.length &&
    a.every((endpoint, i) => {
      const other = b[i];
      return (
        other !== undefined &&
        endpoint.id === other.id &&
        endpoint.host === other.host &&
        endpoint.port === other.port &&
        endpoint.state === other.state
      );
    })
  );
}

/**
 * Replica sets per Service, fed with slices (put, delete, synced) and read through `subscribe`.
 * Pure bookkeeping: no I/O, so the rules are tested without an API server. A listener gets a set at
 * once when it is known (after the first sync), then only when it differs from the last one it got.
 */
export class ReplicaSets implements EndpointSource, ReflectorHandler<V1EndpointSlice> {
  /** Service key ("namespace/service") → slice key → that slice's endpoints. */
  private readonly slices = new Map<string, Map<string, readonly Endpoint[]>>();
  /** Slice key → the Service key it was filed under (a slice's labels could change). */
  private readonly serviceOfSlice = new Map<string, string>();
  private readonly listeners = new Map<string, Set<EndpointListener>>();
  /** The set last delivered per Service key with listeners. */
  private readonly delivered = new Map<string, readonly Endpoint[]>();
  private known = false;

  constructor(private readonly logger: Logger) {}

  subscribe(ref: FunctionRef, listener: EndpointListener): () => void {
    const key = serviceKey(ref.namespace, names.service(ref));
    let listeners = this.listeners.get(key);
    if (listeners === undefined) this.listeners.set(key, (listeners = new Set()));
    listeners.add(listener);
    if (this.known) {
      const current = this.delivered.get(key) ?? this.compute(key);
      this.delivered.set(key, current);
      this.deliver(listener, key, current);
    }
    return () => {
      listeners.delete(listener);
      if (listeners.size > 0) return;
      this.listeners.delete(key);
      this.delivered.delete(key);
    };
  }

  put(slice: V1EndpointSlice): void {
    const sliceKey = keyOf(slice);
    const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    const previous = this.serviceOfSlice.get(sliceKey);
    if (previous !== undefined && previous !== serviceKeyOf(slice, service)) this.remove(sliceKey);
    if (service === undefined || service === "") return;
    const key = serviceKeyOf(slice, service);
    let slices = this.slices.get(key);
    if (slices === undefined) this.slices.set(key, (slices = new Map<string, readonly Endpoint[]>()));
    slices.set(sliceKey, Object.freeze(endpointsOfSlice(slice).map((endpoint) => Object.freeze(endpoint))));
    this.serviceOfSlice.set(sliceKey, key);
    this.changed(key);
  }

  delete(slice: V1EndpointSlice): void {
    this.remove(keyOf(slice));
  }

  /** Every set is known from the first sync on: deliver each watched one (empty when it has no slice). */
  synced(): void {
    if (this.known) return;
    this.known = true;
    for (const key of this.listeners.keys()) this.changed(key);
  }

  /** The current set of `ref`, whether or not anyone listens (for tests and debugging). */
  get(ref: FunctionRef): readonly Endpoint[] {
    return this.compute(serviceKey(ref.namespace, names.service(ref)));
  }

  private remove(sliceKey: string): void {
    const key = this.serviceOfSlice.get(sliceKey);
    if (key === undefined) return;
    this.serviceOfSlice.delete(sliceKey);
    const slices = this.slices.get(key);
    slices?.delete(sliceKey);
    if (slices?.size === 0) this.slices.delete(key);
    this.changed(key);
  }

  private compute(key: string): readonly Endpoint[] {
    return Object.freeze(mergeReplicaSet(this.slices.get(key)?.values() ?? []));
  }

  private changed(key: string): void {
    const listeners = this.listeners.get(key);
    if (!this.known || listeners === undefined) return;
    const current = this.compute(key);
    const last = this.delivered.get(key);
    if (last !== undefined && sameReplicaSet(last, current)) return;
    this.delivered.set(key, current);
    for (const listener of [...listeners]) this.deliver(listener, key, current);
  }

  private deliver(listener: EndpointListener, key: string, endpoints: readonly Endpoint[]): void {
    try {
      listener(endpoints);
    } catch (error) {
      this.logger.error({ err: error, service: key }, "endpoint listener threw");
    }
  }
}

export type EndpointSliceSourceOptions = InformerOptions;

/**
 * EndpointSource over EndpointSlices: one informer per watched namespace (one in all for "all"),
 * feeding one ReplicaSets. `start()` begins watching; `close()` stops.
 */
export class EndpointSliceSource implements EndpointSource {
  readonly informers: NamespacedInformer<V1EndpointSlice>;
  private readonly sets: ReplicaSets;

  constructor(options: EndpointSliceSourceOptions) {
    const logger = options.logger.child({ component: "endpointslices" });
    this.sets = new ReplicaSets(logger);
    const api = options.kubeConfig.makeApiClient(DiscoveryV1Api);
    this.informers = new NamespacedInformer<V1EndpointSlice>(
      { ...options, logger },
      {
        what: "endpointslices",
        path: (namespace) =>
          namespace === undefined
            ? "/apis/discovery.k8s.io/v1/endpointslices"
            : `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
        labelSelector: SLICE_SELECTOR,
        list: (namespace, { limit, continueToken }) =>
          namespace === undefined
            ? api.listEndpointSliceForAllNamespaces({
                labelSelector: SLICE_SELECTOR,
                limit,
                _continue: continueToken,
              })
            : api.listNamespacedEndpointSlice({
                namespace,
                labelSelector: SLICE_SELECTOR,
                limit,
                _continue: continueToken,
              }),
      },
      {
        put: (slice) => this.sets.put(slice),
        delete: (slice) => this.sets.delete(slice),
        // The sets are known once every namespace has been listed.
        synced: () => this.sets.synced(),
      },
    );
  }

  subscribe(ref: FunctionRef, listener: EndpointListener): () => void {
    return this.sets.subscribe(ref, listener);
  }

  /** `ref`'s current replica set. */
  get(ref: FunctionRef): readonly Endpoint[] {
    return this.sets.get(ref);
  }

  start(): void {
    this.informers.start();
  }

  close(): Promise<void> {
    return this.informers.stop();
  }
}

function serviceKey(namespace: string, service: string): string {
  return `${namespace}/${service}`;
}

function serviceKeyOf(slice: V1EndpointSlice, service: string | undefined): string {
  return serviceKey(slice.metadata?.namespace ?? "", service ?? "");
}
