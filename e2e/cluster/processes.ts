// Child processes of the cluster harness: started in their own process group with output to a log
// file, stopped with SIGTERM then SIGKILL, and killed by an exit hook if a test run is aborted.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";

/** A process the harness started; its output (stdout and stderr) goes to `logPath`. */
export interface HarnessProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logPath: string;
  /** True once the process has exited (or failed to start). */
  exited(): boolean;
  /** Why the process could not be started (ENOENT, EACCES), if that is what happened. */
  spawnError(): Error | undefined;
  /** Resolves when the process has exited, with its code or signal. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM to the process group, SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  cwd?: string;
  env: Record<string, string>;
  /** Where stdout and stderr go (appended). */
  logPath: string;
}

const live = new Set<HarnessProcess>();
let exitHookInstalled = false;

/**
 * Every process group still alive gets SIGKILL when this Node process exits, so an aborted test
 * run (a failed beforeAll, Ctrl-C, a jest timeout) leaves no etcd or pod behind. Only SIGKILL:
 * an exit hook cannot wait.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const harnessProcess of live) killGroup(harnessProcess.child, "SIGKILL");
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      for (const harnessProcess of live) killGroup(harnessProcess.child, "SIGKILL");
      process.kill(process.pid, signal);
    });
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    // detached: the child leads its own group, so this reaches what it started too.
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Starts `command` with `args` in a new process group, output appended to `options.logPath`. */
export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  options: StartOptions,
): HarnessProcess {
  installExitHook();
  const fd = openSync(options.logPath, "a");
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ["ignore", fd, fd],
    });
  } finally {
    closeSync(fd); // the child has its own copy
  }
  let done = false;
  let spawnError: Error | undefined;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
    child.once("error", (error) => {
      spawnError = error;
      done = true;
      resolve({ code: null, signal: null });
    });
  });
  const harnessProcess: HarnessProcess = {
    name,
    child,
    logPath: options.logPath,
    exited: () => done,
    spawnError: () => spawnError,
    exit,
    async stop(graceMs = 10_000): Promise<void> {
      if (!done) {
        killGroup(child, "SIGTERM");
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), graceMs);
        });
        const outcome = await Promise.race([exit, timedOut]);
        clearTimeout(timer);
        if (outcome === "timeout") {
          killGroup(child, "SIGKILL");
          await exit;
        }
      }
      // The leader is gone; anything it left in its group goes too.
      killGroup(child, "SIGKILL");
      live.delete(harnessProcess);
    },
  };
  live.add(harnessProcess);
  void exit.then(() => {
    if (child.pid === undefined) live.delete(harnessProcess);
  });
  return harnessProcess;
}

/** The last `lines` lines of a log file, for error messages ("" if it cannot be read). */
export function logTail(path: string, lines = 30): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}
