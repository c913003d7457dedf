// Test harness: real watchdog processes running testdata/handler.mjs, and an in-process gateway on a
// free port wired to in-memory ports the test drives (EndpointSource, store, scale target, bus).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { Agent, request, type IncomingHttpHeaders } from "node:http";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { pino, type Logger } from "pino";
import { validateFunction, type FunctionRef, type FunctionResource } from "../api/index.js";
import { systemClock } from "../platform/clock.js";
import { loadConfig } from "../gateway/config.js";
import { MemoryFunctionStore } from "../platform/function-store.js";
import { createGateway, type Gateway, type GatewayDeps } from "../gateway/gateway.js";
import { MemoryEndpointSource } from "../platform/memory.js";
import type {
  Bus,
  Clock,
  ConcurrencySample,
  Endpoint,
  FunctionRuntime,
  ScaleTarget,
} from "../platform/ports.js";

/** The one waitFor of the test toolkit, here too for the tests that import the rest of this file. */
export { waitFor } from "./wait.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
export const WATCHDOG_MAIN = join(root, "dist", "watchdog", "main.js");
export const HANDLER = join(here, "testdata", "handler.mjs");
export const TOKEN = "test-token-0123456789";

/** Every replica process still running: killed when the test process exits, however a test ended. */
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** A watchdog child process serving testdata/handler.mjs on a free loopback port. */
export interface ReplicaProcess {
  readonly id: string;
  readonly port: number;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** The endpoint for this replica in `state`. */
  endpoint(state: Endpoint["state"]): Endpoint;
  /** Sends `signal` (default SIGTERM) and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts a watchdog with FLINT_PORT=0 and resolves once its "listening" line names the port (and, with
 * `waitReady`, once its "ready" line says the handler is loaded).
 */
export async function startReplica(
  id: string,
  options: { env?: Record<string, string>; waitReady?: boolean } = {},
): Promise<ReplicaProcess> {
  if (!existsSync(WATCHDOG_MAIN)) throw new Error(`${WATCHDOG_MAIN} is missing: run \`npm run build\` first`);
  const child = spawn(process.execPath, [WATCHDOG_MAIN], {
    env: {
      PATH: process.env["PATH"],
      FLINT_MODE: "module",
      FLINT_ENTRY: HANDLER,
      FLINT_PORT: "0",
      FLINT_HOST: "127.0.0.1",
      FLINT_TIMEOUT: "60s",
      FLINT_MAX_BODY_BYTES: "0",
      FLINT_FUNCTION: "default/test",
      FLINT_LOG_LEVEL: "info",
      REPLICA_ID: id,
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const stderr: string[] = [];
  child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    let port: number | undefined;
    // The watchdog logs to stdout: a replica that fails to start says why there, not on stderr.
    const early: string[] = [];
    const fail = (why: string): void =>
      reject(new Error(`replica ${id}: ${why}\n${early.join("\n")}\n${stderr.join("")}`));
    const timer = setTimeout(() => fail("no listening line within 20 s"), 20_000);
    lines.on("line", (line) => {
      if (early.length < 20) early.push(line);
      let entry: { msg?: string; port?: number };
      try {
        entry = JSON.parse(line) as { msg?: string; port?: number };
      } catch {
        return;
      }
      if (entry.msg === "listening") port = entry.port;
      if (port !== undefined && (options.waitReady === false || entry.msg === "ready")) {
        clearTimeout(timer);
        resolve(port);
      }
    });
    void exited.then((code) => fail(`exited with ${code} before it was ready`));
  });
  return {
    id,
    port,
    child,
    exited,
    endpoint: (state) => ({ id, host: "127.0.0.1", port, state }),
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** A ScaleTarget that counts calls and runs a hook on each activation. */
export class RecordingScaleTarget implements ScaleTarget {
  readonly activations: FunctionRef[] = [];
  readonly scales: { ref: FunctionRef; replicas: number }[] = [];
  onActivate: (ref: FunctionRef) => void = () => undefined;

  activate(ref: FunctionRef): Promise<void> {
    this.activations.push(ref);
    this.onActivate(ref);
    return Promise.resolve();
  }

  scale(ref: FunctionRef, replicas: number): Promise<void> {
    this.scales.push({ ref, replicas });
    return Promise.resolve();
  }
}

/** A Bus that keeps every sample. */
export class RecordingBus implements Bus {
  readonly samples: ConcurrencySample[] = [];
  publishConcurrency(sample: ConcurrencySample): void {
    this.samples.push(sample);
  }
}

/** Log lines captured as objects, to assert on what was (and was not) logged. */
export function captureLogs(): { logger: Logger; lines: Record<string, unknown>[]; text: () => string } {
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ level: "debug" }, sink);
  return {
    logger,
    get lines() {
      return raw
        .flatMap((text) => text.split("\n").filter((line) => line !== ""))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    text: () => raw.join(""),
  };
}

/** A valid Function with defaults applied; `spec` overrides parts of the spec. */
export function makeFunction(
  name: string,
  spec: Record<string, unknown> = {},
  namespace = "default",
): FunctionResource {
  const result = validateFunction({
    apiVersion: "flint.dev/v1alpha1",
    kind: "Function",
    metadata: { name, namespace },
    spec: { handler: { mode: "module", entry: "handler.mjs" }, ...spec },
  });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.value;
}

export interface TestGateway {
  readonly gateway: Gateway;
  readonly url: string;
  readonly port: number;
  readonly store: MemoryFunctionStore;
  readonly endpoints: MemoryEndpointSource;
  readonly scaleTarget: RecordingScaleTarget;
  readonly bus: RecordingBus;
  close(): Promise<void>;
}

/** Starts a gateway on a free port with in-memory ports; `env` adds FLINT_* settings. */
export async function startGateway(
  options: {
    env?: Record<string, string>;
    clock?: Clock;
    logger?: Logger;
    runtime?: FunctionRuntime;
    async?: GatewayDeps["async"];
  } = {},
): Promise<TestGateway> {
  const config = loadConfig({ FLINT_GATEWAY_PORT: "0", FLINT_AUTH_TOKEN: TOKEN, ...options.env });
  const store = new MemoryFunctionStore(options.clock ?? systemClock);
  const endpoints = new MemoryEndpointSource();
  const scaleTarget = new RecordingScaleTarget();
  const bus = new RecordingBus();
  const gateway = createGateway(
    {
      ...{ store, endpoints, scaleTarget, bus, clock: options.clock, logger: options.logger },
      ...{ platform: "test", runtime: options.runtime, async: options.async },
    },
    config,
  );
  const address = await gateway.listen();
  return {
    gateway,
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    store,
    endpoints,
    scaleTarget,
    bus,
    close: () => gateway.close(),
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A keep-alive agent with room for many concurrent calls, for load from the test process. */
export function loadAgent(maxSockets = 2000): Agent {
  return new Agent({ keepAlive: true, maxSockets });
}

/** One HTTP call; resolves with status, headers and body text. */
export function call(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Buffer; agent?: Agent } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // The path goes out exactly as written: URL parsing would resolve %2e%2e and dot segments.
    const { hostname, port, origin } = new URL(url);
    const path = url.slice(origin.length) || "/";
    const req = request(
      { hostname, port, path, method: init.method ?? "GET", headers: init.headers, agent: init.agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(init.body);
  });
}
