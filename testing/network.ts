// The cluster harness's network layout, and the `ip` commands that give pods their addresses on the
// `lo` of the network namespace e2e/cluster/run.sh makes. Nothing here touches any other namespace.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * Addresses inside the harness's network namespace. None of them exists outside it, and nothing
 * routes out of it (the namespace has only `lo`), so all traffic stays inside.
 */
export const NETWORK = Object.freeze({
  /** The API server's bind and advertise address in namespace mode (a /32 on `lo`). */
  apiServerIP: "10.88.0.1",
  /** The process kubelet's Node InternalIP (a /32 on `lo`). */
  nodeIP: "10.88.0.2",
  /** Pod addresses: 10.88.1.2 … 10.88.1.254, each added to `lo` as a /32 while its pod runs. */
  podCidr: "10.88.1.0/24",
  /** The real node's (e2e/cluster/node) Node InternalIP, where its kubelet listens (a /32 on `lo`). */
  realNodeIP: "10.88.0.4",
  /** Where the real node's CoreDNS answers (a /32 on `lo`); the pods' nameserver. */
  dnsIP: "10.88.0.3",
  /** The real node's pods: on the bridge `cni0` (10.88.2.1), each in a network namespace of its own. */
  realPodCidr: "10.88.2.0/24",
  /** ClusterIPs: routed by the real node's kube-proxy; the process kubelet proxies them itself. */
  serviceCidr: "10.96.0.0/16",
  /** The `kubernetes` Service's ClusterIP (first of serviceCidr); in the API server certificate. */
  apiServiceIP: "10.96.0.1",
});

/** Name of the network namespace this process runs in, per `ip netns identify` ("" if unnamed). */
export async function currentNetns(): Promise<string> {
  try {
    const { stdout } = await run("ip", ["netns", "identify", String(process.pid)]);
    return stdout.trim();
  } catch {
    return "";
  }
}

/** Adds `ip`/32 to `lo`; false if it is already there (another pod, or a stale one). */
export async function addLoopbackAddress(ip: string): Promise<boolean> {
  try {
    await run("ip", ["addr", "add", `${ip}/32`, "dev", "lo"]);
    return true;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    if (/File exists|already assigned/i.test(stderr)) return false;
    throw new Error(`ip addr add ${ip}/32 dev lo failed: ${stderr.trim() || String(error)}`, {
      cause: error,
    });
  }
}

/** Removes `ip`/32 from `lo`; an address that is not there is not an error. */
export async function removeLoopbackAddress(ip: string): Promise<void> {
  try {
    await run("ip", ["addr", "del", `${ip}/32`, "dev", "lo"]);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    if (/Cannot assign requested address|not found/i.test(stderr)) return;
    throw new Error(`ip addr del ${ip}/32 dev lo failed: ${stderr.trim() || String(error)}`, {
      cause: error,
    });
  }
}

/**
 * Hands out pod addresses from {@link NETWORK.podCidr}: the lowest free host address that `ip addr
 * add` accepts (so a second kubelet in the same namespace, or a stale address, is skipped over).
 */
export class PodAddressPool {
  private readonly inUse = new Set<string>();
  private readonly prefix: string;

  constructor(cidr: string = NETWORK.podCidr) {
    const match = /^(\d+\.\d+\.\d+)\.0\/24$/.exec(cidr);
    if (match?.[1] === undefined) throw new Error(`pod CIDR must be a /24 like 10.88.1.0/24, was ${cidr}`);
    this.prefix = match[1];
  }

  /** Adds a free address to `lo` and returns it. */
  async acquire(): Promise<string> {
    // .1 is left for a gateway address by convention; .255 is broadcast.
    for (let host = 2; host <= 254; host++) {
      const ip = `${this.prefix}.${host}`;
      if (this.inUse.has(ip)) continue;
      this.inUse.add(ip);
      if (await addLoopbackAddress(ip)) return ip;
    }
    throw new Error(`no free address left in ${this.prefix}.0/24`);
  }

  async release(ip: string): Promise<void> {
    await removeLoopbackAddress(ip);
    this.inUse.delete(ip);
  }
}
