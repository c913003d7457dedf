// `kill -9` of `flint up`: every replica, pooled runtime, upstream server and exec program it ran
// ends with it, instead of living on reparented to PID 1.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { descendants, startFlintUp, type FlintUp } from "../../testing/flint-up.js";
import { call, processGone, waitFor } from "../../testing/watchdog.js";

const manifest = (name: string, handler: string): string => `apiVersion: flint.dev/v1alpha1
kind: Function
metadata: { name: ${name} }
spec:
  handler: ${handler}
  timeout: 60s
  scale: { min: 1, max: 1 }
`;

/** An http-mode server that starts a child of its own, as a shell wrapper or a worker pool would. */
const SERVER = `import { spawn } from "node:child_process";
import { createServer } from "node:http";
spawn("sleep", ["600"], { stdio: "ignore" });
createServer((req, res) => res.end("server")).listen(Number(process.env.PORT), "127.0.0.1");
`;

function writeFunction(root: string, name: string, files: Record<string, string>): void {
  mkdirSync(join(root, name));
  for (const [file, text] of Object.entries(files))
    writeFileSync(join(root, name, file), text, { mode: 0o755 });
}

describe("flint up killed with SIGKILL", () => {
  let root: string;
  let up: FlintUp | undefined;
  let orphans: number[] = [];

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "flint-supervisor-death-"));
    writeFunction(root, "mod", {
      "handler.mjs": `export default () => new Response("module");\n`,
      "function.yaml": manifest("mod", "{ mode: module, entry: handler.mjs }"),
    });
    writeFunction(root, "server", {
      "server.mjs": SERVER,
      "function.yaml": manifest("server", '{ mode: http, command: ["node", "server.mjs"], port: 8081 }'),
    });
    // The exec program is caught mid-call: it sleeps long after printing that it started.
    writeFunction(root, "slow-exec", {
      "run.sh": "#!/bin/sh\necho started\nexec sleep 600\n",
      "function.yaml": manifest("slow-exec", '{ mode: exec, command: ["./run.sh"] }'),
    });
  });

  afterAll(async () => {
    // Whatever a failed run left behind is not left on the machine.
    for (const pid of orphans) if (!processGone(pid)) process.kill(pid, "SIGKILL");
    await up?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("takes every process it started with it, within a few seconds", async () => {
    up = await startFlintUp(root, { FLINT_LOG_LEVEL: "warn" });
    const { url, pid } = up;
    // Started with a pooled runtime too (flint up's default pool) and one replica of each function.
    for (const name of ["mod", "server"]) {
      await waitFor(`${name} to answer`, async () => (await call(`${url}/function/${name}`)).status === 200, {
        timeoutMs: 30_000,
      });
    }
    const execCall = call(`${url}/function/slow-exec`, { method: "POST", body: "" }).catch(() => undefined);
    const sleepers = (): number => descendants(pid).filter((p) => commandOf(p).startsWith("sleep")).length;
    // One sleep under the http server, one as the exec call's program.
    await waitFor("the exec call's program and the server's child", () => sleepers() === 2, {
      timeoutMs: 30_000,
    });

    orphans = descendants(pid);
    // flint up's watchdogs (module replica, http replica, exec replica, pooled runtimes), the node
    // server, and the two sleeps.
    expect(orphans.length).toBeGreaterThanOrEqual(6);
    process.kill(pid, "SIGKILL");

    await waitFor("every process flint up started to end", () => orphans.every(processGone), {
      timeoutMs: 10_000,
    }).catch((error: unknown) => {
      const left = orphans.filter((p) => !processGone(p)).map((p) => `${p} ${commandOf(p)}`);
      throw new Error(`${String(error)}; still running: ${left.join(", ")}`);
    });
    await execCall;
  }, 90_000);
});

/** The command line of `pid`, "" once it is gone. */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim();
  } catch {
    return "";
  }
}
