// The controller process (dist/controller/main.js) when what it needs is not there yet: it ends with
// one fatal log line naming the problem, not a stack trace, so the kubelet's restart looks orderly.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { REPO_ROOT } from "../testing/watchdog.js";

const CONTROLLER_MAIN = join(REPO_ROOT, "dist", "controller", "main.js");

/** A local port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function runToExit(
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CONTROLLER_MAIN],
      { cwd: REPO_ROOT, env: { PATH: process.env["PATH"] ?? "", ...env }, timeout: 20_000 },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr }),
    );
  });
}

describe("controller main", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "flint-controller-main-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("exits with one fatal line when NATS does not answer", async () => {
    const kubeconfig = join(dir, "kubeconfig");
    // Never contacted: the process stops at NATS, before any API call.
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:1" } }],
        users: [{ name: "u", user: { token: "t" } }],
        contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
        "current-context": "x",
      }),
    );
    const natsUrl = `nats://127.0.0.1:${await closedPort()}`;
    const result = await runToExit({
      KUBECONFIG: kubeconfig,
      NATS_URL: natsUrl,
      REDIS_URL: `redis://127.0.0.1:${await closedPort()}`,
      FLINT_CONTROLLER_PORT: "0",
    });
    expect(result.code).toBe(1);
    const lines = result.stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { level: number; msg: string; nats?: string });
    expect(lines.at(-1)).toMatchObject({
      level: 60,
      msg: "cannot connect to NATS for the autoscaler's signals",
      nats: natsUrl,
    });
    expect(result.stderr).toBe("");
  }, 30_000);
});
