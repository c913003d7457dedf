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

/** Every detached child this process started that has not closed yet (the upstream server, exec calls). */
const groups = new Set<ChildProcess>();

/**
 * Starts tracking a detached child until it closes, so killAllGroups can end it: its own process
 * group means a signal to the watchdog does not reach it, so the watchdog must pass it on.
 */
export function trackGroup<T extends ChildProcess>(child: T): T {
  groups.add(child);
  child.once("close", () => groups.delete(child));
  child.once("error", () => groups.delete(child));
  return child;
}

/** Signals every tracked group at once, synchronously: for a watchdog that is about to exit. */
export function killAllGroups(signal: NodeJS.Signals): number {
  for (const child of groups) killGroup(child, signal);
  return groups.size;
}
