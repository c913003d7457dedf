// Readiness and liveness probes of the process kubelet: httpGet and tcpSocket against the pod IP,
// with Kubernetes' thresholds and defaults. exec and grpc probes are not supported.
import { request } from "node:http";
import { connect } from "node:net";

import type { V1Container, V1Probe } from "@kubernetes/client-node";

/** One probe attempt: true on success (HTTP 200–399, or a TCP connect). */
export type ProbeCheck = () => Promise<boolean>;

/**
 * Builds the check for `probe` of `container` at `podIP`, or returns an error message for a probe
 * this kubelet cannot run (the caller reports it; an unsupported readiness probe never passes).
 */
export function probeCheck(probe: V1Probe, container: V1Container, podIP: string): ProbeCheck | string {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  const port = (value: number | string | undefined): number | undefined => {
    if (typeof value === "number") return value;
    if (value !== undefined && /^\d+$/.test(value)) return Number(value);
    return container.ports?.find((candidate) => candidate.name === value)?.containerPort;
  };
  if (probe.httpGet !== undefined) {
    const { httpGet } = probe;
    const target = port(httpGet.port);
    if (target === undefined) return `httpGet probe port ${String(httpGet.port)} is not a container port`;
    if ((httpGet.scheme ?? "HTTP") !== "HTTP")
      return `httpGet probe scheme ${httpGet.scheme} is not supported`;
    const host = httpGet.host ?? podIP;
    const headers = Object.fromEntries(
      (httpGet.httpHeaders ?? []).map((header) => [header.name, header.value]),
    );
    return () => httpProbe(host, target, httpGet.path ?? "/", headers, timeoutMs);
  }
  if (probe.tcpSocket !== undefined) {
    const target = port(probe.tcpSocket.port);
    if (target === undefined)
      return `tcpSocket probe port ${String(probe.tcpSocket.port)} is not a container port`;
    return () => tcpProbe(probe.tcpSocket?.host ?? podIP, target, timeoutMs);
  }
  return "only httpGet and tcpSocket probes are supported by the process kubelet";
}

function httpProbe(
  host: string,
  port: number,
  path: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      {
        host,
        port,
        path,
        headers: { "user-agent": "kube-probe/flint", ...headers },
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        resolve(status >= 200 && status < 400);
      },
    );
    req.once("timeout", () => req.destroy());
    req.once("error", () => resolve(false));
    req.end();
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Runs one probe on its period and applies the thresholds: `onChange(true)` after
 * successThreshold successes in a row, `onChange(false)` after failureThreshold failures.
 * The result starts out false (not ready / not yet known).
 */
export class ProbeLoop {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private passing = false;
  private successes = 0;
  private failures = 0;

  constructor(
    private readonly probe: V1Probe,
    private readonly check: ProbeCheck,
    private readonly onChange: (passing: boolean) => void,
  ) {}

  start(): void {
    this.schedule((this.probe.initialDelaySeconds ?? 0) * 1000);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), delayMs);
  }

  private async tick(): Promise<void> {
    const ok = await this.check();
    if (this.stopped) return;
    if (ok) {
      this.failures = 0;
      this.successes++;
      if (!this.passing && this.successes >= (this.probe.successThreshold ?? 1)) {
        this.passing = true;
        this.onChange(true);
      }
    } else {
      this.successes = 0;
      this.failures++;
      // Once per run of failures: a liveness probe restarts after failureThreshold failures in a
      // row whether or not it ever passed, as in Kubernetes.
      if (this.failures === (this.probe.failureThreshold ?? 3)) {
        this.passing = false;
        this.onChange(false);
      }
    }
    this.schedule((this.probe.periodSeconds ?? 10) * 1000);
  }
}
