// A replica's tie to the process that started it: `flint up` hands each watchdog one end of a pipe
// (FLINT_SUPERVISOR_FD) and never writes to it; end-of-file means the supervisor is gone, kill -9 included.
import { Socket } from "node:net";

import { ConfigError } from "../platform/errors.js";

/** The stable code on the log line a watchdog writes when its supervisor is gone. */
export const SUPERVISOR_GONE_CODE = "SUPERVISOR_GONE";

/**
 * The fd named by FLINT_SUPERVISOR_FD, or undefined when unset (on Kubernetes the kubelet is the
 * supervisor, and the container's cgroup ends everything in it). Anything but a small whole number
 * is refused, as every FLINT_ setting is.
 */
export function supervisorFd(env: NodeJS.ProcessEnv): number | undefined {
  const text = env["FLINT_SUPERVISOR_FD"];
  if (text === undefined || text === "") return undefined;
  if (!/^\d{1,4}$/.test(text) || Number(text) < 3) {
    const message = `FLINT_SUPERVISOR_FD must be a file descriptor of 3 or more, was ${JSON.stringify(text)}`;
    throw new ConfigError("FLINT_SUPERVISOR_FD", message);
  }
  return Number(text);
}

/**
 * Calls `onGone` once when the pipe on `fd` reaches its end or fails: the other end closes only when
 * the supervisor process dies (the kernel closes it then), so no heartbeat or timer is needed. The
 * socket is unref'd: watching never keeps a process alive.
 */
export function watchSupervisor(fd: number, onGone: () => void): void {
  const link = new Socket({ fd, readable: true, writable: false });
  let gone = false;
  const end = (): void => {
    if (gone) return;
    gone = true;
    onGone();
  };
  // Nothing is ever sent; reading is what lets the end of the pipe be seen.
  link.on("data", () => undefined);
  link.once("end", end);
  link.once("error", end);
  link.once("close", end);
  link.unref();
}
