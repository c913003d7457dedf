// A real `flint up` process for tests and the chaos suite: started on a folder of functions with its
// own HOME, its banner read as a user reads it, and the processes it runs found in /proc.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The repository root: the nearest folder above this file with a package.json, so it holds whether
 * this runs as TypeScript under jest or compiled into build/ (the chaos suite).
 */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

const CLI = join(repoRoot(), "dist", "cli", "main.js");
/** How long `flint up` may take to print its banner, in ms. */
const BANNER_TIMEOUT_MS = 30_000;

export interface FlintUp {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly url: string;
  readonly token: string;
  output(): string;
  /** SIGTERM and wait (SIGKILL after 10 s); removes its home folder. */
  close(): Promise<void>;
}

/** Starts `flint up --port 0 dir` with its own HOME, resolving once the banner names the gateway. */
export async function startFlintUp(dir: string, env: Record<string, string> = {}): Promise<FlintUp> {
  const home = mkdtempSync(join(tmpdir(), "flint-chaos-home-"));
  const child = spawn(process.execPath, [CLI, "up", "--port", "0", dir], {
    env: { PATH: process.env["PATH"] ?? "", HOME: home, FLINT_HOME: home, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output = keepTail(output + chunk.toString())));
  child.stderr?.on("data", (chunk: Buffer) => (output = keepTail(output + chunk.toString())));
  const deadline = Date.now() + BANNER_TIMEOUT_MS;
  while (!/Management token: \S+/.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`flint up did not start; its output:\n${output}`);
    }
    await new Promise((done) => setTimeout(done, 50));
  }
  const url = /gateway (http:\/\/\S+)/.exec(output)?.[1] ?? "";
  const token = /Management token: (\S+)/.exec(output)?.[1] ?? "";
  return {
    child,
    pid: child.pid ?? 0,
    url,
    token,
    output: () => output,
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((done) => child.once("exit", () => done()));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}

function keepTail(text: string): string {
  // A log flood must not grow the harness: the banner is at the start, errors at the end.
  return text.length > 1_000_000 ? text.slice(0, 20_000) + text.slice(-200_000) : text;
}

/** Every live descendant of `pid` (from /proc's parent links). */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = parents.get(ppid) ?? [];
      list.push(Number(entry));
      parents.set(ppid, list);
    } catch {
      // Gone while we looked.
    }
  }
  const found: number[] = [];
  const visit = (parent: number): void => {
    for (const child of parents.get(parent) ?? []) {
      found.push(child);
      visit(child);
    }
  };
  visit(pid);
  return found;
}
