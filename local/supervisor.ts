// The local platform's replica supervisor: each replica is a watchdog child process on a free loopback
// port. It starts, probes, drains, restarts and rolls replicas, and publishes them as endpoints.
import { spawn, type ChildProcess, type ChildProcessByStdio } from "node:child_process";
import { createHash } from "node:crypto";
import { get, request } from "node:http";
import { tmpdir } from "node:os";
import type { Readable } from "node:stream";

import {
  functionKey,
  SOURCE_STAMP_ANNOTATION,
  watchdogEnv,
  type FunctionRef,
  type FunctionResource,
} from "../api/index.js";
import { parseDurationMs } from "../api/duration.js";
import type { Clock, Endpoint, ReplicaLogs } from "../platform/ports.js";
import { freeLoopbackPort } from "../platform/free-port.js";
import { LogBuffer, readLines, type LogEntry } from "./log-buffer.js";
import { heapLimitMiB, memoryLimitBytes, MemoryLimits, type ReplicaMemory } from "./memory-limit.js";

export type { LogEntry } from "./log-buffer.js";

/** Where the supervisor publishes each function's replica set (the gateway's MemoryEndpointSource). */
export interface EndpointSink {
  set(ref: FunctionRef, endpoints: readonly Endpoint[]): void;
}

/** Something worth telling the user about, as it happens (`flint up` prints these). */
export type SupervisorEvent =
  | { type: "replica-started"; function: string; replica: string; pid: number }
  | { type: "replica-ready"; function: string; replica: string; startMs: number }
  | { type: "replica-stopped"; function: string; replica: string }
  | {
      type: "replica-crashed";
      function: string;
      replica: string;
      code: number | null;
      signal: string | null;
      restartInMs: number;
    }
  | { type: "rolled"; function: string; version: string };

export interface SupervisorOptions {
  /** The built watchdog entry point (dist/watchdog/main.js). */
  watchdogMain: string;
  clock: Clock;
  /** Environment every replica inherits (PATH, HOME...); the function's own env comes on top. */
  baseEnv: Record<string, string>;
  /** How long a replica may take from spawn to ready before it is killed and counted as a crash. */
  startTimeoutMs: number;
  /** Pause between taking a replica out of the endpoint set and sending it SIGTERM, so no call is in the air. */
  propagationDelayMs: number;
  /** Extra time past the function's timeout a draining replica gets before SIGKILL. */
  drainGraceMs: number;
  /** Restart delay after a crash: doubles from initialMs up to maxMs, reset once a replica stays ready. */
  restartBackoff: { initialMs: number; maxMs: number };
  /** How often a starting replica's /_/ready is probed. */
  probeIntervalMs: number;
  /** Log lines kept per function (stdout and stderr of all its replicas); the oldest go first. */
  logLines: number;
  /** UTF-8 bytes of log text kept per function, in all; the oldest lines go first. */
  logBytes: number;
  /**
   * UTF-8 bytes of one log line: a longer line keeps its start and a marker saying how many bytes
   * were cut, and the rest is never held, not even while the line is being read.
   */
  logLineBytes: number;
  /**
   * Generic runtimes kept started (FLINT_POOL=1) for module-mode replicas to take over: a replica
   * then starts by loading its module, not by starting a process. 0 turns the pool off.
   */
  poolSize: number;
  onEvent?: (event: SupervisorEvent) => void;
  /** How memory limits are held; detected (a cgroup where possible) when not given. */
  memoryLimits?: MemoryLimits;
}

export const DEFAULT_SUPERVISOR_OPTIONS = {
  startTimeoutMs: 30_000,
  propagationDelayMs: 50,
  drainGraceMs: 5_000,
  restartBackoff: { initialMs: 250, maxMs: 30_000 },
  probeIntervalMs: 100,
  logLines: 2_000,
  logBytes: 4 * 1024 * 1024,
  logLineBytes: 16 * 1024,
  poolSize: 0,
} as const;

/**
 * Starts `node <main>` in `cwd`: stdout and stderr are its logs; fd 3 is the supervisor link, a pipe
 * this process never writes to. The kernel closes it when this process dies, however it dies, and
 * the watchdog then ends itself and what it started (watchdog/supervisor-link.ts).
 */
function spawnWatchdog(
  main: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
  limits: { wrapper: readonly string[]; nodeFlags: readonly string[] } = { wrapper: [], nodeFlags: [] },
): ChildProcessByStdio<null, Readable, Readable> {
  const argv = [...limits.wrapper, process.execPath, ...limits.nodeFlags, main];
  const child = spawn(argv[0] ?? process.execPath, argv.slice(1), {
    ...{ cwd, env: { ...env, FLINT_SUPERVISOR_FD: "3" } },
    stdio: ["ignore", "pipe", "pipe", "pipe"],
  });
  // spawn's types know stdio tuples of three only; fds 1 and 2 are pipes, as asked.
  return child as ChildProcessByStdio<null, Readable, Readable>;
}

/** A replica as `flint describe` shows it. */
export interface ReplicaStatus {
  id: string;
  pid: number;
  port: number | undefined;
  state: "spawned" | "starting" | "ready" | "draining";
  version: string;
  startedAtMs: number;
}

interface Replica {
  id: string;
  version: string;
  child: ChildProcess;
  pid: number;
  port: number | undefined;
  state: ReplicaStatus["state"];
  startedAtMs: number;
  cancelTimers: (() => void)[];
  /** Its hold on spec.resources.limits.memory (a cgroup, where flint up can make one). */
  memory: ReplicaMemory | undefined;
  /** Its stderr said Node's heap limit was reached (module mode under a memory limit). */
  heapExhausted: boolean;
}

/** A generic runtime waiting in the pool; its output and exit go wherever it is adopted. */
interface PooledRuntime {
  child: ChildProcess;
  port: number | undefined;
  onLine: (stream: LogEntry["stream"], line: string, cutBytes: number) => void;
  onExit: (code: number | null, signal: NodeJS.Signals | null) => void;
}

interface Runtime {
  ref: FunctionRef;
  key: string;
  fn: FunctionResource;
  dir: string;
  version: string;
  desired: number;
  replicas: Map<string, Replica>;
  logs: LogBuffer;
  crashes: number;
  nextStartAtMs: number;
  retryTimer: (() => void) | undefined;
  removed: boolean;
  lastExit: string | undefined;
  /** The last unexpected exit was a replica going over its memory limit. */
  lastExitOutOfMemory: boolean;
  /** Replicas being prepared (a port being found) but not spawned yet. */
  pendingSpawns: number;
}

/** Runs replicas of functions as local watchdog processes. */
export class ReplicaSupervisor {
  private readonly runtimes = new Map<string, Runtime>();
  private sequence = 0;
  private closed = false;
  /** Pre-started generic runtimes, ready to be specialized. */
  private readonly pool: PooledRuntime[] = [];
  private poolStarting = 0;
  /** Every pooled runtime not yet adopted, started or waiting, so close() can stop them all. */
  private readonly poolChildren = new Set<ChildProcess>();
  /** Pooled runtimes that died before use; the pool stops refilling after a few, rather than loop. */
  private poolFailures = 0;

  /** Memory cgroups for replicas with a memory limit, where this process can make them. */
  readonly memory: MemoryLimits;

  constructor(
    private readonly options: SupervisorOptions,
    private readonly endpoints: EndpointSink,
  ) {
    this.memory = options.memoryLimits ?? MemoryLimits.detect();
  }

  /**
   * Defines `fn` (its handler paths relative to `dir`), or updates it. A changed spec rolls: replicas
   * of the new version start, and the old ones drain once enough new ones are ready.
   */
  apply(fn: FunctionResource, dir: string): void {
    this.fillPool();
    const key = functionKey(fn.metadata);
    const version = versionOf(fn, dir);
    const runtime = this.runtimes.get(key);
    if (runtime === undefined) {
      const ref = { name: fn.metadata.name, namespace: fn.metadata.namespace };
      this.runtimes.set(key, {
        ...{ ref, key, fn, dir, version, desired: fn.spec.scale.min, replicas: new Map() },
        logs: new LogBuffer({
          ...{ lines: this.options.logLines, bytes: this.options.logBytes },
          lineBytes: this.options.logLineBytes,
        }),
        ...{
          crashes: 0,
          nextStartAtMs: 0,
          retryTimer: undefined,
          removed: false,
          lastExit: undefined,
          lastExitOutOfMemory: false,
          pendingSpawns: 0,
        },
      });
      this.publish(this.runtimes.get(key) as Runtime);
    } else {
      runtime.removed = false;
      if (runtime.version === version) return;
      Object.assign(runtime, { fn, dir, version, crashes: 0, nextStartAtMs: 0 });
      this.options.onEvent?.({ type: "rolled", function: key, version });
    }
    this.reconcile(this.runtimes.get(key) as Runtime);
  }

  /** Drains and stops every replica of `ref` and forgets it once they are gone. */
  remove(ref: FunctionRef): void {
    const runtime = this.runtimes.get(functionKey(ref));
    if (runtime === undefined) return;
    runtime.removed = true;
    runtime.desired = 0;
    this.reconcile(runtime);
  }

  /** Sets how many replicas of `ref` should run. Unknown functions are ignored (they may just have been deleted). */
  setReplicas(ref: FunctionRef, replicas: number): void {
    const runtime = this.runtimes.get(functionKey(ref));
    if (runtime === undefined || runtime.removed || runtime.desired === replicas) return;
    runtime.desired = replicas;
    this.reconcile(runtime);
  }

  /** Crashes since the last stable replica, and the last unexpected exit, for status and `flint describe`. */
  health(ref: FunctionRef): { crashes: number; lastExit: string | undefined; outOfMemory: boolean } {
    const runtime = this.runtimes.get(functionKey(ref));
    return {
      crashes: runtime?.crashes ?? 0,
      lastExit: runtime?.lastExit,
      outOfMemory: runtime?.lastExitOutOfMemory ?? false,
    };
  }

  /** Process ids of the generic runtimes started and waiting in the pool. */
  pooledPids(): number[] {
    return this.pool.map((pooled) => pooled.child.pid ?? -1);
  }

  desiredReplicas(ref: FunctionRef): number | undefined {
    return this.runtimes.get(functionKey(ref))?.desired;
  }

  replicas(ref: FunctionRef): ReplicaStatus[] {
    const runtime = this.runtimes.get(functionKey(ref));
    if (runtime === undefined) return [];
    return [...runtime.replicas.values()].map(({ id, pid, port, state, version, startedAtMs }) => ({
      ...{ id, pid, port, state, version, startedAtMs },
    }));
  }

  /** The last `limit` log lines of `ref`'s replicas, oldest first. */
  logs(ref: FunctionRef, limit = this.options.logLines): LogEntry[] {
    return this.runtimes.get(functionKey(ref))?.logs.tail(limit) ?? [];
  }

  /** The last `limit` log lines, with what the buffer dropped and its bounds (`flint logs`). */
  logTail(ref: FunctionRef, limit = this.options.logLines): ReplicaLogs {
    const buffer = this.runtimes.get(functionKey(ref))?.logs;
    const limits = {
      lines: this.options.logLines,
      bytes: this.options.logBytes,
      lineBytes: this.options.logLineBytes,
    };
    return {
      items: buffer?.tail(limit) ?? [],
      dropped: buffer?.dropped() ?? { lines: 0, bytes: 0, cutLines: 0 },
      limits,
    };
  }

  /** UTF-8 bytes of `ref`'s kept log text; at most `logBytes`. */
  logSizeBytes(ref: FunctionRef): number {
    return this.runtimes.get(functionKey(ref))?.logs.sizeBytes ?? 0;
  }

  /** Drains every replica (SIGTERM, SIGKILL after the grace period) and waits until all have exited. */
  async close(): Promise<void> {
    this.closed = true;
    const exits: Promise<void>[] = [];
    // Waiting and still-starting pooled runtimes alike: none has a call to finish.
    for (const child of this.poolChildren) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      exits.push(new Promise((resolve) => child.once("exit", () => resolve())));
      child.kill("SIGKILL");
    }
    this.pool.length = 0;
    for (const runtime of this.runtimes.values()) {
      runtime.retryTimer?.();
      for (const replica of runtime.replicas.values()) {
        exits.push(
          new Promise((resolve) =>
            replica.child.exitCode !== null ? resolve() : replica.child.once("exit", () => resolve()),
          ),
        );
        this.drain(runtime, replica, 0);
      }
    }
    await Promise.all(exits);
    this.memory.close();
  }

  // --- Reconciling ---------------------------------------------------------------------------------

  private reconcile(runtime: Runtime): void {
    if (this.closed) return;
    const all = [...runtime.replicas.values()];
    const current = all.filter((r) => r.version === runtime.version && r.state !== "draining");
    const old = all.filter((r) => r.version !== runtime.version && r.state !== "draining");

    if (current.length > runtime.desired) {
      // Stop the least useful first: not yet ready, then the newest.
      const surplus = [...current].sort((a, b) => rank(a) - rank(b) || b.startedAtMs - a.startedAtMs);
      for (const replica of surplus.slice(0, current.length - runtime.desired)) this.drain(runtime, replica);
    }
    const starting = current.length + runtime.pendingSpawns;
    const missing = runtime.desired - Math.min(starting, runtime.desired);
    if (missing > 0) {
      const waitMs = runtime.nextStartAtMs - this.options.clock.now();
      if (waitMs > 0) {
        runtime.retryTimer ??= this.options.clock.setTimer(() => {
          runtime.retryTimer = undefined;
          this.reconcile(runtime);
        }, waitMs);
      } else {
        for (let i = 0; i < missing; i++) this.spawn(runtime);
      }
    }
    // Old versions go once the new version can carry the load, so a rollout never leaves a gap.
    const readyCurrent = current.filter((r) => r.state === "ready").length;
    if (old.length > 0 && readyCurrent >= Math.min(runtime.desired, old.length)) {
      for (const replica of old) this.drain(runtime, replica);
    }
    if (runtime.removed && runtime.replicas.size === 0 && runtime.pendingSpawns === 0) {
      runtime.retryTimer?.();
      this.runtimes.delete(runtime.key);
    }
  }

  /**
   * Starts a replica. An http-mode server the watchdog starts gets a free loopback port of its own:
   * on Kubernetes each pod has its own network, but here every replica shares one, and two servers
   * on the spec's port would collide (or a watchdog would proxy to another replica's server).
   */
  private spawn(runtime: Runtime): void {
    const { handler } = runtime.fn.spec;
    // A pooled runtime was started with no limits: a function with a memory limit starts its own.
    const limited = memoryLimitBytes(runtime.fn) !== undefined;
    const pooled = handler.mode === "module" && !limited ? this.pool.shift() : undefined;
    if (pooled !== undefined) {
      this.adopt(runtime, pooled);
      this.fillPool();
      return;
    }
    if (handler.mode !== "http" || handler.command === undefined) return this.spawnWith(runtime, {});
    runtime.pendingSpawns++;
    freeLoopbackPort().then(
      (port) => {
        runtime.pendingSpawns--;
        if (this.closed) return;
        this.spawnWith(runtime, { FLINT_UPSTREAM_PORT: String(port) });
        this.reconcile(runtime);
      },
      (error: unknown) => {
        runtime.pendingSpawns--;
        this.options.onEvent?.({
          ...{ type: "replica-crashed", function: runtime.key, replica: "-", code: null, signal: null },
          restartInMs: this.options.restartBackoff.initialMs,
        });
        runtime.lastExit = `no free port for the upstream server: ${String(error)}`;
        runtime.lastExitOutOfMemory = false;
        runtime.nextStartAtMs = this.options.clock.now() + this.options.restartBackoff.initialMs;
        this.reconcile(runtime);
      },
    );
  }

  private spawnWith(runtime: Runtime, extraEnv: Record<string, string>): void {
    const id = `${runtime.ref.name}-${++this.sequence}`;
    const limitBytes = memoryLimitBytes(runtime.fn);
    const memory = limitBytes === undefined ? undefined : this.memory.prepare(id, limitBytes);
    const moduleMode = runtime.fn.spec.handler.mode === "module";
    const nodeFlags =
      limitBytes !== undefined && moduleMode ? [`--max-old-space-size=${heapLimitMiB(limitBytes)}`] : [];
    const env = {
      ...this.options.baseEnv,
      ...watchdogEnv(runtime.fn),
      ...extraEnv,
      FLINT_PORT: "0",
      FLINT_HOST: "127.0.0.1",
    };
    const child = spawnWatchdog(this.options.watchdogMain, runtime.dir, env, {
      wrapper: memory?.wrapper ?? [],
      nodeFlags,
    });
    const replica: Replica = {
      ...{ id, version: runtime.version, child, pid: child.pid ?? -1, port: undefined },
      ...{ state: "spawned", startedAtMs: this.options.clock.now(), cancelTimers: [] },
      ...{ memory, heapExhausted: false },
    };
    runtime.replicas.set(id, replica);
    this.options.onEvent?.({ type: "replica-started", function: runtime.key, replica: id, pid: replica.pid });

    const lineBytes = this.options.logLineBytes;
    readLines(child.stdout, lineBytes, (line, cut) =>
      this.replicaLine(runtime, replica, "stdout", line, cut),
    );
    readLines(child.stderr, lineBytes, (line, cut) =>
      this.replicaLine(runtime, replica, "stderr", line, cut),
    );
    child.once("error", (error) =>
      this.log(runtime, replica, "stderr", `cannot start the watchdog: ${error.message}`),
    );
    child.once("exit", (code, signal) => this.onExit(runtime, replica, code, signal));
    this.startDeadline(runtime, replica);
  }

  private replicaLine(
    runtime: Runtime,
    replica: Replica,
    stream: LogEntry["stream"],
    line: string,
    cutBytes: number,
  ): void {
    this.log(runtime, replica, stream, line, cutBytes);
    if (stream !== "stdout") {
      // V8's last words when --max-old-space-size is reached; the process aborts right after.
      if (line.includes("JavaScript heap out of memory")) replica.heapExhausted = true;
      return;
    }
    if (replica.port === undefined && line.includes('"listening"')) this.onListening(runtime, replica, line);
    // The watchdog says "ready" once its handler is loaded: no need to wait for the next probe.
    else if (replica.state === "starting" && line.includes('"msg":"ready"')) this.markReady(runtime, replica);
  }

  private startDeadline(runtime: Runtime, replica: Replica): void {
    replica.cancelTimers.push(
      this.options.clock.setTimer(() => {
        if (replica.state !== "spawned" && replica.state !== "starting") return;
        this.log(runtime, replica, "stderr", `not ready within ${this.options.startTimeoutMs}ms; killing it`);
        replica.child.kill("SIGKILL");
      }, this.options.startTimeoutMs),
    );
  }

  /** Keeps `poolSize` generic runtimes started (unless they keep dying); called again as they are used. */
  fillPool(): void {
    while (
      !this.closed &&
      this.poolFailures < 3 &&
      this.pool.length + this.poolStarting < this.options.poolSize
    ) {
      this.startPooled();
    }
  }

  private startPooled(): void {
    this.poolStarting++;
    const child = spawnWatchdog(this.options.watchdogMain, tmpdir(), {
      ...this.options.baseEnv,
      ...{ FLINT_POOL: "1", FLINT_PORT: "0", FLINT_HOST: "127.0.0.1" },
    });
    this.poolChildren.add(child);
    const pooled: PooledRuntime = {
      child,
      port: undefined,
      onLine: (stream, line) => {
        if (stream !== "stdout" || pooled.port !== undefined || !line.includes('"msg":"pooled"')) return;
        const port = (JSON.parse(line) as { port?: unknown }).port;
        if (typeof port !== "number") return;
        pooled.port = port;
        this.poolStarting--;
        this.pool.push(pooled);
      },
      onExit: () => {
        this.poolChildren.delete(child);
        if (pooled.port === undefined) this.poolStarting--;
        const index = this.pool.indexOf(pooled);
        if (index !== -1) this.pool.splice(index, 1);
        if (!this.closed) this.poolFailures++;
        this.fillPool();
      },
    };
    const lineBytes = this.options.logLineBytes;
    readLines(child.stdout, lineBytes, (line, cut) => pooled.onLine("stdout", line, cut));
    readLines(child.stderr, lineBytes, (line, cut) => pooled.onLine("stderr", line, cut));
    child.once("error", () => undefined);
    child.once("exit", (code, signal) => pooled.onExit(code, signal));
  }

  /** Makes a pooled runtime a replica of `runtime`'s function: POST /_/specialize, ready when it answers 200. */
  private adopt(runtime: Runtime, pooled: PooledRuntime): void {
    const id = `${runtime.ref.name}-${++this.sequence}`;
    const replica: Replica = {
      ...{
        id,
        version: runtime.version,
        child: pooled.child,
        pid: pooled.child.pid ?? -1,
        port: pooled.port,
      },
      ...{ state: "starting", startedAtMs: this.options.clock.now(), cancelTimers: [] },
      ...{ memory: undefined, heapExhausted: false },
    };
    runtime.replicas.set(id, replica);
    this.poolChildren.delete(pooled.child);
    pooled.onLine = (stream, line, cut) => this.replicaLine(runtime, replica, stream, line, cut);
    pooled.onExit = (code, signal) => this.onExit(runtime, replica, code, signal);
    this.options.onEvent?.({ type: "replica-started", function: runtime.key, replica: id, pid: replica.pid });
    this.publish(runtime);
    this.startDeadline(runtime, replica);

    const body = JSON.stringify({ workdir: runtime.dir, env: watchdogEnv(runtime.fn) });
    const req = request(
      { host: "127.0.0.1", port: pooled.port, method: "POST", path: "/_/specialize", agent: false },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.once("end", () => {
          if (res.statusCode === 200) return this.markReady(runtime, replica);
          this.log(runtime, replica, "stderr", `specialization refused (${res.statusCode}): ${text}`);
          replica.child.kill("SIGKILL");
        });
      },
    );
    req.once("error", (error) => {
      this.log(runtime, replica, "stderr", `cannot specialize: ${error.message}`);
      replica.child.kill("SIGKILL");
    });
    req.end(body);
  }

  private onListening(runtime: Runtime, replica: Replica, line: string): void {
    let port: unknown;
    try {
      port = (JSON.parse(line) as { msg?: unknown; port?: unknown }).port;
    } catch {
      return;
    }
    if (typeof port !== "number" || replica.state !== "spawned") return;
    replica.port = port;
    replica.state = "starting";
    this.publish(runtime);
    this.probe(runtime, replica);
  }

  /** Polls /_/ready until it answers 200: the fallback should the watchdog's "ready" line be missed. */
  private probe(runtime: Runtime, replica: Replica): void {
    if (replica.state !== "starting") return;
    const request = get(
      { host: "127.0.0.1", port: replica.port, path: "/_/ready", timeout: 1000, agent: false },
      (res) => {
        res.resume();
        if (res.statusCode === 200) this.markReady(runtime, replica);
        else this.retryProbe(runtime, replica);
      },
    );
    request.once("error", () => this.retryProbe(runtime, replica));
    request.once("timeout", () => request.destroy());
  }

  private markReady(runtime: Runtime, replica: Replica): void {
    if (replica.state !== "starting") return;
    replica.state = "ready";
    const startMs = Math.round(this.options.clock.now() - replica.startedAtMs);
    this.options.onEvent?.({ type: "replica-ready", function: runtime.key, replica: replica.id, startMs });
    this.publish(runtime);
    this.reconcile(runtime);
  }

  private retryProbe(runtime: Runtime, replica: Replica): void {
    replica.cancelTimers.push(
      this.options.clock.setTimer(() => this.probe(runtime, replica), this.options.probeIntervalMs),
    );
  }

  /** Takes `replica` out of the endpoint set, then SIGTERM (the watchdog finishes its calls), then SIGKILL. */
  private drain(runtime: Runtime, replica: Replica, delayMs = this.options.propagationDelayMs): void {
    if (replica.state === "draining") return;
    const wasServing = replica.state === "ready";
    replica.state = "draining";
    this.publish(runtime);
    const graceMs = parseDurationMs(runtime.fn.spec.timeout) + this.options.drainGraceMs;
    const terminate = (): void => {
      if (replica.child.exitCode !== null || replica.child.signalCode !== null) return;
      // A replica that never served has no calls to finish.
      replica.child.kill(wasServing ? "SIGTERM" : "SIGKILL");
      replica.cancelTimers.push(this.options.clock.setTimer(() => replica.child.kill("SIGKILL"), graceMs));
    };
    if (delayMs === 0) terminate();
    else replica.cancelTimers.push(this.options.clock.setTimer(terminate, delayMs));
  }

  private onExit(
    runtime: Runtime,
    replica: Replica,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    for (const cancel of replica.cancelTimers) cancel();
    runtime.replicas.delete(replica.id);
    const outOfMemory = this.outOfMemory(runtime, replica);
    replica.memory?.release();
    const expected = replica.state === "draining";
    if (expected) {
      this.options.onEvent?.({ type: "replica-stopped", function: runtime.key, replica: replica.id });
    } else {
      // Back off on repeated crashes; a replica that was ready for a while resets the count.
      const stableMs = this.options.clock.now() - replica.startedAtMs;
      if (replica.state === "ready" && stableMs > this.options.restartBackoff.maxMs) runtime.crashes = 0;
      const { initialMs, maxMs } = this.options.restartBackoff;
      const restartInMs = Math.min(maxMs, initialMs * 2 ** runtime.crashes);
      runtime.crashes++;
      runtime.nextStartAtMs = this.options.clock.now() + restartInMs;
      const exit = `(code ${code}, signal ${signal})`;
      runtime.lastExit = `replica ${replica.id} ${outOfMemory ?? `exited ${exit}`}; see flint logs`;
      runtime.lastExitOutOfMemory = outOfMemory !== undefined;
      const line = outOfMemory ?? `exited unexpectedly ${exit}`;
      this.log(runtime, replica, "stderr", `${line}; restarting in ${restartInMs}ms`);
      this.options.onEvent?.({
        type: "replica-crashed",
        function: runtime.key,
        replica: replica.id,
        code,
        signal,
        restartInMs,
      });
    }
    this.publish(runtime);
    this.reconcile(runtime);
  }

  /** How a replica that just exited went over spec.resources.limits.memory, or undefined if it did not. */
  private outOfMemory(runtime: Runtime, replica: Replica): string | undefined {
    const limit = runtime.fn.spec.resources?.limits?.memory;
    if (limit === undefined) return undefined;
    if (replica.memory?.oomKilled() === true) {
      return `was killed for using more than its memory limit (resources.limits.memory ${limit}, OOMKilled)`;
    }
    if (replica.heapExhausted) {
      return `ran out of JavaScript heap under its memory limit (resources.limits.memory ${limit}, OOMKilled)`;
    }
    return undefined;
  }

  private publish(runtime: Runtime): void {
    const endpoints: Endpoint[] = [];
    for (const replica of runtime.replicas.values()) {
      if (replica.port === undefined || replica.state === "spawned") continue;
      endpoints.push({ id: replica.id, host: "127.0.0.1", port: replica.port, state: replica.state });
    }
    this.endpoints.set(runtime.ref, endpoints);
  }

  private log(
    runtime: Runtime,
    replica: Replica,
    stream: LogEntry["stream"],
    line: string,
    cutBytes = 0,
  ): void {
    runtime.logs.push({ timeMs: this.options.clock.now(), replica: replica.id, stream, line }, cutBytes);
  }
}

function rank(replica: Replica): number {
  return replica.state === "ready" ? 1 : 0;
}

/** A short hash of everything that changes how a replica runs; a new value means a rollout. */
function versionOf(fn: FunctionResource, dir: string): string {
  const runs = { dir, env: watchdogEnv(fn), source: fn.metadata.annotations?.[SOURCE_STAMP_ANNOTATION] };
  return createHash("sha256").update(JSON.stringify(runs)).digest("hex").slice(0, 10);
}
