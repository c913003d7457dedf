// The Function controller on a cluster: informers (platform/kubernetes/, the gateway's too) on
// Functions, the Deployments and Services they own and the pods those run (all namespaces or a
// list), a work queue of Function keys, and the reconciler.
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
  type V1Pod,
  type V1Service,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { FUNCTION_API, FUNCTION_LABEL, functionKey, type FunctionResource } from "../api/index.js";
import type { Clock } from "../platform/ports.js";
import type { ControllerConfig } from "./config.js";
import {
  NamespacedInformer,
  type InformerOptions,
  type WatchedCollection,
} from "../platform/kubernetes/informers.js";
import type { ListPage, ReflectorHandler } from "../platform/kubernetes/reflector.js";
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

/**
 * The informers on what Flint labels with FUNCTION_LABEL: the Deployments and Services it owns, and
 * the pods they run (read for their containers' last state, never written). One handler for all.
 */
function childInformers(
  options: InformerOptions,
  handler: ReflectorHandler<KubernetesObject>,
): {
  deployments: NamespacedInformer<V1Deployment>;
  services: NamespacedInformer<V1Service>;
  pods: NamespacedInformer<V1Pod>;
} {
  const apps = options.kubeConfig.makeApiClient(AppsV1Api);
  const core = options.kubeConfig.makeApiClient(CoreV1Api);
  const labelled = <T>(
    what: string,
    apiPath: string,
    listAll: (page: LabelledPage) => Promise<ListPage<T>>,
    listIn: (page: LabelledPage & { namespace: string }) => Promise<ListPage<T>>,
  ): WatchedCollection<T> => ({
    what,
    path: collectionPath(apiPath, what),
    labelSelector: FUNCTION_LABEL,
    list: (namespace, { limit, continueToken }) => {
      const page = { labelSelector: FUNCTION_LABEL, limit, _continue: continueToken };
      return namespace === undefined ? listAll(page) : listIn({ namespace, ...page });
    },
  });
  return {
    deployments: new NamespacedInformer(
      options,
      labelled<V1Deployment>(
        "deployments",
        "/apis/apps/v1",
        (page) => apps.listDeploymentForAllNamespaces(page),
        (page) => apps.listNamespacedDeployment(page),
      ),
      handler,
    ),
    services: new NamespacedInformer(
      options,
      labelled<V1Service>(
        "services",
        "/api/v1",
        (page) => core.listServiceForAllNamespaces(page),
        (page) => core.listNamespacedService(page),
      ),
      handler,
    ),
    pods: new NamespacedInformer(
      options,
      labelled<V1Pod>(
        "pods",
        "/api/v1",
        (page) => core.listPodForAllNamespaces(page),
        (page) => core.listNamespacedPod(page),
      ),
      handler,
    ),
  };
}

/** One page of a labelled list call. */
interface LabelledPage {
  labelSelector: string;
  limit: number;
  _continue: string | undefined;
}

export class FunctionController {
  readonly functionInformers: NamespacedInformer<FunctionObject>;
  readonly functions: ObjectLister<FunctionResource> & { list(): FunctionResource[] };
  readonly deployments: NamespacedInformer<V1Deployment>;
  readonly services: NamespacedInformer<V1Service>;
  readonly pods: NamespacedInformer<V1Pod>;
  readonly writer: KubernetesWriter;
  readonly queue: WorkQueue;
  readonly reconciler: FunctionReconciler;

  constructor(private readonly options: FunctionControllerOptions) {
    const { kubeConfig, config, clock, logger } = options;
    this.writer = new KubernetesWriter(kubeConfig);
    const custom = kubeConfig.makeApiClient(CustomObjectsApi);
    const informerOptions = { kubeConfig, namespaces: config.namespaces, clock, logger };

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
    ({
      deployments: this.deployments,
      services: this.services,
      pods: this.pods,
    } = childInformers(informerOptions, children));
    const pods = this.pods;
    this.reconciler = new FunctionReconciler({
      functions: this.functions,
      deployments: this.deployments,
      services: this.services,
      podsOf: (namespace, name) =>
        pods
          .list()
          .filter(
            (pod) => pod.metadata?.namespace === namespace && pod.metadata.labels?.[FUNCTION_LABEL] === name,
          ),
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
    this.pods.start();
    await Promise.all([this.deployments.whenSynced(), this.services.whenSynced(), this.pods.whenSynced()]);
    this.functionInformers.start();
    await this.functionInformers.whenSynced();
  }

  /** Every informer has listed and none is failing now. */
  healthy(): boolean {
    return (
      this.functionInformers.healthy() &&
      this.deployments.healthy() &&
      this.services.healthy() &&
      this.pods.healthy()
    );
  }

  async stop(): Promise<void> {
    await this.queue.stop();
    await Promise.all([
      this.functionInformers.stop(),
      this.deployments.stop(),
      this.services.stop(),
      this.pods.stop(),
    ]);
  }
}
