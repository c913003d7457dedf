// Test support for the gateway's Kubernetes adapters: EndpointSlices written by hand, a control
// plane with the Function CRD installed, and a TCP proxy in front of the API server that a test can
// cut and restore to make informers fail.
import { createServer, connect, type Server, type Socket } from "node:net";
import { KubeConfig, type V1EndpointConditions, type V1EndpointSlice } from "@kubernetes/client-node";
import { FUNCTION_LABEL } from "../api/index.js";
import { SERVICE_NAME_LABEL } from "../platform/kubernetes/endpoints.js";
import { addLoopbackAddress, currentNetns, removeLoopbackAddress } from "./network.js";

/** One endpoint of a hand-written slice. */
export interface SliceEndpoint {
  readonly addresses: string[];
  /** The pod it names in targetRef; none when absent. */
  readonly pod?: string;
  readonly conditions?: V1EndpointConditions;
}

/**
 * An EndpointSlice of Service `service` as the EndpointSlice controller would write it for a
 * function: both labels, one port named http (8080 unless `port` says otherwise).
 */
export function endpointSlice(
  name: string,
  service: string,
  endpoints: readonly SliceEndpoint[],
  namespace = "team",
  port = 8080,
): V1EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name, namespace, labels: { [SERVICE_NAME_LABEL]: service, [FUNCTION_LABEL]: service } },
    addressType: "IPv4",
    ports: [{ name: "http", port, protocol: "TCP" }],
    endpoints: endpoints.map(({ addresses, pod, conditions }) => ({
      addresses,
      ...(conditions === undefined ? {} : { conditions }),
      ...(pod === undefined ? {} : { targetRef: { kind: "Pod", name: pod, namespace } }),
    })),
  };
}

/** A KubeConfig for `kubeconfigPath` whose cluster URL is replaced by `server` (a proxy in front). */
export function kubeConfigVia(kubeconfigPath: string, server?: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  if (server === undefined) return kubeConfig;
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) throw new Error(`no current cluster in ${kubeconfigPath}`);
  kubeConfig.clusters = kubeConfig.clusters.map((c) => (c.name === cluster.name ? { ...c, server } : c));
  return kubeConfig;
}

/**
 * A TCP proxy on a loopback port in front of `target` (the API server's port). TLS passes through
 * untouched, so the client still checks the API server's certificate (issued for 127.0.0.1).
 */
export interface ApiProxy {
  readonly url: string;
  /** Closes every connection and refuses new ones: the API server seems gone. */
  cut(): Promise<void>;
  /** Accepts connections again, on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startApiProxy(targetPort: number): Promise<ApiProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const listening = createServer((client) => {
        const upstream = connect(targetPort, "127.0.0.1");
        sockets.add(client).add(upstream);
        const drop = (): void => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on("error", drop).on("close", drop);
        upstream.on("error", drop).on("close", drop);
        client.pipe(upstream).pipe(client);
      });
      listening.once("error", reject);
      listening.listen(port, "127.0.0.1", () => {
        port = (listening.address() as { port: number }).port;
        server = listening;
        resolve();
      });
    });
  const cut = async (): Promise<void> => {
    const closing = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (closing !== undefined) await new Promise<void>((resolve) => closing.close(() => resolve()));
  };
  await listen();
  return {
    url: `https://127.0.0.1:${port}`,
    cut,
    restore: listen,
    close: cut,
  };
}

/** The address tests give a watchdog an EndpointSlice names: not loopback, and only on the run's own `lo`. */
const TEST_REPLICA_IP = "10.88.250.1";

/**
 * An address an EndpointSlice may hold (not loopback) for a real watchdog to listen on, or undefined.
 * Tests send traffic only to loopback or to addresses inside a network namespace the test run made:
 * so this adds one to `lo` only inside e2e/cluster/run.sh's namespace, and never uses the machine's
 * own interfaces.
 */
export async function sliceableTestAddress(): Promise<
  { ip: string; release: () => Promise<void> } | undefined
> {
  const runNamespace = process.env["FLINT_E2E_NETNS"] ?? "";
  if (runNamespace === "" || (await currentNetns()) !== runNamespace) return undefined;
  const added = await addLoopbackAddress(TEST_REPLICA_IP);
  return {
    ip: TEST_REPLICA_IP,
    release: async () => {
      if (added) await removeLoopbackAddress(TEST_REPLICA_IP);
    },
  };
}
