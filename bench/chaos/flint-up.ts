// What the chaos probes drive: a real `flint up` process on a folder of functions, its banner read as
// a user reads it, calls through its gateway, and its resident memory sampled while a probe runs.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { request, Agent } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export { processGone } from "../../testing/watchdog.js";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const CLI = join(REPO_ROOT, "dist", "cli", "main.js");
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
    await delay(50);
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

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

export const agent = new Agent({ keepAlive: true, maxSockets: 512 });

/** One HTTP call; a transport error resolves as status 0 with the error in the body. */
export function call(
  url: string,
  init: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    timeoutMs?: number;
  } = {},
): Promise<Reply> {
  return new Promise((done) => {
    const req = request(url, { method: init.method ?? "GET", headers: init.headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on("error", (error) => done({ status: 0, headers: {}, body: Buffer.from(String(error)) }));
    });
    req.setTimeout(init.timeoutMs ?? 30_000, () => req.destroy(new Error("timed out")));
    req.on("error", (error) => done({ status: 0, headers: {}, body: Buffer.from(String(error)) }));
    req.end(init.body);
  });
}

/** Samples a process's resident memory every 100 ms; `stop` returns the baseline and the peak. */
export function sampleRss(pid: number): { stop(): { baselineBytes: number; peakBytes: number } } {
  const baselineBytes = residentBytes(pid);
  let peakBytes = baselineBytes;
  const timer = setInterval(() => (peakBytes = Math.max(peakBytes, residentBytes(pid))), 100);
  return {
    stop() {
      clearInterval(timer);
      peakBytes = Math.max(peakBytes, residentBytes(pid));
      return { baselineBytes, peakBytes };
    },
  };
}

/** VmRSS of `pid` in bytes, 0 once it is gone. */
export function residentBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
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

/** Polls `check` every 50 ms until it holds; false if `timeoutMs` passes first. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await delay(50);
  }
  return check();
}

export function delay(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** A scratch folder for a probe's functions. */
export function scratchDir(): string {
  return mkdtempSync(join(tmpdir(), "flint-chaos-"));
}
