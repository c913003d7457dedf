// A tiny kube-proxy and cluster DNS for the process kubelet: each Service's ClusterIP is added to
// `lo` with a TCP proxy on each port to a ready endpoint (round robin), and Service names are
// written to the namespace's own hosts file (/etc/netns/<ns>/hosts, which `ip netns exec` mounts
// over /etc/hosts for everything run.sh starts).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";

import {
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  ListWatch,
  Watch,
  type V1EndpointSlice,
  type V1Service,
} from "@kubernetes/client-node";

import { addLoopbackAddress, removeLoopbackAddress } from "../../testing/network.js";

export interface ServiceProxyOptions {
  kubeconfigPath: string;
  /** The hosts file to maintain; default /etc/netns/$FLINT_E2E_NETNS/hosts if it exists, else none. */
  hostsFile?: string;
  log?: (line: string) => void;
}

export interface ServiceProxy {
  stop(): Promise<void>;
}

interface Listener {
  readonly key: string;
  readonly server: Server;
  readonly sockets: Set<Socket>;
}

/** Starts proxying every Service with a ClusterIP; resolves once the first lists are in. */
export async function startServiceProxy(options: ServiceProxyOptions): Promise<ServiceProxy> {
  const log = options.log ?? ((): void => undefined);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(options.kubeconfigPath);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const discovery = kubeConfig.makeApiClient(DiscoveryV1Api);
  const watch = new Watch(kubeConfig);
  const netns = process.env["FLINT_E2E_NETNS"] ?? "";
  const hostsFile =
    options.hostsFile ??
    (netns !== "" && existsSync(`/etc/netns/${netns}/hosts`) ? `/etc/netns/${netns}/hosts` : undefined);
  const baseHosts = hostsFile === undefined ? "" : readFileSync(hostsFile, "utf8");

  const services = new ListWatch<V1Service>(
    "/api/v1/services",
    watch,
    () => core.listServiceForAllNamespaces(),
    false,
  );
  const slices = new ListWatch<V1EndpointSlice>(
    "/apis/discovery.k8s.io/v1/endpointslices",
    watch,
    () => discovery.listEndpointSliceForAllNamespaces(),
    false,
  );
  const listeners = new Map<string, Listener>();
  const clusterIPs = new Set<string>();
  let roundRobin = 0;

  /** A ready endpoint address and port for `service`'s port named `portName`. */
  const pickEndpoint = (service: V1Service, portName: string): { host: string; port: number } | undefined => {
    const namespace = service.metadata?.namespace ?? "";
    const name = service.metadata?.name ?? "";
    const candidates: { host: string; port: number }[] = [];
    for (const slice of slices.list(namespace)) {
      if (slice.metadata?.labels?.["kubernetes.io/service-name"] !== name) continue;
      const port = slice.ports?.find((candidate) => (candidate.name ?? "") === portName)?.port;
      if (port === undefined) continue;
      for (const endpoint of slice.endpoints) {
        if (endpoint.conditions?.ready !== true) continue;
        for (const host of endpoint.addresses) candidates.push({ host, port });
      }
    }
    return candidates.length === 0 ? undefined : candidates[roundRobin++ % candidates.length];
  };

  const proxy = (service: V1Service, portName: string) => (client: Socket) => {
    const target = pickEndpoint(service, portName);
    if (target === undefined) {
      client.destroy();
      return;
    }
    const upstream = connect(target);
    client.pipe(upstream).pipe(client);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.once("error", close).once("close", close);
    upstream.once("error", close).once("close", close);
  };

  /** Makes listeners and addresses match the Services now known. */
  const sync = async (): Promise<void> => {
    const wanted = new Map<string, { service: V1Service; ip: string; port: number; portName: string }>();
    for (const service of services.list()) {
      const ip = service.spec?.clusterIP;
      if (ip === undefined || ip === "" || ip === "None") continue;
      for (const port of service.spec?.ports ?? []) {
        if ((port.protocol ?? "TCP") !== "TCP") continue;
        wanted.set(`${ip}:${port.port}`, { service, ip, port: port.port, portName: port.name ?? "" });
      }
    }
    for (const [key, listener] of listeners) {
      if (wanted.has(key)) continue;
      listeners.delete(key);
      closeListener(listener);
    }
    const ips = new Set([...wanted.values()].map((entry) => entry.ip));
    for (const ip of ips) {
      if (clusterIPs.has(ip)) continue;
      clusterIPs.add(ip);
      await addLoopbackAddress(ip);
    }
    for (const ip of clusterIPs) {
      if (ips.has(ip)) continue;
      clusterIPs.delete(ip);
      await removeLoopbackAddress(ip);
    }
    for (const [key, entry] of wanted) {
      if (listeners.has(key)) continue;
      const sockets = new Set<Socket>();
      const handle = proxy(entry.service, entry.portName);
      const server = createServer((socket) => {
        sockets.add(socket);
        socket.once("close", () => sockets.delete(socket));
        handle(socket);
      });
      server.on("error", (error) => log(`service proxy ${key}: ${String(error)}`));
      server.listen(entry.port, entry.ip);
      listeners.set(key, { key, server, sockets });
    }
    if (hostsFile !== undefined) writeHosts(hostsFile, baseHosts, services.list());
  };
  let syncing = Promise.resolve();
  const scheduleSync = (): void => {
    syncing = syncing.then(sync).catch((error: unknown) => log(`service proxy: ${String(error)}`));
  };
  for (const verb of ["add", "update", "delete"] as const) services.on(verb, scheduleSync);
  let stopped = false;
  for (const informer of [services, slices] as ListWatch<never>[]) {
    informer.on("error", () => {
      if (!stopped) setTimeout(() => void informer.start().catch(() => undefined), 1000);
    });
  }
  await Promise.all([services.start(), slices.start()]);
  scheduleSync();
  await syncing;

  return {
    async stop(): Promise<void> {
      stopped = true;
      await Promise.all([services.stop(), slices.stop()]);
      await syncing;
      for (const listener of listeners.values()) closeListener(listener);
      listeners.clear();
      for (const ip of clusterIPs) await removeLoopbackAddress(ip);
      clusterIPs.clear();
      if (hostsFile !== undefined) writeFileSync(hostsFile, baseHosts);
    },
  };
}

function closeListener(listener: Listener): void {
  listener.server.close();
  for (const socket of listener.sockets) socket.destroy();
}

/**
 * Rewrites the hosts file in place (the same inode: it is bind-mounted over /etc/hosts) with
 * `<clusterIP> <name>.<ns>.svc.cluster.local <name>.<ns>.svc <name>.<ns>` per Service.
 */
function writeHosts(path: string, base: string, services: readonly V1Service[]): void {
  const lines = services
    .filter((service) => service.spec?.clusterIP !== undefined && service.spec.clusterIP !== "None")
    .map((service) => {
      const name = `${service.metadata?.name}.${service.metadata?.namespace}`;
      return `${service.spec?.clusterIP} ${name}.svc.cluster.local ${name}.svc ${name}`;
    });
  writeFileSync(
    path,
    `${base.trimEnd()}\n# Services, written by the process kubelet's service proxy\n${lines.join("\n")}\n`,
  );
}
