// The Function controller on a cluster: informers on Functions and on the Deployments and Services
// they own (all namespaces or a list), a work queue of Function keys, and the reconciler.
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1Deployment,
  type V1Service,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { FUNCTION_API, FUNCTION_LABEL, functionKey, type FunctionResource } from "../api/index.js";
import type { Clock } from "../platform/ports.js";
import type { ControllerConfig } from "./config.js";
import { ResilientInformer, type InformerEvent } from "./informer.js";
import {
  AlreadyExistsError,
  FunctionReconciler,
  type ClusterWriter,
  type ObjectLister,
} from "./reconciler.js";
import { DEFAULT_WORKQUEUE_OPTIONS, WorkQueue } from "./workqueue.js";

const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** Whether `error` is the API server answering `status`. */
export function isStatus(error: unknown, status: number): boolean {
  return error instanceof ApiException && error.code === status;
}

/** Writes through the Kubernetes API. */
export class KubernetesWriter implements ClusterWriter {
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;

  constructor(kubeConfig: KubeConfig) {
    this.apps = kubeConfig.makeApiClient(AppsV1Api);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  readDeployment(namespace: string, name: string): Promise<V1Deployment> {
    return this.apps.readNamespacedDeployment({ namespace, name });
  }

  readService(namespace: string, name: string): Promise<V1Service> {
    return this.core.readNamespacedService({ namespace, name });
  }

  createDeployment(namespace: string, body: V1Deployment): Promise<V1Deployment> {
    return this.apps.createNamespacedDeployment({ namespace, body }).catch((error: unknown) => {
      throw isStatus(error, 409)
        ? new AlreadyExistsError("Deployment", namespace, body.metadata?.name ?? "")
        : error;
    });
  }

  replaceDeployment(namespace: string, name: string, body: V1Deployment): Promise<V1Deployment> {
    return this.apps.replaceNamespacedDeployment({ namespace, name, body });
  }

  createService(namespace: string, body: V1Service): Promise<V1Service> {
    return this.core.createNamespacedService({ namespace, body }).catch((error: unknown) => {
      throw isStatus(error, 409)
        ? new AlreadyExistsError("Service", namespace, body.metadata?.name ?? "")
        : error;
    });
  }

  replaceService(namespace: string, name: string, body: V1Service): Promise<V1Service> {
    return this.core.replaceNamespacedService({ namespace, name, body });
  }

  async writeStatus(fn: FunctionResource, status: FunctionResource["status"]): Promise<void> {
    await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: FUNCTION_API.group,
        version: FUNCTION_API.version,
        plural: FUNCTION_API.plural,
        namespace: fn.metadata.namespace,
        name: fn.metadata.name,
        body: { status },
      },
      MERGE_PATCH,
    );
  }

  /** The autoscaler's one write: the Deployment's scale subresource, merge patch. */
  async scaleDeployment(namespace: string, name: string, replicas: number): Promise<void> {
    await this.apps.patchNamespacedDeploymentScale(
      { namespace, name, body: { spec: { replicas } } },
      MERGE_PATCH,
    );
  }
}

/** Informers of one kind over the watched namespaces, read as one cache. */
class InformerSet<T extends KubernetesObject> implements ObjectLister<T> {
  constructor(readonly informers: Map<string, ResilientInformer<T>>) {}

  get(namespace: string, name: string): T | undefined {
    return (this.informers.get(namespace) ?? this.informers.get("*"))?.get(namespace, name);
  }

  list(): T[] {
    return [...this.informers.values()].flatMap((informer) => informer.list());
  }

  get healthy(): boolean {
    return [...this.informers.values()].every((informer) => informer.healthy);
  }

  start(): Promise<void[]> {
    return Promise.all([...this.informers.values()].map((informer) => informer.start()));
  }

  stop(): Promise<void[]> {
    return Promise.all([...this.informers.values()].map((informer) => informer.stop()));
  }
}

export interface FunctionControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly config: ControllerConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Told of every Function change, for the autoscaler loop. */
  readonly onFunction?: (event: InformerEvent, fn: FunctionResource) => void;
}

/**
 * Functions as the informer holds them: raw JSON, so timestamps stay strings (the generated
 * FunctionResource type), unlike client-node's typed objects whose timestamps are Dates.
 */
type FunctionObject = KubernetesObject;
const asFunction = (object: FunctionObject): FunctionResource => object as unknown as FunctionResource;

export class FunctionController {
  readonly functionInformers: InformerSet<FunctionObject>;
  readonly functions: ObjectLister<FunctionResource> & { list(): FunctionResource[] };
  readonly deployments: InformerSet<V1Deployment>;
  readonly services: InformerSet<V1Service>;
  readonly writer: KubernetesWriter;
  readonly queue: WorkQueue;
  readonly reconciler: FunctionReconciler;

  constructor(private readonly options: FunctionControllerOptions) {
    const { kubeConfig, config, clock, logger } = options;
    this.writer = new KubernetesWriter(kubeConfig);
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const custom = kubeConfig.makeApiClient(CustomObjectsApi);
    const scopes: string[] = config.namespaces === "all" ? ["*"] : [...config.namespaces];
    const selector = FUNCTION_LABEL;
    const informerOptions = { clock, logger };

    const make = <T extends KubernetesObject>(
      path: (scope: string) => string,
      list: (scope: string) => Promise<KubernetesListObject<T>>,
      onEvent: (event: InformerEvent, object: T) => void,
      labelSelector?: string,
    ): InformerSet<T> =>
      new InformerSet(
        new Map(
          scopes.map((scope) => [
            scope,
            new ResilientInformer<T>(kubeConfig, {
              ...informerOptions,
              path: path(scope),
              list: () => list(scope),
              onEvent,
              ...(labelSelector === undefined ? {} : { labelSelector }),
            }),
          ]),
        ),
      );

    const crd = { group: FUNCTION_API.group, version: FUNCTION_API.version, plural: FUNCTION_API.plural };
    const within = (scope: string, kind: string, group: string): string =>
      scope === "*" ? `${group}/${kind}` : `${group}/namespaces/${scope}/${kind}`;

    const functionInformers = make<FunctionObject>(
      (scope) => within(scope, FUNCTION_API.plural, `/apis/${FUNCTION_API.group}/${FUNCTION_API.version}`),
      async (scope) =>
        (scope === "*"
          ? await custom.listClusterCustomObject(crd)
          : await custom.listNamespacedCustomObject({
              ...crd,
              namespace: scope,
            })) as KubernetesListObject<FunctionObject>,
      (event, object) => {
        const fn = asFunction(object);
        this.options.onFunction?.(event, fn);
        if (event !== "delete") this.queue.add(functionKey(fn.metadata));
      },
    );
    this.functionInformers = functionInformers;
    this.functions = {
      get: (namespace, name) => {
        const object = functionInformers.get(namespace, name);
        return object === undefined ? undefined : asFunction(object);
      },
      list: () => functionInformers.list().map(asFunction),
    };
    const owner = (object: KubernetesObject): void => {
      const name = object.metadata?.labels?.[FUNCTION_LABEL];
      const namespace = object.metadata?.namespace;
      if (name !== undefined && namespace !== undefined) this.queue.add(`${namespace}/${name}`);
    };
    this.deployments = make<V1Deployment>(
      (scope) => within(scope, "deployments", "/apis/apps/v1"),
      (scope) =>
        scope === "*"
          ? apps.listDeploymentForAllNamespaces({ labelSelector: selector })
          : apps.listNamespacedDeployment({ namespace: scope, labelSelector: selector }),
      (_event, deployment) => owner(deployment),
      selector,
    );
    this.services = make<V1Service>(
      (scope) => within(scope, "services", "/api/v1"),
      (scope) =>
        scope === "*"
          ? core.listServiceForAllNamespaces({ labelSelector: selector })
          : core.listNamespacedService({ namespace: scope, labelSelector: selector }),
      (_event, service) => owner(service),
      selector,
    );

    this.reconciler = new FunctionReconciler({
      functions: this.functions,
      deployments: this.deployments,
      services: this.services,
      writer: this.writer,
      config,
      clock,
      logger,
    });
    this.queue = new WorkQueue(
      async (key) => {
        await this.reconciler.reconcile(key);
      },
      { clock, ...DEFAULT_WORKQUEUE_OPTIONS },
      (key, error, retryInMs) =>
        logger.warn(
          { function: key, err: error instanceof Error ? error.message : String(error), retryInMs },
          "reconcile failed; retrying",
        ),
    );
  }

  /** Starts the child informers first, so the first reconciles see existing children. */
  async start(): Promise<void> {
    await Promise.all([this.deployments.start(), this.services.start()]);
    await this.functionInformers.start();
  }

  /** Every informer is watching. */
  healthy(): boolean {
    return this.functionInformers.healthy && this.deployments.healthy && this.services.healthy;
  }

  async stop(): Promise<void> {
    await this.queue.stop();
    await Promise.all([this.functionInformers.stop(), this.deployments.stop(), this.services.stop()]);
  }
}
