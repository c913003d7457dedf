// `flint up` with NATS_URL and REDIS_URL: async calls go through JetStream with records in Redis,
// concurrency samples over NATS; and `--output json` for scripts. Real nats-server and redis-server.
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { connect } from "nats";
import { startNats, startRedis, type TestServer } from "../../testing/servers.js";
import { call, REPO_ROOT, waitFor } from "../../testing/watchdog.js";

const CLI = join(REPO_ROOT, "dist", "cli", "main.js");

describe("flint up on NATS and Redis, with --output json", () => {
  let root: string;
  let nats: TestServer;
  let redis: TestServer;
  let child: ChildProcess;
  const lines: Record<string, unknown>[] = [];
  let start: { url: string; token: string; functions: { name: string; url: string }[] };

  beforeAll(async () => {
    [nats, redis] = await Promise.all([startNats(), startRedis()]);
    root = mkdtempSync(join(tmpdir(), "flint-e2e-nats-"));
    const home = join(root, "home");
    mkdirSync(home);
    cpSync(join(REPO_ROOT, "examples", "hello"), join(root, "functions", "hello"), { recursive: true });
    child = spawn(process.execPath, [CLI, "up", "--port", "0", "--output", "json", join(root, "functions")], {
      env: {
        PATH: process.env["PATH"] ?? "",
        HOME: home,
        FLINT_HOME: home,
        NATS_URL: nats.url,
        REDIS_URL: redis.url,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let pending = "";
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout?.on("data", (chunk: Buffer) => {
      pending += chunk.toString();
      const parts = pending.split("\n");
      pending = parts.pop() ?? "";
      for (const part of parts) lines.push(JSON.parse(part) as Record<string, unknown>);
    });
    await waitFor("the start line", () => lines.some((line) => line["type"] === "up"), {
      timeoutMs: 30_000,
    }).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${stderr}`);
    });
    start = lines.find((line) => line["type"] === "up") as unknown as typeof start;
  }, 60_000);

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) {
      child.kill("SIGTERM");
      await waitFor("flint up to stop", () => child.exitCode !== null, { timeoutMs: 30_000 });
    }
    await Promise.all([nats?.close(), redis?.close()]);
    rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it("prints its start as one JSON object and its events as JSON lines", () => {
    expect(start.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(start.token).toMatch(/^\S{10,}$/);
    expect(start.functions).toEqual([
      expect.objectContaining({ name: "hello", url: `${start.url}/function/hello` }),
    ]);
  });

  it("queues an async call in JetStream, records it in Redis, and runs it from zero", async () => {
    const reply = await call(`${start.url}/async-function/hello?name=queued`, { body: "" });
    expect(reply.status).toBe(202);
    const callId = reply.headers["x-call-id"] as string;
    let record: { state?: string; status?: number } = {};
    await waitFor(
      "the call to succeed",
      async () => {
        const lookup = await call(`${start.url}/async-function/calls/${callId}`, {
          headers: { "x-call-token": reply.headers["x-call-token"] as string },
        });
        record = JSON.parse(lookup.body) as typeof record;
        return record.state === "succeeded";
      },
      { timeoutMs: 30_000 },
    );
    expect(record.status).toBe(200);

    // The record is Redis's, and the call went through the JetStream stream.
    const client = new Redis(redis.url);
    try {
      const stored = JSON.parse((await client.get(`flint:call:${callId}`)) ?? "{}") as { state?: string };
      expect(stored.state).toBe("succeeded");
    } finally {
      client.disconnect();
    }
    const nc = await connect({ servers: nats.url });
    try {
      const info = await (await nc.jetstreamManager()).streams.info("FLINT_CALLS");
      expect(info.state.last_seq).toBeGreaterThanOrEqual(1);
    } finally {
      await nc.close();
    }
    // The scale-up it caused shows in the event stream.
    expect(lines).toContainEqual(
      expect.objectContaining({ type: "scaled", function: "default/hello", to: 1 }),
    );
  }, 60_000);

  it("sends concurrency samples over NATS", async () => {
    const nc = await connect({ servers: nats.url });
    try {
      const subscription = nc.subscribe("flint.stats.concurrency", { max: 1 });
      const load = call(`${start.url}/function/hello`);
      const received = (async () => {
        for await (const message of subscription)
          return JSON.parse(new TextDecoder().decode(message.data)) as unknown;
        return undefined;
      })();
      await load;
      expect(await received).toMatchObject({
        function: "default/hello",
        source: expect.any(String) as unknown,
      });
    } finally {
      await nc.close();
    }
  }, 30_000);
});
