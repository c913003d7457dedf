// Benchmark: client → watchdog directly, through the Flint gateway, and through nginx (the reference
// proxy), on the same watchdog and the same machine. Prints throughput at saturation, latency at a
// fixed moderate rate, and the gateway's CPU per request, as medians of interleaved runs.
import autocannon from "autocannon";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../gateway/config.js";
import { MemoryFunctionStore } from "../platform/function-store.js";
import { createGateway } from "../gateway/gateway.js";
import { MemoryBus, MemoryEndpointSource } from "../platform/memory.js";
import { freePort, waitForOk } from "./support.js";

const here = dirname(fileURLToPath(import.meta.url));
/** The watchdog's entry point, built next to this file by `npm run bench`. */
const WATCHDOG_MAIN = resolve(here, "../watchdog/main.js");
/** This benchmark's own entry, used to run the gateway as a separate process. */
const BENCH_MAIN = resolve(here, "main.js");

/** The function every path ends at: the smallest fetch-style handler. */
const HELLO_MODULE = `
export default function hello() {
  return new Response("hello", { headers: { "content-type": "text/plain" } });
}
`;

/** nginx as a keep-alive reverse proxy with the gateway's path mapping, one worker (one core). */
const NGINX_CONFIG = (dir: string, port: number, upstreamPort: number): string => `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx-body;
  proxy_temp_path ${dir}/nginx-proxy;
  fastcgi_temp_path ${dir}/nginx-fastcgi;
  uwsgi_temp_path ${dir}/nginx-uwsgi;
  scgi_temp_path ${dir}/nginx-scgi;
  upstream watchdog {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location /function/hello/ {
      proxy_pass http://watchdog/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`;

interface Options {
  /** Seconds per measurement. */
  durationSeconds: number;
  /** Interleaved rounds; the table shows medians. */
  rounds: number;
  /** Connections for the saturation measurement. */
  connections: number;
  /** Requests per second for the latency measurement. */
  ratePerSecond: number;
}

interface Target {
  readonly name: string;
  readonly url: string;
  /** The proxy's own processes (not the watchdog's), whose CPU time is counted. */
  readonly proxyPids: readonly number[];
}

interface Saturation {
  requestsPerSecond: number;
  errors: number;
  /** CPU time the proxy spent per request, in microseconds (undefined for the direct path). */
  cpuMicrosPerRequest: number | undefined;
}

interface Latency {
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/** Linux clock ticks per second for /proc/<pid>/stat times (USER_HZ). */
const CLOCK_TICKS_PER_SECOND = 100;

export async function run(args: string[]): Promise<void> {
  if (args[0] === "--serve-gateway") return serveGateway(Number(args[1]), Number(args[2]));
  const options = parseArgs(args);
  const dir = mkdtempSync(join(tmpdir(), "flint-bench-gateway-"));
  const children: ChildProcess[] = [];
  try {
    writeFileSync(join(dir, "hello.mjs"), HELLO_MODULE);
    const watchdogPort = await freePort();
    children.push(await startWatchdog(dir, watchdogPort));
    const targets: Target[] = [{ name: "direct", url: `http://127.0.0.1:${watchdogPort}/`, proxyPids: [] }];

    const gatewayPort = await freePort();
    const gateway = spawn(
      process.execPath,
      [BENCH_MAIN, "gateway", "--serve-gateway", String(gatewayPort), String(watchdogPort)],
      {
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
    children.push(gateway);
    const gatewayUrl = `http://127.0.0.1:${gatewayPort}/function/hello/`;
    await waitForOk(gatewayUrl, gateway);
    targets.push({ name: "gateway", url: gatewayUrl, proxyPids: [gateway.pid!] });

    const nginx = await startNginx(dir, watchdogPort);
    if (nginx === undefined) {
      console.log(
        "nginx is not installed, so the reference column is missing. Install it with:\n  apt-get install -y nginx-light",
      );
    } else {
      children.push(nginx.child);
      targets.push(nginx.target);
    }

    console.log(
      `gateway benchmark: saturation with ${options.connections} connections; latency at ${options.ratePerSecond} req/s ` +
        `over 10 connections; ${options.durationSeconds} s per measurement; ${options.rounds} rounds interleaved (medians); ` +
        `node ${process.version}; one gateway process and one nginx worker; watchdog logs to a file`,
    );
    for (const target of targets) await saturate(target, 2, options.connections); // warm-up, discarded

    const saturation = new Map<string, Saturation[]>(targets.map((target) => [target.name, []]));
    const latency = new Map<string, Latency[]>(targets.map((target) => [target.name, []]));
    for (let round = 1; round <= options.rounds; round++) {
      for (const target of targets) {
        const sample = await saturate(target, options.durationSeconds, options.connections);
        saturation.get(target.name)!.push(sample);
        const cpu =
          sample.cpuMicrosPerRequest === undefined
            ? ""
            : `, ${sample.cpuMicrosPerRequest.toFixed(0)} proxy CPU µs/req`;
        console.log(
          `  round ${round} ${target.name}: ${Math.round(sample.requestsPerSecond)} req/s${cpu}, errors ${sample.errors}`,
        );
      }
      for (const target of targets) {
        const sample = await measureLatency(target, options.durationSeconds, options.ratePerSecond);
        latency.get(target.name)!.push(sample);
        console.log(
          `  round ${round} ${target.name} at ${options.ratePerSecond} req/s: p50 ${sample.p50Ms.toFixed(3)} ms, ` +
            `p99 ${sample.p99Ms.toFixed(3)} ms, errors ${sample.errors}`,
        );
      }
    }
    printTable(targets, saturation, latency, options);
  } finally {
    for (const child of children) child.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}

function parseArgs(args: string[]): Options {
  const options: Options = { durationSeconds: 5, rounds: 3, connections: 50, ratePerSecond: 1000 };
  const usage = "known: --duration <s> --rounds <n> --connections <n> --rate <req/s>";
  for (let i = 0; i < args.length; i += 2) {
    const value = Number(args[i + 1]);
    if (!Number.isInteger(value) || value <= 0)
      throw new Error(`${args[i]} needs a positive integer; ${usage}`);
    if (args[i] === "--duration") options.durationSeconds = value;
    else if (args[i] === "--rounds") options.rounds = value;
    else if (args[i] === "--connections") options.connections = value;
    else if (args[i] === "--rate") options.ratePerSecond = value;
    else throw new Error(`unknown option ${args[i]}; ${usage}`);
  }
  return options;
}

/** Throughput with every connection busy, and the proxy's CPU per request. */
async function saturate(target: Target, durationSeconds: number, connections: number): Promise<Saturation> {
  const cpuBefore = cpuTicks(target.proxyPids);
  const result = await autocannon({ url: target.url, connections, pipelining: 1, duration: durationSeconds });
  const cpuSeconds = (cpuTicks(target.proxyPids) - cpuBefore) / CLOCK_TICKS_PER_SECOND;
  return {
    requestsPerSecond: result.requests.average,
    errors: result.errors + result.timeouts + result.non2xx,
    cpuMicrosPerRequest:
      target.proxyPids.length === 0 ? undefined : (cpuSeconds * 1e6) / Math.max(1, result.requests.total),
  };
}

/**
 * Latency at a fixed rate well below saturation. autocannon's own histogram counts whole
 * milliseconds, too coarse for a proxy hop, so every response time is kept and sorted here.
 */
async function measureLatency(
  target: Target,
  durationSeconds: number,
  ratePerSecond: number,
): Promise<Latency> {
  const timesMs: number[] = [];
  const result = await new Promise<autocannon.Result>((done, fail) => {
    const instance = autocannon(
      {
        url: target.url,
        connections: 10,
        pipelining: 1,
        duration: durationSeconds,
        overallRate: ratePerSecond,
      },
      (error: unknown, finished: autocannon.Result) =>
        error ? fail(error instanceof Error ? error : new Error(JSON.stringify(error))) : done(finished),
    );
    instance.on("response", (_client, _status, _bytes, responseTimeMs) => timesMs.push(responseTimeMs));
  });
  timesMs.sort((a, b) => a - b);
  const at = (fraction: number): number =>
    timesMs[Math.min(timesMs.length - 1, Math.floor(fraction * timesMs.length))] ?? NaN;
  return { p50Ms: at(0.5), p99Ms: at(0.99), errors: result.errors + result.timeouts + result.non2xx };
}

function printTable(
  targets: readonly Target[],
  saturation: ReadonlyMap<string, Saturation[]>,
  latency: ReadonlyMap<string, Latency[]>,
  options: Options,
): void {
  const rps = (name: string): number => median(saturation.get(name)?.map((s) => s.requestsPerSecond) ?? []);
  const p50 = (name: string): number => median(latency.get(name)?.map((s) => s.p50Ms) ?? []);
  const p99 = (name: string): number => median(latency.get(name)?.map((s) => s.p99Ms) ?? []);
  const cpu = (name: string): number =>
    median(saturation.get(name)?.map((s) => s.cpuMicrosPerRequest ?? NaN) ?? []);
  const hasNginx = targets.some((target) => target.name === "nginx");
  const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : "n/a");
  const ms = (value: number): string => (Number.isFinite(value) ? value.toFixed(3) : "n/a");

  console.log(
    `\n| path | req/s at saturation (${options.connections} conns) | vs direct | p50 ms at ${options.ratePerSecond} req/s | p99 ms | added p99 ms | proxy CPU µs/req |`,
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const target of targets) {
    const added = target.name === "direct" ? "—" : ms(p99(target.name) - p99("direct"));
    const cpuText = target.name === "direct" ? "—" : cpu(target.name).toFixed(0);
    console.log(
      `| ${target.name} | ${Math.round(rps(target.name))} | ${ratio(rps(target.name), rps("direct"))} | ` +
        `${ms(p50(target.name))} | ${ms(p99(target.name))} | ${added} | ${cpuText} |`,
    );
  }
  const perCore = 1e6 / cpu("gateway");
  // Paired by round: each round measures every path back to back, so a ratio or difference within a
  // round is less exposed to the machine's drift between rounds than one between medians.
  const paired = (values: (round: number) => number): number =>
    median(Array.from({ length: options.rounds }, (_, round) => values(round)));
  const roundRps = (name: string, round: number): number =>
    saturation.get(name)?.[round]?.requestsPerSecond ?? NaN;
  const roundP99 = (name: string, round: number): number => latency.get(name)?.[round]?.p99Ms ?? NaN;
  const pairedRatio = paired((round) => roundRps("gateway", round) / roundRps("nginx", round));
  const addedP99 = (name: string): number =>
    paired((round) => roundP99(name, round) - roundP99("direct", round));
  console.log(
    `\ngateway throughput vs nginx: ${hasNginx ? ratio(rps("gateway"), rps("nginx")) : "n/a (nginx missing)"}` +
      (hasNginx ? ` (median of per-round ratios ${pairedRatio.toFixed(2)}x)` : "") +
      " (aim ≥ 0.6x)",
  );
  console.log(
    `gateway added p99: ${ms(p99("gateway") - p99("direct"))} ms (median of per-round differences ${ms(addedP99("gateway"))} ms)` +
      (hasNginx
        ? `; nginx added p99: ${ms(p99("nginx") - p99("direct"))} ms (per round ${ms(addedP99("nginx"))} ms)`
        : "") +
      " (aim < 0.5–1 ms, Knative's per hop)",
  );
  console.log(`gateway requests per CPU-second (one core): ${Math.round(perCore)} (aim > 2,500)`);
}

function median(values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** utime + stime of the processes, in clock ticks. */
function cpuTicks(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of stat(5); the slice starts at field 3.
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks;
}

async function startWatchdog(dir: string, port: number): Promise<ChildProcess> {
  // Logs go to a file, as a container runtime would take them, not through this process's event loop.
  const log = openSync(join(dir, "watchdog.log"), "w");
  const child = spawn(process.execPath, [WATCHDOG_MAIN], {
    env: {
      PATH: process.env["PATH"],
      FLINT_MODE: "module",
      FLINT_ENTRY: join(dir, "hello.mjs"),
      FLINT_PORT: String(port),
      FLINT_HOST: "127.0.0.1",
      FLINT_FUNCTION: "default/hello",
    },
    stdio: ["ignore", log, log],
  });
  await waitForOk(`http://127.0.0.1:${port}/_/ready`, child);
  return child;
}

/** Starts nginx in the foreground with its own config, or returns undefined if it is not installed. */
async function startNginx(
  dir: string,
  upstreamPort: number,
): Promise<{ child: ChildProcess; target: Target } | undefined> {
  const probe = spawnSync("nginx", ["-v"], { stdio: "ignore" });
  if (probe.error !== undefined) return undefined;
  const port = await freePort();
  for (const sub of ["nginx-body", "nginx-proxy", "nginx-fastcgi", "nginx-uwsgi", "nginx-scgi"])
    mkdirSync(join(dir, sub));
  const config = join(dir, "nginx.conf");
  writeFileSync(config, NGINX_CONFIG(dir, port, upstreamPort));
  const child = spawn("nginx", ["-p", dir, "-c", config, "-g", "daemon off;"], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const url = `http://127.0.0.1:${port}/function/hello/`;
  await waitForOk(url, child);
  // The master only supervises; the worker (its child) does the proxying.
  const workers = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8")
    .split(" ")
    .filter(Boolean)
    .map(Number);
  return { child, target: { name: "nginx", url, proxyPids: [child.pid!, ...workers] } };
}

/** The gateway's side of the benchmark: a process serving one function at a fixed replica. */
async function serveGateway(port: number, upstreamPort: number): Promise<void> {
  const store = new MemoryFunctionStore();
  const endpoints = new MemoryEndpointSource();
  const bus = new MemoryBus();
  const config = loadConfig({
    FLINT_GATEWAY_PORT: String(port),
    FLINT_AUTH: "none",
    FLINT_LOG_LEVEL: "silent",
  });
  const gateway = createGateway({ store, endpoints, scaleTarget: bus, bus, platform: "bench" }, config);
  const fn = await store.create({
    apiVersion: "flint.dev/v1alpha1",
    kind: "Function",
    metadata: { name: "hello", namespace: "default" },
    spec: {
      handler: { mode: "module", entry: "hello.mjs" },
      timeout: "30s",
      maxBodyBytes: 10 * 1024 * 1024,
      scale: { min: 1, max: 1, target: 100, concurrency: 0, idle: "auto" },
      async: { maxRetries: 3, backoff: { initial: "1s", max: "60s" }, deadLetter: true },
    },
  });
  endpoints.set(fn.metadata, [{ id: "bench-1", host: "127.0.0.1", port: upstreamPort, state: "ready" }]);
  await gateway.listen();
  process.once("SIGTERM", () => void gateway.close().then(() => process.exit(0)));
}
