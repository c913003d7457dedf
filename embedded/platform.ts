// The embedded platform behind `flint up`: gateway, autoscaler loop and replica supervisor in one
// process, wired through the in-memory bus, endpoint source and function store (NATS and Redis
// for the bus, async queue and call records when NATS_URL / REDIS_URL are set).
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import type { AddressInfo } from "node:net";
import { pino, type Logger } from "pino";

import { functionKey } from "../api/index.js";
import { policyByName, ScalerLoop, type ScaleEvent } from "../autoscaler/index.js";
import { systemClock } from "../platform/clock.js";
import { EnvReader } from "../platform/env.js";
import { MemoryFunctionStore } from "../platform/function-store.js";
import {
  createGateway,
  loadConfig,
  openAsyncBackends,
  type AsyncBackends,
  type Gateway,
  type GatewayConfig,
} from "../gateway/index.js";
import { MemoryBus, MemoryEndpointSource } from "../platform/memory.js";
import { connectNatsBus, type NatsBus } from "../platform/nats-bus.js";
import type { Clock, FunctionRuntime, FunctionStore } from "../platform/ports.js";
import {
  DEFAULT_SUPERVISOR_OPTIONS,
  LiveStatusStore,
  ManifestFolder,
  ReplicaSupervisor,
  type ManifestEvent,
  type SupervisorEvent,
} from "../local/index.js";

/** Everything `flint up` reports as it happens. */
export type PlatformEvent = SupervisorEvent | ManifestEvent | ({ type: "scaled" } & ScaleEvent);

export interface LocalPlatformOptions {
  /** The folder of Function manifests. */
  dir: string;
  /** The environment: FLINT_* gateway settings, and what replicas inherit (PATH, HOME...). */
  env: Readonly<Record<string, string | undefined>>;
  /** Overrides FLINT_GATEWAY_PORT; 0 picks a free port. */
  port?: number;
  /** Overrides FLINT_GATEWAY_HOST. */
  host?: string;
  /** How often the folder is re-read for changes, ms. Default 1000. */
  rescanMs?: number;
  /** The scaling policy's name (see autoscaler/policies.ts). Default "flint". */
  policy?: string;
  /** Generic runtimes kept started for module-mode cold starts (see supervisor.ts). Default 2. */
  poolSize?: number;
  clock?: Clock;
  logger?: Logger;
  onEvent?: (event: PlatformEvent) => void;
}

export interface LocalPlatform {
  /** The gateway's base URL, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  /** The management API's bearer token (generated unless FLINT_AUTH_TOKEN is set); undefined with FLINT_AUTH=none. */
  readonly token: string | undefined;
  readonly gateway: Gateway;
  readonly store: FunctionStore;
  readonly supervisor: ReplicaSupervisor;
  readonly loop: ScalerLoop;
  readonly folder: ManifestFolder;
  /** Re-reads the folder now (also done every `rescanMs`). */
  rescan(): Promise<void>;
  /** Stops taking calls, drains them, stops every replica. */
  close(): Promise<void>;
}

const WATCHDOG_MAIN = fileURLToPath(new URL("../watchdog/main.js", import.meta.url));

/** Environment a replica inherits from `flint up`: enough to find programs, nothing of Flint's own. */
function replicaBaseEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const base: Record<string, string> = {};
  for (const name of ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "NODE_OPTIONS"]) {
    const value = env[name];
    if (value !== undefined) base[name] = value;
  }
  return base;
}

/** The gateway's environment: the user's, with the command line's port and host on top. */
function gatewayEnv(options: LocalPlatformOptions): Record<string, string | undefined> {
  // A local gateway still wants a credential for /system/*: generate one unless the user chose.
  const env = { ...options.env };
  const read = new EnvReader(env);
  if (
    read.string("FLINT_AUTH") !== "none" &&
    read.string("FLINT_AUTH_TOKEN") === undefined &&
    read.string("FLINT_AUTH_USER") === undefined
  ) {
    env["FLINT_AUTH_TOKEN"] = randomBytes(18).toString("base64url");
  }
  if (options.port !== undefined) env["FLINT_GATEWAY_PORT"] = String(options.port);
  if (options.host !== undefined) env["FLINT_GATEWAY_HOST"] = options.host;
  env["FLINT_GATEWAY_ID"] ??= "local";
  return env;
}

/** The autoscaler loop over the supervisor's replicas, fed by the bus's samples and scale requests. */
function startScalerLoop(
  options: LocalPlatformOptions,
  supervisor: ReplicaSupervisor,
  bus: MemoryBus | NatsBus,
  clock: Clock,
  emit: (event: PlatformEvent) => void,
): ScalerLoop {
  const loop = new ScalerLoop(
    policyByName(options.policy ?? "flint"),
    {
      counts: (ref) => {
        const replicas = supervisor.replicas(ref).filter((r) => r.state !== "draining");
        const ready = replicas.filter((r) => r.state === "ready").length;
        return { ready, starting: replicas.length - ready };
      },
      setReplicas: (ref, replicas) => supervisor.setReplicas(ref, replicas),
    },
    { clock, tickMs: 1000, onScale: (event) => emit({ type: "scaled", ...event }) },
  );
  bus.onConcurrency((sample) => loop.record(sample));
  bus.onScaleRequest((request) => {
    if (request.type === "activate") loop.activate(request.ref);
    else loop.scale(request.ref, request.replicas);
  });
  return loop;
}

/** What `flint describe` and `flint logs` read of the replica processes. */
function processRuntime(supervisor: ReplicaSupervisor): FunctionRuntime {
  return {
    replicas: (ref) =>
      supervisor.replicas(ref).map((r) => ({
        ...{ id: r.id, state: r.state, startedAtMs: r.startedAtMs, process: String(r.pid) },
        address: r.port === undefined ? undefined : `127.0.0.1:${r.port}`,
      })),
    logs: (ref, limit) => supervisor.logTail(ref, limit),
  };
}

/** Async calls' queue and records: JetStream and Redis when NATS_URL / REDIS_URL are set, else memory. */
async function openBackends(config: GatewayConfig, clock: Clock, logger: Logger): Promise<AsyncBackends> {
  const backends = await openAsyncBackends(config.async, { clock, logger, name: `flint-up-${process.pid}` });
  logger.info(backends.kind, "async calls: queue and records");
  return backends;
}

export async function startLocalPlatform(options: LocalPlatformOptions): Promise<LocalPlatform> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? pino({ level: "silent" });
  const emit = options.onEvent ?? (() => undefined);
  const config = loadConfig(gatewayEnv(options));

  const store = new MemoryFunctionStore();
  const endpoints = new MemoryEndpointSource();
  // NATS_URL: concurrency samples and scale requests go over NATS (as on a cluster), else in memory.
  const bus: MemoryBus | NatsBus =
    config.async.natsUrl === undefined
      ? new MemoryBus()
      : await connectNatsBus(config.async.natsUrl, { logger, name: `flint-up-${process.pid}` });
  const supervisor = new ReplicaSupervisor(
    {
      ...DEFAULT_SUPERVISOR_OPTIONS,
      poolSize: options.poolSize ?? 2,
      watchdogMain: WATCHDOG_MAIN,
      clock,
      baseEnv: replicaBaseEnv(options.env),
      onEvent: emit,
    },
    endpoints,
  );
  const loop = startScalerLoop(options, supervisor, bus, clock, emit);

  let baseUrl = "";
  // Status as on Kubernetes (platform/status.ts), from what the supervisor reports.
  const liveStore = new LiveStatusStore(store, {
    supervisor,
    clock,
    baseUrl: () => baseUrl,
    defaultNamespace: config.defaultNamespace,
  });

  const folder = new ManifestFolder(options.dir, store, emit);
  // Functions created through the API (not from a file) run with the folder itself as their directory.
  const unwatch = store.watch((event) => {
    if (event.type === "put") {
      supervisor.apply(event.function, folder.dirOf(functionKey(event.function.metadata)));
      loop.track(event.function);
    } else if (event.type === "delete") {
      loop.untrack(event.ref);
      supervisor.remove(event.ref);
    }
  });

  supervisor.fillPool();
  await folder.sync();
  const backends = await openBackends(config, clock, logger).catch(async (error: unknown) => {
    await supervisor.close();
    throw error;
  });
  const gateway = createGateway(
    {
      ...{ store: liveStore, endpoints, scaleTarget: bus, bus, clock, logger, platform: "local" },
      async: backends,
      runtime: processRuntime(supervisor),
    },
    config,
  );
  const address: AddressInfo = await gateway.listen();
  loop.start();

  let closed = false;
  let scanning: Promise<void> = Promise.resolve();
  const rescan = (): Promise<void> => {
    scanning = scanning.then(() =>
      folder.sync().catch((error: unknown) => logger.warn({ err: error }, "cannot read the manifest folder")),
    );
    return scanning;
  };
  const scheduleRescan = (): void => {
    cancelRescan = clock.setTimer(() => {
      if (closed) return;
      void rescan().then(scheduleRescan);
    }, options.rescanMs ?? 1000);
  };
  let cancelRescan = (): void => undefined;
  scheduleRescan();

  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  baseUrl = `http://${host}:${address.port}`;
  return {
    url: baseUrl,
    token: config.auth.required ? config.auth.token : undefined,
    gateway,
    store: liveStore,
    supervisor,
    loop,
    folder,
    rescan,
    async close() {
      if (closed) return;
      closed = true;
      cancelRescan();
      await scanning;
      gateway.failReadiness();
      await gateway.drain(config.shutdownTimeoutMs);
      await gateway.close();
      await loop.close();
      unwatch();
      await supervisor.close();
      if (!(bus instanceof MemoryBus)) await bus.close();
    },
  };
}
