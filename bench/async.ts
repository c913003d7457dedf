// `npm run bench -- async`: how fast the gateway accepts async calls next to raw JetStream publishes
// from the same client, and how fast the queue drains through a trivial function next to sync calls
// through the same gateway. Real nats-server, redis-server, gateway process and watchdog process.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { AckPolicy, RetentionPolicy, StorageType, connect } from "nats";
import { validateFunction } from "../api/index.js";
import { CALLS_STREAM } from "../gateway/async/jetstream.js";
import { startNats, startRedis, type TestServer } from "../testing/servers.js";
import { freePort, waitForOk } from "./support.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
// Built by `npm run build:dev` (npm test runs it first): test fixtures are not part of dist/.
const FIXTURE = join(root, "build", "testing", "fixtures", "gateway-process.js");
const WATCHDOG = join(root, "dist", "watchdog", "main.js");
const BODY = "x".repeat(128);

interface Options {
  rounds: number;
  durationSeconds: number;
  connections: number;
}

function parseOptions(args: string[]): Options {
  const options: Options = { rounds: 3, durationSeconds: 5, connections: 32 };
  for (let i = 0; i < args.length; i += 2) {
    const value = Number(args[i + 1]);
    if (!Number.isInteger(value) || value < 1) throw new Error(`${args[i]} needs a whole number`);
    if (args[i] === "--rounds") options.rounds = value;
    else if (args[i] === "--duration") options.durationSeconds = value;
    else if (args[i] === "--connections") options.connections = value;
    else throw new Error(`unknown option ${args[i]} (--rounds N, --duration S, --connections C)`);
  }
  return options;
}

export async function run(args: string[]): Promise<void> {
  const options = parseOptions(args);
  const rows: Record<string, number[]> = { publish: [], accept: [], drain: [], sync: [] };
  for (let round = 1; round <= options.rounds; round++) {
    const figures = await oneRound(options);
    for (const [key, value] of Object.entries(figures)) rows[key]?.push(value);
    console.error(
      `round ${round}: publish ${figures.publish.toFixed(0)}/s, accept ${figures.accept.toFixed(0)}/s, ` +
        `drain ${figures.drain.toFixed(0)}/s, sync ${figures.sync.toFixed(0)}/s`,
    );
  }
  const m = (key: string): number => median(rows[key] ?? []);
  console.log(
    `\nasync calls, ${options.connections} concurrent clients, ${BODY.length}-byte bodies, ` +
      `median of ${options.rounds} rounds\n`,
  );
  console.log("| figure | calls/s | baseline | baseline calls/s | ratio |");
  console.log("|---|---:|---|---:|---:|");
  console.log(
    `| accepted by the gateway (202, stored in JetStream + Redis) | ${m("accept").toFixed(0)} | raw JetStream publish, same client | ${m("publish").toFixed(0)} | ${(m("accept") / m("publish")).toFixed(2)}× |`,
  );
  console.log(
    `| drained end to end through a trivial function | ${m("drain").toFixed(0)} | sync calls, same gateway and function | ${m("sync").toFixed(0)} | ${(m("drain") / m("sync")).toFixed(2)}× |`,
  );
}

async function oneRound(options: Options): Promise<Record<"publish" | "accept" | "drain" | "sync", number>> {
  const [nats, redis] = await Promise.all([startNats(), startRedis()]);
  const children: ChildProcess[] = [];
  try {
    const publish = await rawPublishRate(nats, options);

    const fn = validateFunction({
      apiVersion: "flint.dev/v1alpha1",
      kind: "Function",
      metadata: { name: "sink", namespace: "default" },
      spec: { handler: { mode: "module", entry: "handler.js" }, scale: { concurrency: 0 } },
    });
    if (!fn.ok) throw new Error(JSON.stringify(fn.errors));
    const gateway = await startGateway(nats, redis, JSON.stringify(fn.value));
    children.push(gateway.child);
    // Accept with no replica yet: the queue only fills (one call waits for activation).
    const accepted = await autocannon({
      url: `${gateway.url}/async-function/sink`,
      method: "POST",
      body: BODY,
      headers: { "content-type": "text/plain" },
      connections: options.connections,
      duration: options.durationSeconds,
    });
    const acceptedCalls = accepted["2xx"];
    if (accepted.non2xx > 0) console.error(`  ${accepted.non2xx} submissions were refused`);

    const fnPort = await freePort();
    const watchdog = spawn(process.execPath, [WATCHDOG], {
      cwd: join(root, "examples", "hello"),
      env: {
        PATH: process.env["PATH"],
        FLINT_MODE: "module",
        FLINT_ENTRY: "handler.js",
        FLINT_PORT: String(fnPort),
        FLINT_LOG_LEVEL: "error",
      },
      stdio: "ignore",
    });
    children.push(watchdog);
    await waitForOk(`http://127.0.0.1:${fnPort}/_/ready`, watchdog);

    // Drain: from the moment the replica exists until the function's consumer has nothing pending.
    const nc = await connect({ servers: nats.url });
    const jsm = await nc.jetstreamManager();
    const startMs = performance.now();
    gateway.child.stdin?.write(`replica 127.0.0.1:${fnPort}\n`);
    for (;;) {
      const info = await jsm.consumers.info(CALLS_STREAM, "fn_default_sink").catch(() => undefined);
      if (info !== undefined && info.num_pending + info.num_ack_pending === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const drain = acceptedCalls / ((performance.now() - startMs) / 1000);
    await nc.close();

    const sync = await autocannon({
      url: `${gateway.url}/function/sink`,
      method: "POST",
      body: BODY,
      connections: options.connections,
      duration: options.durationSeconds,
    });
    return { publish, accept: accepted.requests.average, drain, sync: sync.requests.average };
  } finally {
    for (const child of children) child.kill("SIGKILL");
    await Promise.all([nats.close(), redis.close()]);
  }
}

/** JetStream publishes acknowledged per second, `connections` at a time, into a file-backed work queue. */
async function rawPublishRate(nats: TestServer, options: Options): Promise<number> {
  const nc = await connect({ servers: nats.url });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({
    name: "BENCH",
    subjects: ["bench.>"],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
  });
  await jsm.consumers.add("BENCH", { durable_name: "bench", ack_policy: AckPolicy.Explicit });
  const js = nc.jetstream();
  const body = new TextEncoder().encode(BODY);
  const endMs = performance.now() + options.durationSeconds * 1000;
  let published = 0;
  const publisher = async (): Promise<void> => {
    while (performance.now() < endMs) {
      await js.publish("bench.sink", body, { msgID: `${published}-${Math.random()}` });
      published++;
    }
  };
  const startMs = performance.now();
  await Promise.all(Array.from({ length: options.connections }, publisher));
  const rate = published / ((performance.now() - startMs) / 1000);
  await nc.close();
  return rate;
}

async function startGateway(
  nats: TestServer,
  redis: TestServer,
  fn: string,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [FIXTURE], {
    env: {
      PATH: process.env["PATH"],
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      FLINT_AUTH: "none",
      FLINT_GATEWAY_PORT: "0",
      FLINT_LOG_LEVEL: "error",
      FLINT_TEST_FUNCTION: fn,
      FLINT_TEST_REPLICA: "",
    },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      const parsed = JSON.parse(line) as { msg?: string; port?: number };
      if (parsed.msg === "listening" && parsed.port !== undefined) resolve(parsed.port);
    });
    child.once("exit", (code) => reject(new Error(`the gateway exited with ${code}`)));
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? 0)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}
