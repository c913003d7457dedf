// Benchmark: a trivial handler behind the watchdog (module and http modes) against a bare node:http server.
import autocannon from "autocannon";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, waitForOk } from "./support.js";

/** The watchdog's entry point, built next to this file by `npm run bench`. */
const WATCHDOG_MAIN = resolve(dirname(fileURLToPath(import.meta.url)), "../watchdog/main.js");

/** The baseline: the same "hello" answer from node:http with nothing in between. */
const BARE_SERVER = `
import { createServer } from "node:http";
createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/plain" });
  res.end("hello");
}).listen(Number(process.env.PORT), "127.0.0.1");
`;

/**
 * Reference only: the least a node:http proxy does (keep-alive agent, pipe both ways, no limits, logs
 * or metrics), to show how much of http mode's cost is Node's HTTP client rather than the watchdog.
 */
const MINIMAL_PROXY = `
import { Agent, createServer, request } from "node:http";
const agent = new Agent({ keepAlive: true, maxFreeSockets: 256 });
const upstreamPort = Number(process.env.UPSTREAM_PORT);
createServer((req, res) => {
  const upstream = request(
    { agent, host: "127.0.0.1", port: upstreamPort, method: req.method, path: req.url, headers: req.headers },
    (upstreamRes) => {
      res.writeHead(upstreamRes.statusCode, upstreamRes.headers);
      upstreamRes.pipe(res);
    },
  );
  upstream.on("error", () => res.writeHead(502).end());
  req.pipe(upstream);
}).listen(Number(process.env.PORT), "127.0.0.1");
`;

/** The same answer as a fetch-style module handler. */
const HELLO_MODULE = `
export default function hello() {
  return new Response("hello", { headers: { "content-type": "text/plain" } });
}
`;

interface Options {
  durationSeconds: number;
  rounds: number;
  connections: number;
  /**
   * With `--pin-cpu <n>`, every server process runs on CPU n only (taskset), like a pod with a one-CPU
   * limit; the load generator is left the other CPUs. Without it the scheduler shares all of them.
   */
  pinCpu: number | undefined;
}

interface Target {
  readonly name: string;
  /** The URL load is sent to. */
  readonly url: string;
  readonly processes: ChildProcess[];
}

interface Sample {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** CPU time (user + system) the target's processes spent per request, in microseconds. */
  cpuMicrosPerRequest: number;
}

/** Linux clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on every mainstream kernel). */
const CLOCK_TICKS_PER_SECOND = 100;

export async function run(args: string[]): Promise<void> {
  const options = parseArgs(args);
  const dir = mkdtempSync(join(tmpdir(), "flint-bench-watchdog-"));
  const targets: Target[] = [];
  try {
    writeFileSync(join(dir, "bare.mjs"), BARE_SERVER);
    writeFileSync(join(dir, "hello.mjs"), HELLO_MODULE);
    writeFileSync(join(dir, "proxy.mjs"), MINIMAL_PROXY);
    targets.push(await startBare(dir, options.pinCpu));
    targets.push(
      await startWatchdog(dir, options.pinCpu, "watchdog, module mode", {
        FLINT_MODE: "module",
        FLINT_ENTRY: join(dir, "hello.mjs"),
      }),
    );
    const upstreamPort = await freePort();
    targets.push(
      await startWatchdog(dir, options.pinCpu, "watchdog, http mode", {
        FLINT_MODE: "http",
        FLINT_COMMAND: JSON.stringify([process.execPath, join(dir, "bare.mjs")]),
        FLINT_UPSTREAM_PORT: String(upstreamPort),
      }),
    );
    targets.push(await startMinimalProxy(dir, options.pinCpu));

    console.log(
      `watchdog benchmark: ${options.connections} connections, pipelining 1, ${options.durationSeconds} s per run, ` +
        `${options.rounds} rounds interleaved (medians), node ${process.version}, logs at info to a file, ` +
        (options.pinCpu === undefined ? "servers unpinned" : `servers pinned to CPU ${options.pinCpu}`),
    );
    for (const target of targets) await measure(target, 2, options.connections); // warm-up, discarded

    const samples = new Map<string, Sample[]>(targets.map((target) => [target.name, []]));
    for (let round = 1; round <= options.rounds; round++) {
      for (const target of targets) {
        const sample = await measure(target, options.durationSeconds, options.connections);
        samples.get(target.name)!.push(sample);
        console.log(
          `  round ${round} ${target.name}: ${Math.round(sample.requestsPerSecond)} req/s, ` +
            `p50 ${sample.p50Ms} ms, p99 ${sample.p99Ms} ms, ${Math.round(sample.cpuMicrosPerRequest)} CPU µs/req, ` +
            `errors ${sample.errors}`,
        );
      }
    }
    printTable(targets, samples);
  } finally {
    for (const target of targets) for (const child of target.processes) child.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}

function parseArgs(args: string[]): Options {
  const options: Options = { durationSeconds: 5, rounds: 3, connections: 50, pinCpu: undefined };
  for (let i = 0; i < args.length; i += 2) {
    const value = Number(args[i + 1]);
    if (args[i] === "--pin-cpu" && Number.isInteger(value) && value >= 0) options.pinCpu = value;
    else if (!Number.isInteger(value) || value <= 0) throw new Error(`${args[i]} needs a positive integer`);
    else if (args[i] === "--duration") options.durationSeconds = value;
    else if (args[i] === "--rounds") options.rounds = value;
    else if (args[i] === "--connections") options.connections = value;
    else {
      throw new Error(
        `unknown option ${args[i]}; known: --duration <s> --rounds <n> --connections <n> --pin-cpu <cpu>`,
      );
    }
  }
  return options;
}

/** The command that runs `node <args>` as a server: on the pinned CPU if there is one. */
function serverCommand(pinCpu: number | undefined, args: string[]): [string, string[]] {
  return pinCpu === undefined
    ? [process.execPath, args]
    : ["taskset", ["-c", String(pinCpu), process.execPath, ...args]];
}

async function measure(target: Target, durationSeconds: number, connections: number): Promise<Sample> {
  const pids = target.processes.flatMap((child) => processTree(child.pid!));
  const cpuBefore = cpuTicks(pids);
  const result = await autocannon({ url: target.url, connections, pipelining: 1, duration: durationSeconds });
  const cpuSeconds = (cpuTicks(pids) - cpuBefore) / CLOCK_TICKS_PER_SECOND;
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    cpuMicrosPerRequest: (cpuSeconds * 1e6) / Math.max(1, result.requests.total),
  };
}

/** `pid` and all its descendants (the http-mode upstream is the watchdog's child). */
function processTree(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .split(" ")
      .filter(Boolean)
      .map(Number);
  } catch {
    // Gone, or not Linux: no descendants to add.
  }
  return [pid, ...children.flatMap(processTree)];
}

/** utime + stime of the processes, in clock ticks: CPU used, unlike throughput, is not skewed by a busy neighbour. */
function cpuTicks(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of stat(5); the slice starts at field 3.
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks;
}

async function startBare(dir: string, pinCpu: number | undefined): Promise<Target> {
  const port = await freePort();
  const [command, args] = serverCommand(pinCpu, [join(dir, "bare.mjs")]);
  const child = spawn(command, args, {
    env: { ...process.env, PORT: String(port) },
    stdio: "ignore",
  });
  const url = `http://127.0.0.1:${port}/`;
  await waitForOk(url, child);
  return { name: "bare node:http", url, processes: [child] };
}

async function startMinimalProxy(dir: string, pinCpu: number | undefined): Promise<Target> {
  const upstream = await startBare(dir, pinCpu);
  const port = await freePort();
  const [command, args] = serverCommand(pinCpu, [join(dir, "proxy.mjs")]);
  const child = spawn(command, args, {
    env: { ...process.env, PORT: String(port), UPSTREAM_PORT: new URL(upstream.url).port },
    stdio: "ignore",
  });
  const url = `http://127.0.0.1:${port}/`;
  await waitForOk(url, child);
  return { name: "reference: minimal node:http proxy", url, processes: [child, ...upstream.processes] };
}

async function startWatchdog(
  dir: string,
  pinCpu: number | undefined,
  name: string,
  env: Record<string, string>,
): Promise<Target> {
  const port = await freePort();
  // Logs go to a file, as a container runtime would take them, not through this process's event loop.
  const log = openSync(join(dir, `${name.replace(/\W+/g, "-")}.log`), "w");
  const [command, args] = serverCommand(pinCpu, [WATCHDOG_MAIN]);
  const child = spawn(command, args, {
    env: {
      ...process.env,
      ...env,
      FLINT_PORT: String(port),
      FLINT_HOST: "127.0.0.1",
      FLINT_FUNCTION: "bench",
    },
    stdio: ["ignore", log, log],
  });
  const base = `http://127.0.0.1:${port}`;
  await waitForOk(`${base}/_/ready`, child);
  return { name, url: `${base}/`, processes: [child] };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function printTable(targets: Target[], samples: Map<string, Sample[]>): void {
  const medians = targets.map((target) => {
    const runs = samples.get(target.name)!;
    return {
      name: target.name,
      rps: median(runs.map((s) => s.requestsPerSecond)),
      p50: median(runs.map((s) => s.p50Ms)),
      p99: median(runs.map((s) => s.p99Ms)),
      errors: runs.reduce((sum, s) => sum + s.errors, 0),
      cpu: median(runs.map((s) => s.cpuMicrosPerRequest)),
    };
  });
  const baseline = medians[0]!;
  console.log("");
  console.log("| server | req/s | × bare | p50 ms | p99 ms | CPU µs/req | bare ÷ CPU | errors |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const row of medians) {
    console.log(
      `| ${row.name} | ${Math.round(row.rps)} | ${(row.rps / baseline.rps).toFixed(2)} | ` +
        `${row.p50} | ${row.p99} | ${Math.round(row.cpu)} | ${(baseline.cpu / row.cpu).toFixed(2)} | ${row.errors} |`,
    );
  }
  console.log(
    "\nreq/s and latency are medians over the rounds; CPU µs/req is the server-side processes' user+system time " +
      "per request (all of them: the http mode row includes its upstream), which a busy neighbour skews far less.",
  );
}
