// The chaos probes: each starts a real `flint up` on functions it writes, does to it what a careless
// or hostile user would (stalled uploads, an async flood, kill -9 of a replica or of flint up itself,
// a handler that blocks its event loop, a log flood), and counts what the platform promised and kept.
import { connect, type Socket } from "node:net";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  call,
  delay,
  descendants,
  processGone,
  sampleRss,
  scratchDir,
  startFlintUp,
  until,
  type FlintUp,
  type Reply,
} from "./flint-up.js";

/** One probe's figures, as the table prints them. */
export interface ProbeResult {
  readonly name: string;
  /** Requests (or processes, for the supervisor probe) the probe sent or watched. */
  readonly sent: number;
  /** Answers the docs do not promise (a bare 5xx, no answer, a wrong status). */
  readonly failed: number;
  /** Accepted work that never completed, or processes left behind. */
  readonly lost: number;
  readonly baselineMiB: number;
  readonly peakMiB: number;
  /** What the docs promise, in a few words. */
  readonly promise: string;
  /** Whether it held. */
  readonly ok: boolean;
  readonly notes: string;
}

export interface Probe {
  readonly name: string;
  run(options: ProbeOptions): Promise<ProbeResult>;
}

export interface ProbeOptions {
  /** Scales the probe's load: 1 is the full probe, smaller is quicker. */
  readonly scale: number;
}

const MiB = 1024 * 1024;

const ECHO_HANDLER = `export default async (request) => {
  const body = await request.arrayBuffer();
  const sleepMs = Number(new URL(request.url).searchParams.get("sleep") ?? "0");
  if (sleepMs > 0) await new Promise((done) => setTimeout(done, sleepMs));
  return new Response(\`\${body.byteLength} from \${process.pid}\`);
};
`;
const SPIN_HANDLER = `export default async (request) => {
  if (new URL(request.url).pathname.endsWith("/spin")) for (;;) {}
  return new Response("ok");
};
`;
const CHATTY_HANDLER = `export default async (request) => {
  const mib = Number(new URL(request.url).searchParams.get("mib") ?? "10");
  const chunk = ("x".repeat(1023) + "\\n").repeat(1024);
  for (let i = 0; i < mib; i++) {
    if (!process.stdout.write(chunk)) await new Promise((done) => process.stdout.once("drain", done));
  }
  return new Response("flooded");
};
`;
const HTTP_SERVER = `import { createServer } from "node:http";
createServer((req, res) => res.end("up")).listen(Number(process.env.PORT), "127.0.0.1");
`;

function manifest(name: string, entry: string, scale: string, timeout = "5s"): string {
  return `apiVersion: flint.dev/v1alpha1
kind: Function
metadata: { name: ${name} }
spec:
  handler: { mode: module, entry: ${entry} }
  timeout: ${timeout}
  scale: ${scale}
`;
}

/** A folder with the given functions: name → [handler file text, manifest text]. */
function functionsDir(functions: Record<string, readonly [string, string]>): string {
  const dir = scratchDir();
  for (const [name, [handler, yaml]] of Object.entries(functions)) {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, `${name}.js`), handler);
    writeFileSync(join(dir, name, "function.yaml"), yaml);
  }
  return dir;
}

const mib = (bytes: number): number => Math.round((bytes / MiB) * 10) / 10;

/** Runs `count` calls with `concurrency` workers; `make(i)` makes call i. */
async function load(
  count: number,
  concurrency: number,
  make: (i: number) => Promise<Reply>,
): Promise<Reply[]> {
  const replies: Reply[] = new Array<Reply>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        replies[i] = await make(i);
      }
    }),
  );
  return replies;
}

async function withFlintUp<T>(
  dir: string,
  env: Record<string, string>,
  body: (up: FlintUp) => Promise<T>,
): Promise<T> {
  const up = await startFlintUp(dir, env);
  try {
    return await body(up);
  } finally {
    await up.close();
  }
}

async function readyReplicas(up: FlintUp, name: string): Promise<{ id: string; pid: number }[]> {
  const reply = await call(`${up.url}/system/functions/${name}/replicas`, {
    headers: { authorization: `Bearer ${up.token}` },
  });
  if (reply.status !== 200) return [];
  const items = (
    JSON.parse(reply.body.toString()) as { items: { id: string; state: string; process?: string }[] }
  ).items;
  return items
    .filter((item) => item.state === "ready" && item.process !== undefined)
    .map((item) => ({ id: item.id, pid: Number(item.process) }));
}

/** A connection that sends the head of a 1 MiB upload and 1 KB of it, then nothing. */
class StalledUpload {
  readonly socket: Socket;
  response = "";
  closed = false;

  constructor(url: string, path: string) {
    const { hostname, port } = new URL(url);
    this.socket = connect(Number(port), hostname);
    this.socket.on("data", (chunk: Buffer) => (this.response += chunk.toString("latin1")));
    this.socket.on("close", () => (this.closed = true));
    this.socket.on("error", () => undefined);
    this.socket.write(
      `POST ${path} HTTP/1.1\r\nHost: flint\r\nContent-Length: ${MiB}\r\n\r\n${"x".repeat(1000)}`,
    );
  }

  get status(): number | undefined {
    const match = /^HTTP\/1\.1 (\d{3})/.exec(this.response);
    return match === null ? undefined : Number(match[1]);
  }
}

/** 500 stalled 1 MiB async uploads with no credential, while normal calls go on. */
const stalledUploads: Probe = {
  name: "stalled async uploads",
  async run({ scale }) {
    const dir = functionsDir({
      echo: [ECHO_HANDLER, manifest("echo", "echo.js", "{ min: 1, max: 2, target: 50 }")],
    });
    return withFlintUp(dir, {}, async (up) => {
      await until(async () => (await readyReplicas(up, "echo")).length >= 1, 20_000);
      const stalledCount = Math.round(500 * scale);
      const normalCount = Math.round(400 * scale);
      const rss = sampleRss(up.pid);
      const stalled = Array.from(
        { length: stalledCount },
        () => new StalledUpload(up.url, "/async-function/echo"),
      );
      const normal = await load(normalCount, 16, () =>
        call(`${up.url}/function/echo`, { method: "POST", body: "hi" }),
      );
      // The uploads the gateway reads are dropped at the function's 5 s timeout; the rest at once.
      await until(() => stalled.every((upload) => upload.closed), 15_000);
      const { baselineBytes, peakBytes } = rss.stop();
      for (const upload of stalled) upload.socket.destroy();
      const normalFailed = normal.filter((reply) => reply.status !== 200).length;
      const badStalled = stalled.filter(
        (upload) => !upload.closed || ![408, 503].includes(upload.status ?? 0),
      );
      const growth = peakBytes - baselineBytes;
      const ok = normalFailed === 0 && badStalled.length === 0 && growth < 128 * MiB;
      return {
        name: this.name,
        sent: stalledCount + normalCount,
        failed: normalFailed + badStalled.length,
        lost: 0,
        baselineMiB: mib(baselineBytes),
        peakMiB: mib(peakBytes),
        promise: "normal calls pass; stalled get 503/408 and are closed; < 128 MiB growth",
        ok,
        notes: `${stalled.filter((u) => u.status === 503).length} × 503, ${stalled.filter((u) => u.status === 408).length} × 408`,
      };
    });
  },
};

/**
 * 800 × 1 MiB async submissions, ten times what the in-memory queue holds, to a function that takes
 * 2 s a call: the queue fills, and what it cannot keep is refused.
 */
const asyncFlood: Probe = {
  name: "10x async flood",
  async run({ scale }) {
    const dir = functionsDir({
      echo: [ECHO_HANDLER, manifest("echo", "echo.js", "{ min: 1, max: 2, target: 50 }")],
    });
    // The queue's bound is set so that 800 MiB is ten times it.
    return withFlintUp(dir, { FLINT_ASYNC_QUEUE_BYTES: "80Mi" }, async (up) => {
      await until(async () => (await readyReplicas(up, "echo")).length >= 1, 20_000);
      const count = Math.round(800 * scale);
      const body = Buffer.alloc(MiB - 1024, 120);
      const rss = sampleRss(up.pid);
      const replies = await load(count, 16, () =>
        call(`${up.url}/async-function/echo/?sleep=2000`, { method: "POST", body }),
      );
      const accepted = replies
        .filter((reply) => reply.status === 202)
        .map((reply) => String(reply.headers["x-call-id"]));
      const refused = replies.filter(
        (reply) =>
          reply.status === 503 &&
          reply.headers["retry-after"] !== undefined &&
          reply.body.includes("ASYNC_QUEUE_FULL"),
      );
      const auth = { authorization: `Bearer ${up.token}` };
      const succeeded = new Set<string>();
      await until(async () => {
        for (const id of accepted) {
          if (succeeded.has(id)) continue;
          const record = await call(`${up.url}/async-function/calls/${id}`, { headers: auth });
          if (
            record.status === 200 &&
            (JSON.parse(record.body.toString()) as { state: string }).state === "succeeded"
          )
            succeeded.add(id);
        }
        return succeeded.size === accepted.length;
      }, 120_000);
      const { baselineBytes, peakBytes } = rss.stop();
      const failed = count - accepted.length - refused.length;
      const lost = accepted.length - succeeded.size;
      const growth = peakBytes - baselineBytes;
      return {
        name: this.name,
        sent: count,
        failed,
        lost,
        baselineMiB: mib(baselineBytes),
        peakMiB: mib(peakBytes),
        promise: "202 or 503 ASYNC_QUEUE_FULL + Retry-After; every 202 runs; growth < bound + 128 MiB",
        ok: failed === 0 && lost === 0 && growth < 208 * MiB,
        notes: `${accepted.length} accepted, ${refused.length} refused (bound 80 MiB)`,
      };
    });
  },
};

/** kill -9 of a replica, three times, under steady GET and POST load. */
const replicaKill: Probe = {
  name: "replica kill -9 under load",
  async run({ scale }) {
    const dir = functionsDir({
      echo: [ECHO_HANDLER, manifest("echo", "echo.js", "{ min: 3, max: 4, target: 50 }")],
    });
    return withFlintUp(dir, {}, async (up) => {
      await until(async () => (await readyReplicas(up, "echo")).length >= 3, 30_000);
      const rss = sampleRss(up.pid);
      let running = true;
      const replies: { method: string; reply: Reply }[] = [];
      const workers = Array.from({ length: 16 }, async (_, worker) => {
        while (running) {
          const method = worker % 2 === 0 ? "GET" : "POST";
          const reply = await call(`${up.url}/function/echo`, {
            method,
            ...(method === "POST" ? { body: "x" } : {}),
          });
          replies.push({ method, reply });
        }
      });
      const kills = 3;
      let killed = 0;
      for (let i = 0; i < kills; i++) {
        await delay(1500 * scale + 500);
        const replicas = await readyReplicas(up, "echo");
        const victim = replicas[0];
        if (victim === undefined) continue;
        process.kill(victim.pid, "SIGKILL");
        killed++;
        await until(async () => (await readyReplicas(up, "echo")).length >= 3, 15_000);
      }
      await delay(1000);
      running = false;
      await Promise.all(workers);
      const { baselineBytes, peakBytes } = rss.stop();
      const failedGets = replies.filter(
        ({ method, reply }) => method === "GET" && reply.status !== 200,
      ).length;
      const lostPosts = replies.filter(
        ({ method, reply }) =>
          method === "POST" && reply.status !== 200 && reply.headers["x-flint-error"] === "replica-lost",
      ).length;
      const barePosts = replies.filter(
        ({ method, reply }) =>
          method === "POST" && reply.status !== 200 && reply.headers["x-flint-error"] !== "replica-lost",
      ).length;
      return {
        name: this.name,
        sent: replies.length,
        failed: failedGets + barePosts,
        lost: 0,
        baselineMiB: mib(baselineBytes),
        peakMiB: mib(peakBytes),
        promise: "0 failed GETs; a failed POST says X-Flint-Error: replica-lost",
        ok: failedGets === 0 && barePosts === 0 && killed === kills,
        notes: `${killed} kills; ${lostPosts} POSTs answered replica-lost`,
      };
    });
  },
};

/** kill -9 of `flint up` itself: its replicas (and their programs) must not outlive it. */
const supervisorKill: Probe = {
  name: "flint up kill -9",
  async run() {
    const dir = functionsDir({
      echo: [ECHO_HANDLER, manifest("echo", "echo.js", "{ min: 2, max: 2, target: 50 }")],
    });
    mkdirSync(join(dir, "server"));
    writeFileSync(join(dir, "server", "server.mjs"), HTTP_SERVER);
    writeFileSync(
      join(dir, "server", "function.yaml"),
      `apiVersion: flint.dev/v1alpha1
kind: Function
metadata: { name: server }
spec:
  handler: { mode: http, command: ["node", "server.mjs"], port: 8081 }
  scale: { min: 1, max: 1, target: 10 }
`,
    );
    const up = await startFlintUp(dir);
    try {
      await until(
        async () =>
          (await readyReplicas(up, "echo")).length >= 2 && (await readyReplicas(up, "server")).length >= 1,
        30_000,
      );
      const processes = descendants(up.pid);
      const rss = sampleRss(up.pid);
      const { baselineBytes, peakBytes } = rss.stop();
      process.kill(up.pid, "SIGKILL");
      await until(() => processes.every(processGone), 5000);
      const left = processes.filter((pid) => !processGone(pid));
      for (const pid of left) process.kill(pid, "SIGKILL");
      return {
        name: this.name,
        sent: processes.length,
        failed: 0,
        lost: left.length,
        baselineMiB: mib(baselineBytes),
        peakMiB: mib(peakBytes),
        promise: "every replica and its program gone within 5 s",
        ok: left.length === 0 && processes.length >= 3,
        notes: `${processes.length} processes under flint up; ${left.length} left`,
      };
    } finally {
      await up.close();
    }
  },
};

/** A handler that blocks its event loop forever: the replica must be replaced. */
const stuckHandler: Probe = {
  name: "stuck handler",
  async run() {
    const dir = functionsDir({
      spin: [SPIN_HANDLER, manifest("spin", "spin.js", "{ min: 1, max: 1, target: 50 }")],
    });
    return withFlintUp(dir, {}, async (up) => {
      await until(async () => (await readyReplicas(up, "spin")).length >= 1, 20_000);
      const rss = sampleRss(up.pid);
      const stuck = call(`${up.url}/function/spin/spin`, { timeoutMs: 60_000 });
      const startedMs = Date.now();
      let sent = 1;
      let recoveredMs: number | undefined;
      // Calls until one is answered by a replacement replica.
      while (Date.now() - startedMs < 60_000) {
        sent++;
        const reply = await call(`${up.url}/function/spin/ok`, { timeoutMs: 10_000 });
        if (reply.status === 200) {
          recoveredMs = Date.now() - startedMs;
          break;
        }
        await delay(200);
      }
      const stuckReply = await stuck;
      const after = await load(50, 4, () => call(`${up.url}/function/spin/ok`));
      sent += after.length;
      const failedAfter = after.filter((reply) => reply.status !== 200).length;
      const { baselineBytes, peakBytes } = rss.stop();
      const ok = recoveredMs !== undefined && recoveredMs < 30_000 && failedAfter === 0;
      return {
        name: this.name,
        sent,
        failed: failedAfter + (recoveredMs === undefined ? 1 : 0),
        lost: 0,
        baselineMiB: mib(baselineBytes),
        peakMiB: mib(peakBytes),
        promise: "replaced within 30 s, then every call passes",
        ok,
        notes: `recovered after ${recoveredMs === undefined ? "never" : `${(recoveredMs / 1000).toFixed(1)} s`}; the stuck call got ${stuckReply.status}`,
      };
    });
  },
};

/** `dropped.lines` of a logs answer (local/log-buffer.ts), 0 when the answer is not one. */
function droppedLines(body: Buffer): number {
  try {
    const answer = JSON.parse(body.toString("utf8")) as { dropped?: { lines?: number } };
    return answer.dropped?.lines ?? 0;
  } catch {
    return 0;
  }
}

/** 300 MiB of stdout from one call: the log buffer is bounded, and so is one logs answer. */
const logFlood: Probe = {
  name: "log flood",
  async run({ scale }) {
    const dir = functionsDir({
      chatty: [CHATTY_HANDLER, manifest("chatty", "chatty.js", "{ min: 1, max: 1, target: 50 }", "120s")],
    });
    return withFlintUp(dir, {}, async (up) => {
      await until(async () => (await readyReplicas(up, "chatty")).length >= 1, 20_000);
      const floodMiB = Math.max(8, Math.round(300 * scale));
      const rss = sampleRss(up.pid);
      const flood = await call(`${up.url}/function/chatty/?mib=${floodMiB}`, { timeoutMs: 120_000 });
      const logs = await call(`${up.url}/system/functions/chatty/logs?limit=10000`, {
        headers: { authorization: `Bearer ${up.token}` },
        timeoutMs: 60_000,
      });
      const { baselineBytes, peakBytes } = rss.stop();
      const growth = peakBytes - baselineBytes;
      const dropped = droppedLines(logs.body);
      const saysDropped = dropped > 0;
      const ok =
        flood.status === 200 &&
        logs.status === 200 &&
        logs.body.length < 5 * MiB &&
        growth < 128 * MiB &&
        saysDropped;
      return {
        name: this.name,
        sent: 2,
        failed: (flood.status === 200 ? 0 : 1) + (logs.status === 200 ? 0 : 1),
        lost: 0,
        baselineMiB: mib(baselineBytes),
        peakMiB: mib(peakBytes),
        promise: "growth < 128 MiB; one logs answer < 5 MiB (4 MiB of text) and says what was dropped",
        ok,
        notes: `${floodMiB} MiB written (${flood.status}); logs answer ${logs.status}, ${mib(logs.body.length)} MiB${saysDropped ? `, says ${dropped} lines dropped` : ", says nothing dropped"}`,
      };
    });
  },
};

/** A handler that takes 4 GiB of Buffers, every page touched, on /grab. */
const GREEDY_HANDLER = `const kept = [];
export default async (request) => {
  if (new URL(request.url).pathname === "/grab") {
    for (let i = 0; i < 64; i++) kept.push(Buffer.alloc(64 * 1024 * 1024, 1));
    return new Response("took 4 GiB");
  }
  return new Response("ok");
};
`;

/** 4 GiB asked for under a 128Mi limit: refused by the platform, and the function recovers. */
const memoryLimit: Probe = {
  name: "4 GiB under a 128Mi limit",
  async run() {
    const dir = functionsDir({
      greedy: [
        GREEDY_HANDLER,
        `${manifest("greedy", "greedy.js", "{ min: 1, max: 1, target: 50 }", "30s")}  resources: { limits: { memory: 128Mi } }\n`,
      ],
    });
    return withFlintUp(dir, {}, async (up) => {
      await until(async () => (await readyReplicas(up, "greedy")).length >= 1, 20_000);
      const rss = sampleRss(up.pid);
      const grab = await call(`${up.url}/function/greedy/grab`, { timeoutMs: 60_000 });
      // The replica is replaced; then calls pass again.
      await until(async () => (await call(`${up.url}/function/greedy/`)).status === 200, 30_000);
      const after = await load(50, 4, () => call(`${up.url}/function/greedy/`));
      const failedAfter = after.filter((reply) => reply.status !== 200).length;
      const logs = await call(`${up.url}/system/functions/greedy/logs?limit=2000`, {
        headers: { authorization: `Bearer ${up.token}` },
      });
      const { baselineBytes, peakBytes } = rss.stop();
      const saysOom = logs.body.toString().includes("OOMKilled");
      return {
        name: this.name,
        sent: 1 + after.length,
        failed: failedAfter + (grab.status === 200 ? 1 : 0),
        lost: 0,
        baselineMiB: mib(baselineBytes),
        peakMiB: mib(peakBytes),
        promise: "the 4 GiB call fails, the logs say OOMKilled, then every call passes",
        ok: grab.status !== 200 && saysOom && failedAfter === 0,
        notes: `the greedy call got ${grab.status}${saysOom ? "; logs say OOMKilled" : `; logs (${logs.status}) say nothing of memory`}`,
      };
    });
  },
};

export const PROBES: readonly Probe[] = [
  stalledUploads,
  asyncFlood,
  replicaKill,
  supervisorKill,
  stuckHandler,
  logFlood,
  memoryLimit,
];
