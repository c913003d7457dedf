// Pure builders of the Kubernetes objects that run a Function: its Deployment and Service, plus the
// helpers the reconciler uses to decide whether an existing object needs rewriting. No I/O here.
import type {
  V1Container,
  V1Deployment,
  V1EnvVar,
  V1Lifecycle,
  V1ObjectMeta,
  V1OwnerReference,
  V1Probe,
  V1ResourceRequirements,
  V1SecurityContext,
  V1Service,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import {
  DEFAULT_UPSTREAM_PORT,
  FUNCTION_API,
  SPEC_HASH_ANNOTATION,
  names,
  parseDurationMs,
  watchdogEnv,
  type FunctionResource,
  type ResourceRequirements,
} from "../api/index.js";
import type { ContainerResources, ControllerConfig } from "./config.js";
import { ImageMissingError, PortConflictError } from "./errors.js";
import { contentHash } from "./hash.js";

/** The watchdog's port in every function pod (FLINT_PORT), named `http`; the Service targets it. */
export const WATCHDOG_PORT = 8080;
/** The port of a function's Service. */
export const SERVICE_PORT = 80;
/**
 * The user and group function containers run as, whatever the image says: not root, and above the
 * range distributions give system and login users (so it owns nothing on a host by accident).
 */
export const FUNCTION_UID = 10001;
/** Where `spec.secrets` are mounted: `<dir>/<secret name>/<key>`. */
export const SECRETS_DIR = "/var/flint/secrets";
/**
 * Seconds added to the function's timeout for terminationGracePeriodSeconds: the watchdog drains
 * calls in flight for up to the timeout after SIGTERM, and then needs a moment to exit.
 */
export const TERMINATION_MARGIN_SECONDS = 10;
/**
 * Seconds a deleted pod keeps serving before its containers get SIGTERM (a preStop sleep). The
 * endpoint goes terminating at once, but the gateway learns it through an EndpointSlice watch;
 * a watchdog that stopped listening at SIGTERM would meanwhile fail the calls still sent to it (a
 * rollout or scale-down under load, Knative #15211). The gateway's own shutdownDelay is 5 s too.
 */
export const PRE_STOP_SLEEP_SECONDS = 5;
/** The container that runs the function's image (named for `kubectl logs -c`). */
export const FUNCTION_CONTAINER = "function";
/** The watchdog container in front of an http-mode image (sidecar layout only). */
export const WATCHDOG_CONTAINER = "watchdog";
/** Identifies Flint's controller as the manager of the objects it makes. */
export const MANAGED_BY = "flint-controller";

/** Labels on every object made for `fn`: the stable selector plus the app.kubernetes.io set. */
export function functionLabels(fn: FunctionResource): Record<string, string> {
  return {
    ...names.selector(fn.metadata),
    "app.kubernetes.io/name": fn.metadata.name,
    "app.kubernetes.io/component": "function",
    "app.kubernetes.io/part-of": "flint",
    "app.kubernetes.io/managed-by": MANAGED_BY,
  };
}

/** Makes the Function the controlling owner, so deleting it deletes what Flint made for it. */
export function ownerReference(fn: FunctionResource): V1OwnerReference {
  const uid = fn.metadata.uid;
  if (uid === undefined || uid === "") {
    // Only a Function read from the API server can own objects; a parsed manifest has no uid yet.
    throw new TypeError(`Function ${fn.metadata.namespace}/${fn.metadata.name} has no metadata.uid`);
  }
  return {
    apiVersion: FUNCTION_API.apiVersion,
    kind: FUNCTION_API.kind,
    name: fn.metadata.name,
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Whether `fn` is the controlling owner of `object` (an object Flint may update). */
export function isOwnedBy(object: { metadata?: V1ObjectMeta }, fn: FunctionResource): boolean {
  return (object.metadata?.ownerReferences ?? []).some(
    (owner) => owner.controller === true && owner.uid === fn.metadata.uid,
  );
}

/**
 * Replicas of a Deployment Flint creates for `fn`: `cfg.initialScale` (1 by default) kept within
 * spec.scale.min..max. Used on creation only; after that the autoscaler owns replicas
 * (docs/adr/0007-initial-replicas-and-ownership-of-replicas.md).
 */
export function initialReplicas(fn: FunctionResource, cfg: Pick<ControllerConfig, "initialScale">): number {
  const { min, max } = fn.spec.scale;
  return Math.max(min, Math.min(cfg.initialScale, max));
}

/**
 * The Deployment that runs `fn`. Throws a FunctionProblem (ImageMissingError, PortConflictError)
 * for a spec Kubernetes cannot run; the reconciler reports it as ConfigValid=False.
 */
export function makeDeployment(fn: FunctionResource, cfg: ControllerConfig): V1Deployment {
  const image = fn.spec.image;
  if (image === undefined || image === "") throw new ImageMissingError();
  const { handler } = fn.spec;
  const upstreamPort = handler.port ?? DEFAULT_UPSTREAM_PORT;
  if (handler.mode === "http" && upstreamPort === WATCHDOG_PORT) throw new PortConflictError(upstreamPort);

  const secretVolumes = (fn.spec.secrets ?? []).map((secret, index) => ({
    secret,
    volume: `secret-${index}`,
  }));
  const secretMounts: V1VolumeMount[] = secretVolumes.map(({ secret, volume }) => ({
    name: volume,
    mountPath: `${SECRETS_DIR}/${secret}`,
    readOnly: true,
  }));
  const volumes: V1Volume[] = [
    // The root filesystem is read-only; /tmp is the one writable place (HOME points at it too).
    { name: "tmp", emptyDir: {} },
    ...secretVolumes.map(({ secret, volume }) => ({
      name: volume,
      // 0440 with fsGroup: readable by the function's group only.
      secret: { secretName: secret, defaultMode: 0o440 },
    })),
  ];
  const resources = containerResources(fn.spec.resources, cfg.defaultResources);
  const allEnv = watchdogEnv(fn);

  // http mode without a command: the image serves HTTP itself and the watchdog sits in front of it in
  // the same pod (docs/adr/0007). Otherwise the image is built FROM the watchdog base image, whose
  // entrypoint is the watchdog, and one container does it all.
  const sidecar = handler.mode === "http" && handler.command === undefined;
  const containers: V1Container[] = sidecar
    ? [
        {
          ...watchdogContainer(cfg),
          name: WATCHDOG_CONTAINER,
          image: cfg.watchdogImage,
          // Only the watchdog's own settings: the function's env belongs to the function's container.
          env: envList({ ...onlyWatchdogSettings(allEnv), FLINT_PORT: String(WATCHDOG_PORT) }),
          resources: containerResources(undefined, cfg.sidecarResources),
          volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
        },
        {
          name: FUNCTION_CONTAINER,
          image,
          ...(cfg.imagePullPolicy !== undefined && { imagePullPolicy: cfg.imagePullPolicy }),
          env: envList({ HOME: "/tmp", ...userEnv(fn), PORT: String(upstreamPort) }),
          ports: [{ name: "upstream", containerPort: upstreamPort, protocol: "TCP" }],
          resources,
          securityContext: containerSecurityContext(),
          terminationMessagePolicy: "FallbackToLogsOnError",
          // Serves as long as the watchdog in front of it does.
          lifecycle: preStopSleep(),
          volumeMounts: [{ name: "tmp", mountPath: "/tmp" }, ...secretMounts],
        },
      ]
    : [
        {
          ...watchdogContainer(cfg),
          name: FUNCTION_CONTAINER,
          image,
          env: envList({ HOME: "/tmp", ...allEnv, FLINT_PORT: String(WATCHDOG_PORT) }),
          resources,
          volumeMounts: [{ name: "tmp", mountPath: "/tmp" }, ...secretMounts],
        },
      ];

  const labels = functionLabels(fn);
  const deployment: V1Deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: objectMeta(fn, names.deployment(fn.metadata), labels),
    spec: {
      replicas: initialReplicas(fn, cfg),
      selector: { matchLabels: names.selector(fn.metadata) },
      // Never below the current capacity during a rollout: the gateway sends only to ready
      // endpoints, so a new pod must be ready before an old one goes.
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: "25%" } },
      revisionHistoryLimit: 3,
      progressDeadlineSeconds: cfg.progressDeadlineSeconds,
      template: {
        metadata: {
          labels,
          annotations: { "kubectl.kubernetes.io/default-container": FUNCTION_CONTAINER },
        },
        spec: {
          containers,
          volumes,
          // The preStop sleep counts against the grace period, then the drain of calls in flight.
          terminationGracePeriodSeconds:
            PRE_STOP_SLEEP_SECONDS +
            Math.ceil(parseDurationMs(fn.spec.timeout) / 1000) +
            TERMINATION_MARGIN_SECONDS,
          // Functions do not talk to the API server, and do not need every Service's address in env.
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: FUNCTION_UID,
            runAsGroup: FUNCTION_UID,
            fsGroup: FUNCTION_UID,
            seccompProfile: { type: "RuntimeDefault" },
          },
        },
      },
    },
  };
  return withSpecHash(deployment);
}

/** The ClusterIP Service in front of `fn`'s pods; the gateway watches its EndpointSlices. */
export function makeService(fn: FunctionResource): V1Service {
  const service: V1Service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: objectMeta(fn, names.service(fn.metadata), functionLabels(fn)),
    spec: {
      type: "ClusterIP",
      selector: names.selector(fn.metadata),
      ports: [{ name: "http", port: SERVICE_PORT, targetPort: "http", protocol: "TCP" }],
    },
  };
  return withSpecHash(service);
}

/**
 * Whether `existing` differs from what the builders want now, by the spec-hash annotation. The
 * hash leaves out replicas, so the autoscaler's writes never look like drift.
 */
export function needsUpdate(
  existing: { metadata?: V1ObjectMeta },
  desired: { metadata?: V1ObjectMeta },
): boolean {
  const want = desired.metadata?.annotations?.[SPEC_HASH_ANNOTATION];
  return want === undefined || existing.metadata?.annotations?.[SPEC_HASH_ANNOTATION] !== want;
}

/**
 * The object to send in an update: `desired`, on top of `existing`'s identity (resourceVersion,
 * uid), with the labels and annotations others put on it kept. A Deployment keeps its current
 * replicas (the autoscaler's); a Service keeps the cluster IPs the API server allocated.
 */
export function mergeForUpdate(existing: V1Deployment, desired: V1Deployment): V1Deployment;
export function mergeForUpdate(existing: V1Service, desired: V1Service): V1Service;
export function mergeForUpdate(
  existing: V1Deployment | V1Service,
  desired: V1Deployment | V1Service,
): V1Deployment | V1Service {
  const metadata: V1ObjectMeta = {
    ...existing.metadata,
    labels: { ...existing.metadata?.labels, ...desired.metadata?.labels },
    annotations: { ...existing.metadata?.annotations, ...desired.metadata?.annotations },
    ownerReferences: desired.metadata?.ownerReferences ?? [],
  };
  if (desired.kind === "Deployment") {
    const current = existing as V1Deployment;
    const want = desired as V1Deployment;
    const spec = want.spec;
    if (spec === undefined) throw new TypeError("a desired Deployment has a spec");
    return { ...want, metadata, spec: { ...spec, replicas: current.spec?.replicas ?? spec.replicas } };
  }
  const current = existing as V1Service;
  const want = desired as V1Service;
  const allocated = current.spec ?? {};
  return {
    ...want,
    metadata,
    spec: {
      ...want.spec,
      ...(allocated.clusterIP !== undefined && { clusterIP: allocated.clusterIP }),
      ...(allocated.clusterIPs !== undefined && { clusterIPs: allocated.clusterIPs }),
      ...(allocated.ipFamilies !== undefined && { ipFamilies: allocated.ipFamilies }),
      ...(allocated.ipFamilyPolicy !== undefined && { ipFamilyPolicy: allocated.ipFamilyPolicy }),
    },
  };
}

/** The watchdog's part of a container: port, probes and the hardened security context. */
function watchdogContainer(cfg: ControllerConfig): Omit<V1Container, "name"> {
  return {
    ...(cfg.imagePullPolicy !== undefined && { imagePullPolicy: cfg.imagePullPolicy }),
    ports: [{ name: "http", containerPort: WATCHDOG_PORT, protocol: "TCP" }],
    // Every second: a replica starting from zero has calls waiting for it (the gateway also probes
    // the pod itself, but Endpoints follow this probe).
    readinessProbe: probe("/_/ready", { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 3 }),
    // Lenient: a minute of failures before a restart, so a busy replica is not killed mid-call.
    livenessProbe: probe("/_/health", { periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 }),
    securityContext: containerSecurityContext(),
    terminationMessagePolicy: "FallbackToLogsOnError",
    lifecycle: preStopSleep(),
  };
}

/** Keep serving for PRE_STOP_SLEEP_SECONDS after deletion, until the gateway has stopped sending. */
function preStopSleep(): V1Lifecycle {
  return { preStop: { sleep: { seconds: PRE_STOP_SLEEP_SECONDS } } };
}

function probe(
  path: string,
  timing: Pick<V1Probe, "periodSeconds" | "timeoutSeconds" | "failureThreshold">,
): V1Probe {
  return { httpGet: { path, port: "http", scheme: "HTTP" }, successThreshold: 1, ...timing };
}

function containerSecurityContext(): V1SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: FUNCTION_UID,
    runAsGroup: FUNCTION_UID,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/**
 * A container's resources: for each of cpu and memory, the Function's own request and limit if it
 * sets either, else the defaults. Mixing (a default limit under a user's request) could make an
 * invalid pod, so a resource is taken whole from one side.
 */
function containerResources(
  spec: ResourceRequirements | undefined,
  defaults: ContainerResources,
): V1ResourceRequirements {
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  for (const resource of ["cpu", "memory"] as const) {
    const own = spec?.requests?.[resource] !== undefined || spec?.limits?.[resource] !== undefined;
    const request = own ? spec?.requests?.[resource] : defaults.requests[resource];
    const limit = own ? spec?.limits?.[resource] : defaults.limits[resource];
    if (request !== undefined) requests[resource] = request;
    if (limit !== undefined) limits[resource] = limit;
  }
  return {
    ...(Object.keys(requests).length > 0 && { requests }),
    ...(Object.keys(limits).length > 0 && { limits }),
  };
}

/** The function's own variables (spec.env), in order. */
function userEnv(fn: FunctionResource): Record<string, string> {
  return Object.fromEntries((fn.spec.env ?? []).map((variable) => [variable.name, variable.value ?? ""]));
}

/** The FLINT_* part of watchdogEnv (the CRD reserves the prefix, so no user variable is dropped). */
function onlyWatchdogSettings(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith("FLINT_")));
}

function envList(env: Record<string, string>): V1EnvVar[] {
  return Object.entries(env).map(([name, value]) => ({ name, value }));
}

function objectMeta(fn: FunctionResource, name: string, labels: Record<string, string>): V1ObjectMeta {
  return { name, namespace: fn.metadata.namespace, labels, ownerReferences: [ownerReference(fn)] };
}

/**
 * Sets the spec-hash annotation to the hash of everything in `object` but replicas (which the
 * autoscaler owns) and the annotation itself.
 */
function withSpecHash<T extends V1Deployment | V1Service>(object: T): T {
  const hashed =
    object.kind === "Deployment"
      ? { ...object, spec: { ...(object as V1Deployment).spec, replicas: undefined } }
      : object;
  const hash = contentHash(hashed);
  return {
    ...object,
    metadata: {
      ...object.metadata,
      annotations: { ...object.metadata?.annotations, [SPEC_HASH_ANNOTATION]: hash },
    },
  };
}
