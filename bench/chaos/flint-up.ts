// What the chaos probes drive: a real `flint up` process on a folder of functions (testing/flint-up.ts),
// calls through its gateway, and its resident memory sampled while a probe runs.
import { mkdtempSync, readFileSync } from "node:fs";
import { request, Agent } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export { descendants, startFlintUp, type FlintUp } from "../../testing/flint-up.js";
export { processGone } from "../../testing/watchdog.js";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

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
