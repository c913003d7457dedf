// A pooled watchdog (FLINT_POOL=1): waits as a generic runtime, then becomes a function on POST /_/specialize.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";

import { call, REPO_ROOT, waitFor, WATCHDOG_MAIN } from "../testing/watchdog.js";

describe("a pooled watchdog", () => {
  let child: ChildProcess;
  let output: string;
  let url: string;

  beforeEach(async () => {
    output = "";
    child = spawn(process.execPath, [WATCHDOG_MAIN], {
      cwd: "/",
      env: { PATH: process.env["PATH"] ?? "", FLINT_POOL: "1", FLINT_PORT: "0", FLINT_HOST: "127.0.0.1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    await waitFor("the pooled line", () => output.includes('"msg":"pooled"'));
    url = `http://127.0.0.1:${/"port":(\d+)/.exec(output)?.[1]}`;
  });
  afterEach(() => {
    child.kill("SIGKILL");
  });

  const specialize = (body: unknown): ReturnType<typeof call> =>
    call(`${url}/_/specialize`, { method: "POST", body: JSON.stringify(body) });

  it("is alive but not ready until specialized, then serves the function on the same port", async () => {
    expect((await call(`${url}/_/health`)).status).toBe(200);
    expect((await call(`${url}/_/ready`)).status).toBe(503);
    const reply = await specialize({
      workdir: join(REPO_ROOT, "examples", "hello"),
      env: {
        FLINT_MODE: "module",
        FLINT_ENTRY: "handler.js",
        FLINT_FUNCTION: "default/hello",
        GREETING: "x",
      },
    });
    expect(reply).toMatchObject({ status: 200, body: '{"ready":true}' });
    expect((await call(`${url}/?name=pool`)).body).toBe("Hello, pool!\n");
    expect((await call(`${url}/_/ready`)).status).toBe(200);
  });

  it("rejects a malformed specialization and keeps waiting", async () => {
    expect((await specialize({ env: {} })).status).toBe(400);
    expect((await specialize({ workdir: "/", env: { A: 1 } })).body).toContain("env.A must be a string");
    expect((await call(`${url}/_/ready`)).status).toBe(503);
  });

  it("answers a configuration error with 400 and exits 1", async () => {
    const reply = await specialize({ workdir: "/", env: { FLINT_MODE: "module" } });
    expect(reply.status).toBe(400);
    expect(reply.body).toContain("FLINT_ENTRY");
    await waitFor("the exit", () => child.exitCode !== null);
    expect(child.exitCode).toBe(1);
  });
});
