// End to end on the local platform: `flint up` driven as a user drives it, with real processes.
import { spawn, type ChildProcess } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { call, processGone, REPO_ROOT, waitFor } from "../../testing/watchdog.js";

const CLI = join(REPO_ROOT, "dist", "cli", "main.js");

const SLOW_HANDLER = `export default async (request) => {
  await new Promise((resolve) => setTimeout(resolve, 200));
  return new Response(\`\${process.env.GREETING ?? "hello"} from \${process.pid}\`);
};
`;
const slowManifest = (greeting: string): string => `apiVersion: flint.dev/v1alpha1
kind: Function
metadata: { name: slow }
spec:
  handler: { mode: module, entry: slow.js }
  env: [{ name: GREETING, value: ${greeting} }]
  timeout: 10s
  scale: { min: 0, max: 4, target: 1, concurrency: 2, idle: 2s }
`;

interface Up {
  child: ChildProcess;
  url: string;
  token: string;
  output: () => string;
}

/** Runs `flint up` on `dir` and waits for its banner. */
async function flintUp(dir: string, home: string): Promise<Up> {
  const child = spawn(process.execPath, [CLI, "up", "--port", "0", dir], {
    env: { PATH: process.env["PATH"] ?? "", HOME: home, FLINT_HOME: home },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  await waitFor("the flint up banner", () => /Management token: \S+/.test(output), {
    timeoutMs: 30_000,
  }).catch((error: unknown) => {
    throw new Error(`${String(error)}; output:\n${output}`);
  });
  const url = /gateway (http:\/\/\S+)/.exec(output)?.[1] ?? "";
  const token = /Management token: (\S+)/.exec(output)?.[1] ?? "";
  return { child, url, token, output: () => output };
}

/** The processes `parent` started that still run, from the process table. */
function childPids(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === parent) pids.push(Number(entry));
    } catch {
      // the process went away while we looked
    }
  }
  return pids;
}

/**
 * The watchdog processes `flint up` runs in `dir` (a function's folder): a replica runs in its
 * function's folder, whether it was spawned there or a pooled runtime moved there.
 */
function replicaPids(parent: number, dir: string): number[] {
  return childPids(parent).filter((pid) => {
    try {
      return readlinkSync(`/proc/${pid}/cwd`) === dir;
    } catch {
      return false;
    }
  });
}

function runCli(args: string[], home: string): Promise<{ status: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env["PATH"] ?? "", HOME: home, FLINT_HOME: home },
    });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.once("exit", (status) => resolve({ status, stdout }));
  });
}

describe("flint up (local platform, end to end)", () => {
  let root: string;
  let home: string;
  let up: Up;

  const status = async (name: string): Promise<{ replicas: number; readyReplicas: number }> => {
    const reply = await call(`${up.url}/system/functions/${name}`, {
      headers: { authorization: `Bearer ${up.token}` },
    });
    return (JSON.parse(reply.body) as { status: { replicas: number; readyReplicas: number } }).status;
  };

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "flint-e2e-local-"));
    home = join(root, "home");
    mkdirSync(home);
    cpSync(join(REPO_ROOT, "examples"), join(root, "functions"), { recursive: true });
    mkdirSync(join(root, "functions", "slow"));
    writeFileSync(join(root, "functions", "slow", "slow.js"), SLOW_HANDLER);
    writeFileSync(join(root, "functions", "slow", "function.yaml"), slowManifest("hello"));
    up = await flintUp(join(root, "functions"), home);
  }, 60_000);

  afterAll(async () => {
    // Every replica and pooled runtime must go with flint up: taken before, since orphans get a new parent.
    const children = up?.child.pid === undefined ? [] : childPids(up.child.pid);
    expect(children.length).toBeGreaterThan(0); // at least the pooled runtimes
    if (up !== undefined && up.child.exitCode === null) {
      up.child.kill("SIGTERM");
      await waitFor("flint up to stop", () => up.child.exitCode !== null, { timeoutMs: 30_000 });
    }
    await waitFor("every child of flint up gone", () => children.every(processGone), { timeoutMs: 15_000 });
    expect(up?.child.exitCode).toBe(0);
    rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it("answers every example function from zero replicas", async () => {
    const hello = await call(`${up.url}/function/hello?name=e2e`);
    expect(hello).toMatchObject({ status: 200, body: "Hello, e2e!\n" });
    expect(hello.headers["x-flint-cold-start"]).toBeDefined();
    const shout = await call(`${up.url}/function/shout`, { body: "quiet please" });
    expect(shout).toMatchObject({ status: 200, body: "QUIET PLEASE" });
    const echo = await call(`${up.url}/function/lambda-echo/a/b?x=1`, { body: "hi" });
    expect(JSON.parse(echo.body)).toMatchObject({
      method: "POST",
      path: "/a/b",
      query: { x: "1" },
      body: "hi",
    });
    const counter = await call(`${up.url}/function/http-counter`);
    expect(counter.status).toBe(200);
    expect(JSON.parse(counter.body)).toMatchObject({ count: 1 });
  });

  it("is usable from the flint CLI with the saved connection", async () => {
    expect((await call(`${up.url}/function/hello`)).status).toBe(200);
    const list = await runCli(["list"], home);
    expect(list.status).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+NAMESPACE\s+MODE\s+SCALE\s+READY$/m);
    expect(list.stdout).toMatch(/^hello\s+default\s+module\s+0\.\.5\s+1\/1$/m);
    const invoke = await runCli(["invoke", "shout", "--data", "cli"], home);
    expect(invoke).toEqual({ status: 0, stdout: "CLI" });
    const describe = await runCli(["describe", "hello"], home);
    expect(describe.status).toBe(0);
    expect(describe.stdout).toMatch(/^Ready: +True \(Ready\)$/m);
    expect(describe.stdout).toMatch(/^hello-\d+ +ready +127\.0\.0\.1:\d+ +\d+ +/m);
    const logs = await runCli(["logs", "hello", "--tail", "5"], home);
    expect(logs.status).toBe(0);
    expect(logs.stdout).toMatch(/ hello-\d+ .*"msg":"ready"/);
  });

  it("scales out on a burst, then back to zero when idle (API and process table agree)", async () => {
    const replies = await Promise.all(Array.from({ length: 24 }, () => call(`${up.url}/function/slow`)));
    expect(replies.map((r) => r.status)).toEqual(Array(24).fill(200));
    expect(up.output()).toMatch(/default\/slow: scale \d+ -> [2-4] \(tick\)|default\/slow: scale 1 -> [2-4]/);

    await waitFor("slow at zero replicas", async () => (await status("slow")).replicas === 0, {
      timeoutMs: 150_000,
    });
    await waitFor(
      "no slow processes",
      () => replicaPids(up.child.pid!, join(root, "functions", "slow")).length === 0,
    );

    const cold = await call(`${up.url}/function/slow`);
    expect(cold.status).toBe(200);
    expect(cold.body).toMatch(/^hello from \d+$/);
    expect(cold.headers["x-flint-cold-start"]).toBeDefined();
  }, 200_000);

  it("rolls an edited manifest under steady load without failing a request", async () => {
    await call(`${up.url}/function/slow`);
    let stop = false;
    const failures: string[] = [];
    const bodies = new Set<string>();
    const worker = async (): Promise<void> => {
      while (!stop) {
        const reply = await call(`${up.url}/function/slow`).catch((error: unknown) => ({
          status: 0,
          body: String(error),
          headers: {},
        }));
        if (reply.status !== 200) failures.push(`${reply.status} ${reply.body}`);
        else bodies.add(reply.body.split(" from ")[0] ?? "");
      }
    };
    const workers = [worker(), worker(), worker()];
    writeFileSync(join(root, "functions", "slow", "function.yaml"), slowManifest("bonjour"));
    await waitFor("the new version answering", () => bodies.has("bonjour"), { timeoutMs: 30_000 });
    stop = true;
    await Promise.all(workers);
    expect(failures).toEqual([]);
    expect(up.output()).toContain("default/slow: rolling to version");
  }, 60_000);

  it("reports a broken manifest and keeps the running version", async () => {
    writeFileSync(
      join(root, "functions", "slow", "function.yaml"),
      slowManifest("bonjour").replace("10s", "-1s"),
    );
    await waitFor("the invalid report", () => up.output().includes("slow/function.yaml: invalid"));
    expect(up.output()).toContain("spec.timeout: must be a duration like 30s, 500ms or 1m30s");
    expect((await call(`${up.url}/function/slow`)).body).toMatch(/^bonjour from/);
  }, 30_000);

  it("replaces a replica killed with SIGKILL under load, failing only the calls it held", async () => {
    await call(`${up.url}/function/hello`);
    const [victim] = replicaPids(up.child.pid!, join(root, "functions", "hello"));
    expect(victim).toBeDefined();
    let stop = false;
    let succeeded = 0;
    const failures: number[] = [];
    const workers = Array.from({ length: 3 }, async () => {
      while (!stop) {
        const reply = await call(`${up.url}/function/hello`).catch(() => ({ status: 0 }));
        if (reply.status === 200) succeeded++;
        else failures.push(reply.status);
      }
    });
    await waitFor("load flowing", () => succeeded > 20);
    process.kill(victim!, "SIGKILL");
    await waitFor("the replica gone", () => processGone(victim!));
    await waitFor("a replacement", () =>
      replicaPids(up.child.pid!, join(root, "functions", "hello")).some((pid) => pid !== victim),
    );
    const afterReplacement = succeeded;
    await waitFor("load flowing again", () => succeeded > afterReplacement + 20);
    stop = true;
    await Promise.all(workers);
    // At most the three calls in flight on the killed replica fail, each as a bad gateway.
    expect(failures.length).toBeLessThanOrEqual(3);
    expect(failures.every((status) => status === 502)).toBe(true);
  }, 30_000);
});
