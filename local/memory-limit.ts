// How `flint up` holds a replica to spec.resources.limits.memory: a memory cgroup of its own where this
// process may make one (Linux: cgroup v1, or a cgroup v2 subtree delegated to it), as the kubelet does;
// and in module mode Node's heap limit, which holds everywhere. docs/local.md says which holds where.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

import { quantityValue } from "../api/quantity.js";
import type { FunctionResource } from "../api/index.js";

/** What a memory limit is enforced with on this machine. */
export type MemoryEnforcement = "cgroup-v1" | "cgroup-v2" | "heap-only";

/** Share of the limit given to V8's old space in module mode: the rest is Node itself, buffers and code. */
const HEAP_SHARE = 0.75;
/** V8 will not run in less old space than this, whatever the limit says. */
const MIN_HEAP_MIB = 16;

/** The function's memory limit in bytes, or undefined when it sets none. */
export function memoryLimitBytes(fn: FunctionResource): number | undefined {
  const text = fn.spec.resources?.limits?.memory;
  return text === undefined ? undefined : Math.floor(quantityValue(text));
}

/** Node's --max-old-space-size for a module-mode replica under `limitBytes`, in MiB. */
export function heapLimitMiB(limitBytes: number): number {
  return Math.max(MIN_HEAP_MIB, Math.floor((limitBytes * HEAP_SHARE) / 2 ** 20));
}

/** One replica's hold on its limit: how to start it inside it, and what happened to it. */
export interface ReplicaMemory {
  /** Prepended to the replica's argv: it joins its cgroup before its first instruction runs. */
  readonly wrapper: readonly string[];
  /** True when the kernel killed a process of the replica for going over the limit. */
  oomKilled(): boolean;
  /** Removes the replica's cgroup once its processes are gone. */
  release(): void;
}

const NO_CGROUP: ReplicaMemory = { wrapper: [], oomKilled: () => false, release: () => undefined };

/** Where cgroups live and which this process is in; injectable so a test can point elsewhere. */
export interface CgroupPaths {
  readonly root: string;
  readonly selfCgroupFile: string;
}

const SYSTEM_CGROUPS: CgroupPaths = { root: "/sys/fs/cgroup", selfCgroupFile: "/proc/self/cgroup" };

/**
 * The memory cgroups of one `flint up`: a folder `flint-<pid>` under this process's own cgroup, one
 * child per replica. `detect` tries to make the folder and falls back to heap-only when it cannot.
 */
export class MemoryLimits {
  private constructor(
    readonly enforcement: MemoryEnforcement,
    /** Why there is no cgroup, for the one warning `flint up` prints. */
    readonly reason: string | undefined,
    /** The `flint-<pid>` cgroup folder replicas' cgroups are made in; undefined when heap-only. */
    readonly base: string | undefined,
  ) {}

  static detect(paths: CgroupPaths = SYSTEM_CGROUPS): MemoryLimits {
    if (process.platform !== "linux")
      return MemoryLimits.heapOnly(`cgroups are Linux only (${process.platform})`);
    let lines: string[];
    try {
      lines = readFileSync(paths.selfCgroupFile, "utf8").split("\n");
    } catch (error) {
      return MemoryLimits.heapOnly(`cannot read ${paths.selfCgroupFile}: ${String(error)}`);
    }
    const base = `flint-${process.pid}`;
    // cgroup v1: "4:memory:/path"; the memory hierarchy mounted at <root>/memory.
    const v1 = lines
      .map((line) => /^\d+:([^:]*):(.*)$/.exec(line))
      .find((m) => m?.[1]?.split(",").includes("memory"));
    if (v1 != null && existsSync(join(paths.root, "memory", "memory.limit_in_bytes"))) {
      return MemoryLimits.tryCreate("cgroup-v1", join(paths.root, "memory", v1[2] ?? "/", base));
    }
    // cgroup v2: "0::/path", the unified hierarchy at <root>; our cgroup must let children use memory.
    const v2 = lines.map((line) => /^0::(.*)$/.exec(line)).find((m) => m != null);
    if (v2 != null && existsSync(join(paths.root, "cgroup.controllers"))) {
      return MemoryLimits.tryCreate("cgroup-v2", join(paths.root, v2[1] ?? "/", base));
    }
    return MemoryLimits.heapOnly("no memory cgroup controller is mounted");
  }

  private static heapOnly(reason: string): MemoryLimits {
    return new MemoryLimits("heap-only", reason, undefined);
  }

  private static tryCreate(kind: "cgroup-v1" | "cgroup-v2", base: string): MemoryLimits {
    reapStale(dirname(base));
    try {
      mkdirSync(base, { recursive: true });
      // v2: children may only be limited if memory is enabled for the subtree (a delegated one).
      if (kind === "cgroup-v2") writeFileSync(join(base, "cgroup.subtree_control"), "+memory");
      return new MemoryLimits(kind, undefined, base);
    } catch (error) {
      try {
        rmdirSync(base);
      } catch {
        // it was never made
      }
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      return MemoryLimits.heapOnly(`cannot make a memory cgroup at ${base} (${code})`);
    }
  }

  /**
   * A cgroup for replica `id` limited to `limitBytes` (swap included where the kernel counts it), or
   * no cgroup (heap-only). Failing to make one is not fatal: the replica runs on its heap limit.
   */
  prepare(id: string, limitBytes: number): ReplicaMemory {
    if (this.base === undefined) return NO_CGROUP;
    const dir = join(this.base, id);
    const v1 = this.enforcement === "cgroup-v1";
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, v1 ? "memory.limit_in_bytes" : "memory.max"), String(limitBytes));
    } catch {
      removeCgroup(dir);
      return NO_CGROUP;
    }
    // Best effort: with swap on, the limit should not just move pages to swap.
    writeOptional(
      join(dir, v1 ? "memory.memsw.limit_in_bytes" : "memory.swap.max"),
      v1 ? String(limitBytes) : "0",
    );
    const events = join(dir, v1 ? "memory.oom_control" : "memory.events");
    return {
      // The shell writes its own pid into the cgroup, then becomes the replica: nothing runs outside.
      wrapper: ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', join(dir, "cgroup.procs")],
      oomKilled: () => oomKills(events) > 0,
      release: () => removeCgroup(dir),
    };
  }

  /** Removes `flint-<pid>` and what is left in it (replica cgroups are released as replicas exit). */
  close(): void {
    if (this.base !== undefined) removeCgroupTree(this.base);
  }
}

function writeOptional(path: string, value: string): void {
  try {
    writeFileSync(path, value);
  } catch {
    // not on this kernel, or swap accounting is off
  }
}

/** The `oom_kill N` count of memory.oom_control (v1, kernel 4.13+) or memory.events (v2); 0 if unread. */
function oomKills(path: string): number {
  try {
    const match = /^oom_kill (\d+)$/m.exec(readFileSync(path, "utf8"));
    return match === null ? 0 : Number(match[1]);
  } catch {
    return 0;
  }
}

/**
 * Removes the `flint-<pid>` folders of flint ups that are gone (killed with SIGKILL, so they could
 * not clean up; their replicas went with them through the supervisor link, so the folders are empty).
 */
function reapStale(parent: string): void {
  let entries: string[];
  try {
    entries = readdirSync(parent);
  } catch {
    return;
  }
  for (const entry of entries) {
    const pid = Number(/^flint-(\d+)$/.exec(entry)?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    removeCgroupTree(join(parent, entry));
  }
}

/** Removes a `flint-<pid>` folder: its replicas' cgroups, then itself (each only if empty of processes). */
function removeCgroupTree(dir: string): void {
  try {
    for (const child of readdirSync(dir, { withFileTypes: true })) {
      if (child.isDirectory()) removeCgroup(join(dir, child.name));
    }
  } catch {
    // already gone
  }
  removeCgroup(dir);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function removeCgroup(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Busy for a moment after its last process exits, or already gone; flint-<pid> goes on close.
  }
}
