// The real node's configuration files: containerd, the CNI network, kubelet, kube-proxy and CoreDNS,
// written into one directory that node.sh starts them from. Every path and address the node uses is
// in there or inside the network namespace e2e/cluster/run.sh made; nothing points at the machine's
// own /var/lib, /etc/cni or /run/containerd.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { NETWORK } from "../../../testing/network.js";

/** The sandbox ("pause") image every pod starts with; npm run images builds it here. */
export const PAUSE_IMAGE = "registry.k8s.io/pause:3.10";

export interface NodeLayout {
  /** The node's directory (configuration, state, logs). */
  readonly dir: string;
  /** e2e/cluster/build.sh's bin dir: containerd, runc, kubelet, … and cni/. */
  readonly binDir: string;
  readonly nodeName: string;
  readonly nodeIP: string;
  readonly podCidr: string;
  /** The pods' gateway on the bridge: the first address of podCidr. */
  readonly podGateway: string;
  readonly dnsIP: string;
  /** kubelet's cgroupRoot: every pod's processes are below it, in every cgroup v1 hierarchy. */
  readonly cgroupRoot: string;
  /** A kubeconfig with which kubelet, kube-proxy and CoreDNS reach the API server. */
  readonly kubeconfigPath: string;
  /** Its context name. */
  readonly kubeContext: string;
}

export const containerdSocket = (layout: NodeLayout): string =>
  join(layout.dir, "containerd", "containerd.sock");

/** Where kubelet writes each container's log: `<podLogsDir>/<ns>_<pod>_<uid>/<container>/<n>.log`. */
export const podLogsDir = (layout: NodeLayout): string => join(layout.dir, "pod-logs");

/** containerd 2 (config version 3) with the CRI plugin, runc and the CNI plugins of binDir. */
export function containerdConfig(layout: NodeLayout): string {
  const state = join(layout.dir, "containerd");
  const socket = containerdSocket(layout);
  const q = JSON.stringify;
  return `version = 3
root = ${q(join(state, "root"))}
state = ${q(join(state, "state"))}
# Plugins that would want devices, kernel modules or machine paths this node does not have.
disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = ${q(socket)}

[ttrpc]
  address = ${q(`${socket}.ttrpc`)}

[plugins.'io.containerd.internal.v1.opt']
  path = ${q(join(state, "opt"))}

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  # The machine does not give this process CAP_SYS_RESOURCE, so runc may not lower a container's
  # oom_score_adj below its own: containers get at least containerd's score instead.
  restrict_oom_score_adj = true
  # The pods' network namespaces are bind-mounted below containerd's state, not in /run/netns.
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = ${q(join(layout.binDir, "runc"))}
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [${q(join(layout.binDir, "cni"))}]
    conf_dir = ${q(join(layout.dir, "cni", "net.d"))}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = ${q(PAUSE_IMAGE)}
`;
}

/** One bridge, cni0, with the pods' gateway on it; host-local addresses from podCidr. */
export function cniConfig(layout: NodeLayout): string {
  return JSON.stringify(
    {
      cniVersion: "1.0.0",
      name: "flint-e2e",
      plugins: [
        {
          type: "bridge",
          bridge: "cni0",
          isGateway: true,
          ipMasq: false,
          // A pod that calls a Service that lands on itself gets the answer back through the bridge.
          hairpinMode: true,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: layout.podCidr, gateway: layout.podGateway }]],
            routes: [{ dst: "0.0.0.0/0" }],
            dataDir: join(layout.dir, "cni", "ipam"),
          },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

/**
 * kubelet on cgroup v1 with the cgroupfs driver (this machine's hybrid cgroups); the API server
 * reaches it on nodeIP:10250 for logs and exec, without client certificates (AlwaysAllow: the
 * node exists only inside the run's network namespace).
 */
export function kubeletConfig(layout: NodeLayout): string {
  const socket = `unix://${containerdSocket(layout)}`;
  return JSON.stringify(
    {
      apiVersion: "kubelet.config.k8s.io/v1beta1",
      kind: "KubeletConfiguration",
      address: layout.nodeIP,
      port: 10250,
      readOnlyPort: 0,
      healthzBindAddress: "127.0.0.1",
      healthzPort: 10248,
      authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
      authorization: { mode: "AlwaysAllow" },
      failCgroupV1: false,
      cgroupDriver: "cgroupfs",
      cgroupRoot: layout.cgroupRoot,
      cgroupsPerQOS: true,
      enforceNodeAllocatable: ["pods"],
      failSwapOn: false,
      containerRuntimeEndpoint: socket,
      imageServiceEndpoint: socket,
      clusterDNS: [layout.dnsIP],
      clusterDomain: "cluster.local",
      resolvConf: join(layout.dir, "resolv.conf"),
      podCIDR: layout.podCidr,
      podLogsDir: podLogsDir(layout),
      serializeImagePulls: false,
      // A shared disk with little free: no evictions and no image garbage collection in a test run.
      evictionHard: {
        "memory.available": "1Mi",
        "nodefs.available": "0%",
        "nodefs.inodesFree": "0%",
        "imagefs.available": "0%",
        "imagefs.inodesFree": "0%",
      },
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      // Status changes reach the API server within a second, as on a kind node under light load.
      nodeStatusUpdateFrequency: "2s",
      syncFrequency: "10s",
      fileCheckFrequency: "5s",
      containerLogMaxSize: "10Mi",
    },
    null,
    2,
  );
}

/**
 * kube-proxy in iptables mode. masqueradeAll: a pod that calls a Service whose endpoint is on the
 * same bridge would otherwise get the answer straight from the endpoint, not through the NAT.
 * Conntrack sizes and timeouts are the machine's, so kube-proxy leaves them alone (0 = unchanged).
 */
export function kubeProxyConfig(layout: NodeLayout): string {
  return JSON.stringify(
    {
      apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
      kind: "KubeProxyConfiguration",
      clientConnection: { kubeconfig: layout.kubeconfigPath },
      hostnameOverride: layout.nodeName,
      mode: "iptables",
      clusterCIDR: layout.podCidr,
      iptables: { masqueradeAll: true, minSyncPeriod: "0s", syncPeriod: "30s" },
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
      nodePortAddresses: [`${layout.nodeIP}/32`],
      metricsBindAddress: "127.0.0.1:10249",
      healthzBindAddress: "127.0.0.1:10256",
    },
    null,
    2,
  );
}

/** CoreDNS answers cluster names only: there is nothing outside the namespace to forward to. */
export function corefile(layout: NodeLayout): string {
  return `.:53 {
    bind ${layout.dnsIP}
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig ${layout.kubeconfigPath} ${layout.kubeContext}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
}
`;
}

/** Writes every file node.sh reads into layout.dir; `archives` are the image archives to import. */
export function writeNodeFiles(layout: NodeLayout, archives: readonly string[]): void {
  mkdirSync(join(layout.dir, "cni", "net.d"), { recursive: true });
  mkdirSync(join(layout.dir, "containerd"), { recursive: true });
  mkdirSync(podLogsDir(layout), { recursive: true });
  const files: Record<string, string> = {
    "containerd.toml": containerdConfig(layout),
    "cni/net.d/10-flint-e2e.conflist": cniConfig(layout),
    "kubelet.yaml": kubeletConfig(layout),
    "kube-proxy.yaml": kubeProxyConfig(layout),
    Corefile: corefile(layout),
    "resolv.conf": `nameserver ${layout.dnsIP}\n`,
    "node-name": layout.nodeName,
    "node-ip": layout.nodeIP,
    "images.txt": archives.join("\n") + "\n",
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(layout.dir, name), text);
}

/** The default layout inside the run's namespace, for a node directory `dir`. */
export function defaultLayout(
  dir: string,
  binDir: string,
  kubeconfigPath: string,
  runId: string,
): NodeLayout {
  const gateway = NETWORK.realPodCidr.replace(/\.0\/24$/, ".1");
  return {
    dir,
    binDir,
    nodeName: "flint-real-node",
    nodeIP: NETWORK.realNodeIP,
    podCidr: NETWORK.realPodCidr,
    podGateway: gateway,
    dnsIP: NETWORK.dnsIP,
    cgroupRoot: `/flint-e2e/${runId}`,
    kubeconfigPath,
    kubeContext: "flint-e2e",
  };
}
