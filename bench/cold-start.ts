// Benchmark: cold starts. The floor (spawn the watchdog with the handler, first response) against
// Flint's (a call at zero replicas through the local platform's gateway), spawning a process and
// taking a pre-started runtime from the pool, in one run, interleaved.
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { parseFunction } from "../api/index.js";
import { startLocalPlatform, type LocalPlatform } from "../embedded/platform.js";

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
  const start = (poolSize: number): Promise<LocalPlatform> =>
    startLocalPlatform({
      dir,
      env: { ...process.env, FLINT_AUTH: "none" },
      port: 0,
      rescanMs: 3_600_000,
      poolSize,
    });
  const [spawning, pooled] = await Promise.all([start(0), start(2)]);
  const floor: number[] = [];
  const flint: number[] = [];
  const flintPool: number[] = [];
  /** A call to a new function (zero replicas, no history: a true cold start), in ms. */
  const coldCall = async (platform: LocalPlatform, name: string): Promise<number> => {
    await platform.store.create(
      parseFunction(
        `apiVersion: flint.dev/v1alpha1\nkind: Function\nmetadata: { name: ${name} }\nspec: { handler: { mode: module, entry: handler.js } }\n`,
      ),
    );
    const started = performance.now();
    const status = await get(`${platform.url}/function/${name}`);
    if (status !== 200) throw new Error(`${name}: status ${status}`);
    const elapsed = performance.now() - started;
    await platform.store.delete({ name, namespace: "default" });
    return elapsed;
  };
  const poolFull = async (): Promise<void> => {
    for (let waited = 0; pooled.supervisor.pooledPids().length < 2; waited += 10) {
      if (waited > 20_000) throw new Error("the pool did not refill within 20 s");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  try {
    await floorOnce(); // warm the file cache and V8's code cache for every path
    for (let i = 0; i < rounds; i++) {
      floor.push(await floorOnce());
      flint.push(await coldCall(spawning, `cold-${i}`));
      await poolFull();
      flintPool.push(await coldCall(pooled, `pooled-${i}`));
      process.stderr.write(".");
    }
  } finally {
    await Promise.all([spawning.close(), pooled.close()]);
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
  console.log(row("flint with the pool: a pre-started runtime loads the module", flintPool));
  const ratio = (values: number[]): string => (percentile(values, 50) / percentile(floor, 50)).toFixed(2);
  console.log(
    `\nratio to the floor at p50: flint ${ratio(flint)}x, flint with the pool ${ratio(flintPool)}x`,
  );
}
