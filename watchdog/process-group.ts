// Signals a child started with `detached: true` together with everything it started (its process group).
import type { ChildProcess } from "node:child_process";

/** Sends `signal` to the child's whole process group; a group that is already gone is not an error. */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group has exited. Fall back to the child alone in case it left its group.
    child.kill(signal);
  }
}
