// The Function controller on a cluster: informers (platform/kubernetes/, the gateway's too) on
// Functions and on the Deployments and Services they own (all namespaces or a list), a work queue
// of Function keys, and the reconciler.
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesObject,
  type V1Deployment,
  type V1Service,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { FUNCTION_API, FUNCTION_LABEL, functionKey, type FunctionResource } from "../api/index.js";
import type { Clock } from "../platform/ports.js";
import type { ControllerConfig } from "./config.js";
import { NamespacedInformer } from "../platform/kubernetes/informers.js";
import type { ListPage } from "../platform/kubernetes/reflector.js";
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

export interface FunctionControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly config: ControllerConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Told of every Function change, for the autoscaler loop. */
  readonly onFunction?: (event: "put" | "delete", fn: FunctionResource) => void;
}

/**
 * Functions as the informer holds them: raw JSON, so timestamps stay strings (the generated
 * FunctionResource type), unlike client-node's typed objects whose timestamps are Dates.
 */
type FunctionObject = KubernetesObject;
const asFunction = (object: FunctionObject): FunctionResource => object as unknown as FunctionResource;

const LIST_FUNCTIONS = {
  group: FUNCTION_API.group,
  version: FUNCTION_API.version,
  plural: FUNCTION_API.plural,
};

/** The collection path of `plural` under `apiPath` in `namespace`, or across all when undefined. */
function collectionPath(apiPath: string, plural: string): (namespace: string | undefined) => string {
  return (namespace) =>
    namespace === undefined ? `${apiPath}/${plural}` : `${apiPath}/namespaces/${namespace}/${plural}`;
}

export class FunctionController {
  readonly functionInformers: NamespacedInformer<FunctionObject>;
  readonly functions: ObjectLister<FunctionResource> & { list(): FunctionResource[] };
  readonly deployments: NamespacedInformer<V1Deployment>;
  readonly services: NamespacedInformer<V1Service>;
  readonly writer: KubernetesWriter;
  readonly queue: WorkQueue;
  readonly reconciler: FunctionReconciler;

  constructor(private readonly options: FunctionControllerOptions) {
    const { kubeConfig, config, clock, logger } = options;
    this.writer = new KubernetesWriter(kubeConfig);
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const custom = kubeConfig.makeApiClient(CustomObjectsApi);
    const informerOptions = { kubeConfig, namespaces: config.namespaces, clock, logger };
    const selector = FUNCTION_LABEL;

    const functionInformers = new NamespacedInformer<FunctionObject>(
      informerOptions,
      {
        what: "functions",
        path: collectionPath(`/apis/${FUNCTION_API.group}/${FUNCTION_API.version}`, FUNCTION_API.plural),
        list: async (namespace, { limit, continueToken }) => {
          const page = { limit, _continue: continueToken };
          return (
            namespace === undefined
              ? await custom.listClusterCustomObject({ ...LIST_FUNCTIONS, ...page })
              : await custom.listNamespacedCustomObject({ ...LIST_FUNCTIONS, namespace, ...page })
          ) as ListPage<FunctionObject>;
        },
      },
      {
        put: (object) => {
          const fn = asFunction(object);
          this.options.onFunction?.("put", fn);
          this.queue.add(functionKey(fn.metadata));
        },
        delete: (object) => this.options.onFunction?.("delete", asFunction(object)),
        synced: () => undefined,
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
    // A change to a child (or its deletion) reconciles the Function that owns it.
    const owner = (object: KubernetesObject): void => {
      const name = object.metadata?.labels?.[FUNCTION_LABEL];
      const namespace = object.metadata?.namespace;
      if (name !== undefined && namespace !== undefined) this.queue.add(`${namespace}/${name}`);
    };
    const children = { put: owner, delete: owner, synced: () => undefined };
    this.deployments = new NamespacedInformer<V1Deployment>(
      informerOptions,
      {
        what: "deployments",
        path: collectionPath("/apis/apps/v1", "deployments"),
        labelSelector: selector,
        list: (namespace, { limit, continueToken }) => {
          const page = { labelSelector: selector, limit, _continue: continueToken };
          return namespace === undefined
            ? apps.listDeploymentForAllNamespaces(page)
            : apps.listNamespacedDeployment({ namespace, ...page });
        },
      },
      children,
    );
    this.services = new NamespacedInformer<V1Service>(
      informerOptions,
      {
        what: "services",
        path: collectionPath("/api/v1", "services"),
        labelSelector: selector,
        list: (namespace, { limit, continueToken }) => {
          const page = { labelSelector: selector, limit, _continue: continueToken };
          return namespace === undefined
            ? core.listServiceForAllNamespaces(page)
            : core.listNamespacedService({ namespace, ...page });
        },
      },
      children,
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

  /**
   * Starts the child informers and waits for their first list, then the Function informer, so the
   * first reconciles see existing children. Informers that cannot list keep retrying (with backoff)
   * and this waits for them; /readyz says not ready meanwhile.
   */
  async start(): Promise<void> {
    this.deployments.start();
    this.services.start();
    await Promise.all([this.deployments.whenSynced(), this.services.whenSynced()]);
    this.functionInformers.start();
    await this.functionInformers.whenSynced();
  }

  /** Every informer has listed and none is failing now. */
  healthy(): boolean {
    return this.functionInformers.healthy() && this.deployments.healthy() && this.services.healthy();
  }

  async stop(): Promise<void> {
    await this.queue.stop();
    await Promise.all([this.functionInformers.stop(), this.deployments.stop(), this.services.stop()]);
  }
}
