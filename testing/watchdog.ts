// Test support: start real watchdog processes (dist/watchdog/main.js), talk HTTP to them, wait for states.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { request, type IncomingHttpHeaders } from "node:http";
import { dirname, join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";

/** The one waitFor of the test toolkit, here too for the tests that import the rest of this file. */
export { waitFor } from "./wait.js";

/** The repository root: tests run the built watchdog, so `npm test` builds first. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const WATCHDOG_MAIN = join(REPO_ROOT, "dist", "watchdog", "main.js");
export const TESTDATA = join(REPO_ROOT, "watchdog", "testdata");

/** One JSON log line of the watchdog. */
export type LogLine = Record<string, unknown> & { msg?: string };

export interface RunningWatchdog {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** Every JSON line the watchdog has printed on stdout so far. */
  readonly logs: LogLine[];
  stderr(): string;
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  waitForExit(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL if it has not exited within 10 s. */
  stop(): Promise<void>;
}

const running = new Set<RunningWatchdog>();

/**
 * Starts a watchdog on a free port (FLINT_PORT=0; the port comes from its "listening" line) and,
 * unless `waitForReady` is false, waits for its "ready" line.
 */
export async function startWatchdog(
  env: Record<string, string>,
  options: { cwd?: string; waitForReady?: boolean; timeoutMs?: number } = {},
): Promise<RunningWatchdog> {
  if (!existsSync(WATCHDOG_MAIN))
    throw new Error(`${WATCHDOG_MAIN} is missing: run npx tsc -p tsconfig.build.json`);
  const child = spawn(process.execPath, [WATCHDOG_MAIN], {
    cwd: options.cwd ?? REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", FLINT_PORT: "0", FLINT_HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: LogLine[] = [];
  const listeners = new Set<() => void>();
  let stderr = "";
  let partial = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (text: string) => {
    const lines = (partial + text).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line.trim() === "") continue;
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ msg: line, unparsed: true });
      }
    }
    for (const listener of listeners) listener();
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (text: string) => {
    stderr += text;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once("exit", (code, signal) => {
      for (const listener of listeners) listener();
      resolveExit({ code, signal });
    });
  });

  const waitForLog = (predicate: (line: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> =>
    new Promise((resolveLine, reject) => {
      const check = (): void => {
        const found = logs.find(predicate);
        if (found !== undefined) {
          done();
          resolveLine(found);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          done();
          reject(
            new Error(`the watchdog exited (${child.exitCode ?? child.signalCode}) first; stderr: ${stderr}`),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching log line within ${timeoutMs}ms; lines: ${JSON.stringify(logs)}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });

  const waitForExit = async (
    timeoutMs = 15_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the watchdog did not exit within ${timeoutMs}ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  const watchdog: { -readonly [K in keyof RunningWatchdog]: RunningWatchdog[K] } = {
    child,
    pid: child.pid as number,
    port: 0,
    url: "",
    logs,
    stderr: () => stderr,
    waitForLog,
    waitForExit,
    async stop(): Promise<void> {
      running.delete(watchdog);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      try {
        await waitForExit(10_000);
      } catch {
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
  running.add(watchdog);
  try {
    const listening = await waitForLog((line) => line.msg === "listening", options.timeoutMs);
    watchdog.port = listening.port as number;
    watchdog.url = `http://127.0.0.1:${watchdog.port}`;
    if (options.waitForReady !== false) await waitForLog((line) => line.msg === "ready", options.timeoutMs);
  } catch (error) {
    await watchdog.stop();
    throw error;
  }
  return watchdog;
}

/** Stops every watchdog started by this test file that is still running; for afterEach/afterAll. */
export async function stopAllWatchdogs(): Promise<void> {
  await Promise.all([...running].map((watchdog) => watchdog.stop()));
}

/** Runs a watchdog that is expected to exit on its own (bad config); returns its exit and output. */
export function runWatchdogToExit(
  env: Record<string, string>,
  timeoutMs = 15_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [WATCHDOG_MAIN], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the watchdog did not exit within ${timeoutMs}ms; stdout: ${stdout}`));
    }, timeoutMs);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One HTTP request on a fresh connection (no keep-alive pool to outlive a watchdog). `body` may be a
 * string (sent with a Content-Length) or a stream (sent chunked).
 */
export function call(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer | Readable } = {},
): Promise<Reply> {
  return new Promise((resolveReply, reject) => {
    const { body } = options;
    const req = request(url, {
      method: options.method ?? (body === undefined ? "GET" : "POST"),
      headers: options.headers,
      agent: false,
    });
    req.once("error", reject);
    req.once("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.once("error", reject);
      res.once("end", () =>
        resolveReply({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    if (body === undefined) req.end();
    else if (typeof body === "string" || Buffer.isBuffer(body)) req.end(body);
    else {
      // A body that fails (e.g. the server answered 413 and closed) is the test's to judge by status.
      req.on("error", () => undefined);
      body.pipe(req);
    }
  });
}

/** A metric's value from /_/metrics, for a series whose label text matches exactly (e.g. `code="200"`). */
export async function metric(url: string, name: string, labels = ""): Promise<number | undefined> {
  const { body } = await call(`${url}/_/metrics`);
  const series = labels === "" ? name : `${name}{${labels}}`;
  for (const line of body.split("\n")) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

/** True when `pid` no longer runs: gone from the process table, or a zombie nobody has reaped yet. */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The state follows the command name in parentheses: "123 (sleep) Z ...".
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

/** Resident set size of a process in bytes, from /proc (Linux). */
export function residentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (match === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) * 1024;
}
