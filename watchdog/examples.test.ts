// The examples in examples/, each run from its manifest the way the platform runs it (api/watchdogEnv).
import { afterEach, describe, expect, it } from "@jest/globals";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { parseManifests, watchdogEnv } from "../api/index.js";
import {
  REPO_ROOT,
  call,
  startWatchdog,
  stopAllWatchdogs,
  type RunningWatchdog,
} from "../testing/watchdog.js";

afterEach(stopAllWatchdogs);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts the example in examples/<name> with the manifest's env, in its folder, on free ports. */
async function startExample(name: string): Promise<RunningWatchdog> {
  const folder = join(REPO_ROOT, "examples", name);
  const [result] = parseManifests(readFileSync(join(folder, "function.yaml")));
  if (result?.ok !== true)
    throw new Error(`examples/${name}/function.yaml is invalid: ${JSON.stringify(result)}`);
  const env = watchdogEnv(result.value);
  if (env.FLINT_UPSTREAM_PORT !== undefined) env.FLINT_UPSTREAM_PORT = String(await freePort());
  return startWatchdog(env, { cwd: folder });
}

describe("examples", () => {
  it("hello greets by query, by body, or the world", async () => {
    const watchdog = await startExample("hello");
    expect(await call(`${watchdog.url}/?name=Ada`)).toMatchObject({ status: 200, body: "Hello, Ada!\n" });
    expect((await call(`${watchdog.url}/`, { body: "Grace" })).body).toBe("Hello, Grace!\n");
    expect((await call(`${watchdog.url}/`)).body).toBe("Hello, world!\n");
  });

  it("lambda-echo echoes method, path, query and body", async () => {
    const watchdog = await startExample("lambda-echo");
    const reply = await call(`${watchdog.url}/some/path?q=1`, {
      method: "POST",
      body: "hi",
      headers: { "x-call-id": "echo-1" },
    });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({
      method: "POST",
      path: "/some/path",
      query: { q: "1" },
      body: "hi",
      requestId: "echo-1",
    });
  });

  it("http-counter counts the calls it serves", async () => {
    const watchdog = await startExample("http-counter");
    const first = JSON.parse((await call(`${watchdog.url}/a`)).body) as { count: number };
    const second = JSON.parse((await call(`${watchdog.url}/b`)).body) as { count: number; path: string };
    expect(second).toMatchObject({ count: first.count + 1, path: "/b" });
  });

  it("shout upper-cases the body", async () => {
    const watchdog = await startExample("shout");
    expect(await call(`${watchdog.url}/`, { body: "hello, flint" })).toMatchObject({
      status: 200,
      body: "HELLO, FLINT",
    });
  });
});
