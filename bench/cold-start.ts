// Benchmark: cold starts. The floor (spawn the watchdog with the handler, first response) against
// Flint's (a call at zero replicas through the local platform's gateway), in one run, interleaved.
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { parseFunction } from "../api/index.js";
import { startLocalPlatform } from "../local/platform.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const WATCHDOG_MAIN = join(ROOT, "dist", "watchdog", "main.js");
const HELLO_DIR = join(ROOT, "examples", "hello");

/** One GET on a fresh connection; resolves with the status when the body has been read. */
function get(url: string): Promise<number> {
  return new Promise((resolveStatus, reject) => {
    const req = request(url, { agent: false }, (res) => {
      res.resume();
      res.once("end", () => resolveStatus(res.statusCode ?? 0));
    });
    req.once("error", reject);
    req.end();
  });
}

/** The floor: spawn the same watchdog + handler, read its port from the listening line, first response. */
async function floorOnce(): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [WATCHDOG_MAIN], {
    cwd: HELLO_DIR,
    env: {
      PATH: process.env["PATH"] ?? "",
      FLINT_MODE: "module",
      FLINT_ENTRY: "handler.js",
      FLINT_PORT: "0",
      FLINT_HOST: "127.0.0.1",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const port = await new Promise<number>((resolvePort, reject) => {
      let text = "";
      let port: number | undefined;
      child.stdout.on("data", (chunk: Buffer) => {
        text += chunk.toString();
        for (const line of text.split("\n")) {
          if (port === undefined && line.includes('"listening"'))
            port = (JSON.parse(line) as { port: number }).port;
          if (port !== undefined && line.includes('"msg":"ready"')) return resolvePort(port);
        }
      });
      child.once("exit", () => reject(new Error("the watchdog exited before it was ready")));
    });
    const status = await get(`http://127.0.0.1:${port}/`);
    if (status !== 200) throw new Error(`floor: status ${status}`);
    return performance.now() - started;
  } finally {
    child.kill("SIGKILL");
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

export async function run(args: string[]): Promise<void> {
  const rounds = Number(args[args.indexOf("--rounds") + 1] ?? 20) || 20;
  const dir = mkdtempSync(join(tmpdir(), "flint-bench-cold-"));
  cpSync(join(HELLO_DIR, "handler.js"), join(dir, "handler.js"));
  const platform = await startLocalPlatform({
    dir,
    env: { ...process.env, FLINT_AUTH: "none" },
    port: 0,
    rescanMs: 3_600_000,
  });
  const floor: number[] = [];
  const flint: number[] = [];
  try {
    await floorOnce(); // warm the file cache and V8's code cache for both sides
    for (let i = 0; i < rounds; i++) {
      floor.push(await floorOnce());
      // A new function each round is at zero replicas with no history: a true cold start.
      const name = `cold-${i}`;
      await platform.store.create(
        parseFunction(
          `apiVersion: flint.dev/v1alpha1\nkind: Function\nmetadata: { name: ${name} }\nspec: { handler: { mode: module, entry: handler.js } }\n`,
        ),
      );
      const started = performance.now();
      const status = await get(`${platform.url}/function/${name}`);
      if (status !== 200) throw new Error(`flint: status ${status}`);
      flint.push(performance.now() - started);
      await platform.store.delete({ name, namespace: "default" });
      process.stderr.write(".");
    }
  } finally {
    await platform.close();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stderr.write("\n");

  const row = (label: string, values: number[]): string =>
    `| ${label} | ${percentile(values, 50).toFixed(1)} | ${percentile(values, 95).toFixed(1)} |`;
  const diff = (p: number): string => (percentile(flint, p) - percentile(floor, p)).toFixed(1);
  console.log(`\nCold starts, ${rounds} of each, interleaved (ms, lower is better)\n`);
  console.log("| path | p50 | p95 |");
  console.log("|---|---:|---:|");
  console.log(row("floor: spawn watchdog + handler, first response", floor));
  console.log(row("flint: call at zero replicas → response (gateway, autoscaler, supervisor)", flint));
  console.log(`| flint − floor | ${diff(50)} | ${diff(95)} |`);
  console.log(`\nratio flint/floor at p50: ${(percentile(flint, 50) / percentile(floor, 50)).toFixed(2)}x`);
}
