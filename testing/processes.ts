// Child processes of the cluster harness: started in their own process group with output to a log
// file, stopped with SIGTERM then SIGKILL, and killed by a reaper process if a test run is aborted.
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

/**
 * The reaper: a small detached process that reads commands on a pipe from this one and, when the
 * pipe closes, SIGKILLs every process group and removes every directory it still holds. The pipe
 * closes however this process ends (normal exit, Ctrl-C, a jest timeout, even SIGKILL), so an
 * aborted test run leaves no etcd or pod behind. Exit hooks were not enough: under Jest, exit
 * and signal listeners a test adds to its `process` did not fire on Ctrl-C, and nothing fires
 * on SIGKILL.
 * Commands, one a line: `+group <pgid>`, `-group <pgid>`, `+dir <path>`, `-dir <path>`.
 */
const REAPER = `
const groups = new Set(), dirs = new Set();
let pending = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (text) => {
  const lines = (pending + text).split("\\n");
  pending = lines.pop();
  for (const line of lines) {
    const [command, ...rest] = line.split(" ");
    const arg = rest.join(" ");
    if (command === "+group") groups.add(Number(arg));
    else if (command === "-group") groups.delete(Number(arg));
    else if (command === "+dir") dirs.add(arg);
    else if (command === "-dir") dirs.delete(arg);
  }
});
process.stdin.on("end", () => {
  for (const group of groups) { try { process.kill(-group, "SIGKILL"); } catch {} }
  for (const dir of dirs) { try { require("node:fs").rmSync(dir, { recursive: true, force: true }); } catch {} }
  process.exit(0);
});
`;

let reaper: ChildProcess | undefined;

function tellReaper(command: string): void {
  if (reaper === undefined) {
    reaper = spawn(process.execPath, ["-e", REAPER], { detached: true, stdio: ["pipe", "ignore", "ignore"] });
    // Neither the reaper nor its pipe may keep this process (or Jest) alive.
    reaper.unref();
    (reaper.stdin as unknown as { unref(): void }).unref();
    reaper.stdin?.on("error", () => undefined);
  }
  reaper.stdin?.write(`${command}\n`);
}

/** Removes `dir` if this process ends before it calls {@link forgetOnExit} (or removes it itself). */
export function removeOnExit(dir: string): void {
  tellReaper(`+dir ${dir}`);
}

export function forgetOnExit(dir: string): void {
  tellReaper(`-dir ${dir}`);
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
  if (child.pid !== undefined) tellReaper(`+group ${child.pid}`);
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
      if (child.pid !== undefined) tellReaper(`-group ${child.pid}`);
    },
  };
  return harnessProcess;
}

/** A log file's text, "" if it cannot be read (not written yet, or removed). */
export function readLog(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** The last `lines` lines of a log file, for error messages ("" if it cannot be read). */
export function logTail(path: string, lines = 30): string {
  return readLog(path).trimEnd().split("\n").slice(-lines).join("\n");
}
