// Test support: real nats-server (with JetStream) and redis-server processes on free loopback ports,
// each in its own temporary folder, stoppable and restartable on the same port and data.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freeLoopbackPort } from "../platform/free-port.js";

/** A server process the test owns. */
export interface TestServer {
  readonly url: string;
  readonly port: number;
  /** Its data folder (kept across restarts, removed by `close`). */
  readonly dir: string;
  /** Stops it: SIGTERM by default, SIGKILL to simulate a crash. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port with the same data. */
  start(): Promise<void>;
  /** Stops it for good and removes its folder. */
  close(): Promise<void>;
  /** What it has printed, for failure messages. */
  output(): string;
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** Deadline for a server to say it is ready, in ms (generous: the machine is shared). */
const START_TIMEOUT_MS = 20_000;

/** nats-server -js on a free port, with a config file raising max_payload to 8 MiB. */
export async function startNats(): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), "flint-nats-"));
  const port = await freeLoopbackPort();
  const config = join(dir, "nats.conf");
  writeFileSync(config, `max_payload: 8388608\njetstream {\n  store_dir: "${join(dir, "js")}"\n}\n`);
  return server({
    dir,
    port,
    url: `nats://127.0.0.1:${port}`,
    command: "nats-server",
    args: ["-js", "-a", "127.0.0.1", "-p", String(port), "-c", config],
    readyText: "Server is ready",
  });
}

/** redis-server on a free port, with an fsync-always append-only file so a restart keeps the data. */
export async function startRedis(): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), "flint-redis-"));
  const port = await freeLoopbackPort();
  return server({
    dir,
    port,
    url: `redis://127.0.0.1:${port}`,
    command: "redis-server",
    args: [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "yes",
      "--appendfsync",
      "always",
      "--dir",
      dir,
    ],
    readyText: "Ready to accept connections",
  });
}

interface ServerSpec {
  readonly dir: string;
  readonly port: number;
  readonly url: string;
  readonly command: string;
  readonly args: string[];
  readonly readyText: string;
}

async function server(spec: ServerSpec): Promise<TestServer> {
  let child: ChildProcess | undefined;
  let log = "";
  const start = (): Promise<void> =>
    new Promise((resolve, reject) => {
      let seen = "";
      const proc = spawn(spec.command, spec.args, { stdio: ["ignore", "pipe", "pipe"] });
      child = proc;
      running.add(proc);
      const timer = setTimeout(() => {
        proc.kill("SIGKILL");
        reject(new Error(`${spec.command} did not start within ${START_TIMEOUT_MS}ms:\n${seen}`));
      }, START_TIMEOUT_MS);
      const onOutput = (chunk: Buffer): void => {
        const text = chunk.toString();
        seen += text;
        log = (log + text).slice(-20_000);
        if (seen.includes(spec.readyText)) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout?.on("data", onOutput);
      proc.stderr?.on("data", onOutput);
      proc.once("error", (error) => {
        clearTimeout(timer);
        reject(
          new Error(
            `cannot run ${spec.command} (install it: apt-get install ${spec.command}): ${error.message}`,
          ),
        );
      });
      proc.once("exit", (code) => {
        running.delete(proc);
        clearTimeout(timer);
        if (!seen.includes(spec.readyText))
          reject(new Error(`${spec.command} exited with ${code}:\n${seen}`));
      });
    });
  const stop = async (signal: NodeJS.Signals = "SIGTERM"): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill(signal);
    await exited;
  };
  await start();
  return {
    url: spec.url,
    port: spec.port,
    dir: spec.dir,
    stop,
    start,
    close: async () => {
      await stop("SIGKILL");
      rmSync(spec.dir, { recursive: true, force: true });
    },
    output: () => log,
  };
}
