// `kubectl port-forward`, as the chart's NOTES tell a kind user to reach the gateway: a local port
// on 127.0.0.1 carried through the API server and the kubelet to a pod of the target.
import { join } from "node:path";

import type { ControlPlane } from "../../testing/control-plane.js";
import { logTail, startProcess } from "../../testing/processes.js";
import { waitFor } from "../../testing/watchdog.js";

export interface PortForward {
  /** http://127.0.0.1:<local port> */
  readonly url: string;
  stop(): Promise<void>;
}

/** Forwards a free local port to `target` (`service/flint-gateway`) port `remotePort`, once kubectl says so. */
export async function portForward(
  cp: ControlPlane,
  namespace: string,
  target: string,
  remotePort: number,
): Promise<PortForward> {
  const logPath = join(cp.dir, `port-forward-${target.replace(/\W/g, "-")}.log`);
  const kubectl = startProcess(
    "kubectl port-forward",
    join(cp.binDir, "kubectl"),
    [
      "--kubeconfig",
      cp.kubeconfigPath,
      "-n",
      namespace,
      "port-forward",
      target,
      `:${remotePort}`,
      "--address",
      "127.0.0.1",
    ],
    { cwd: cp.dir, env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: cp.dir }, logPath },
  );
  let port = "";
  await waitFor(
    `kubectl port-forward ${target} listening`,
    () => {
      if (kubectl.exited()) throw new Error(`kubectl port-forward exited:\n${logTail(logPath)}`);
      port = /Forwarding from 127\.0\.0\.1:(\d+) ->/.exec(logTail(logPath, 5))?.[1] ?? "";
      return port !== "";
    },
    { timeoutMs: 15_000, intervalMs: 100 },
  );
  return { url: `http://127.0.0.1:${port}`, stop: () => kubectl.stop(5_000) };
}
