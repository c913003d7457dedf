// The watchdog process: read config, build, listen, and on SIGTERM drain and exit 0.
import { pino } from "pino";
import { loadConfig, type WatchdogConfig } from "./config.js";
import { EnvReader } from "../platform/env.js";
import { ConfigError } from "../platform/errors.js";
import { EventLoopGuard } from "./event-loop-guard.js";
import { awaitSpecialization, type Specialization } from "./pool.js";
import { killAllGroups } from "./process-group.js";
import { SUPERVISOR_GONE_CODE, supervisorFd, watchSupervisor } from "./supervisor-link.js";
import { Watchdog } from "./watchdog.js";

/** Set while this process started as a pooled runtime (FLINT_POOL=1) and until it is specialized. */
let specialization: Specialization | undefined;

// Under `flint up`: when the supervisor dies (even by kill -9), end this replica and every process
// it started, rather than live on reparented to PID 1. Armed first, so a pooled runtime is covered.
const linkFd = configOrExit(() => supervisorFd(process.env));
if (linkFd !== undefined) {
  watchSupervisor(linkFd, () => {
    const line = { level: 50, time: Date.now(), pid: process.pid, code: SUPERVISOR_GONE_CODE };
    try {
      // stdout was a pipe to the supervisor too: it may be gone with it.
      process.stdout.write(`${JSON.stringify({ ...line, msg: "supervisor gone; exiting" })}\n`);
    } catch {
      // nobody is left to read it
    }
    process.exit(1);
  });
}
// However this process ends (a drained stop, a fatal error, its supervisor gone), what it started in
// its own process groups ends too; a group already stopped is not signalled twice.
process.on("exit", () => killAllGroups("SIGKILL"));

// FLINT_POOL=1: start as a generic runtime and become a function on POST /_/specialize (pool.ts).
if (process.env["FLINT_POOL"] === "1") {
  const { host, port } = configOrExit(() => {
    const read = new EnvReader(process.env);
    return { host: read.string("FLINT_HOST", "0.0.0.0"), port: read.integer("FLINT_PORT", 8080, 0, 65_535) };
  });
  specialization = await awaitSpecialization(host, port, (address) =>
    process.stdout.write(
      `${JSON.stringify({ level: 30, time: Date.now(), pid: process.pid, port: address.port, msg: "pooled" })}\n`,
    ),
  );
  delete process.env["FLINT_POOL"];
  Object.assign(process.env, specialization.env, { FLINT_PORT: String(specialization.port) });
  try {
    process.chdir(specialization.workdir);
  } catch (error) {
    specialization.reply(400, { error: `cannot enter ${specialization.workdir}: ${String(error)}` });
    process.exit(1);
  }
}

const config: WatchdogConfig = configOrExit(() => loadConfig(process.env));

/**
 * `load()`, or on a ConfigError one line on stderr and exit 1, as the gateway and the controller do;
 * a pooled runtime also answers its specialization request with 400 and the message.
 */
function configOrExit<T>(load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    specialization?.reply(400, { error: error.message });
    process.stderr.write(`flint watchdog: invalid configuration: ${error.message}\n`);
    process.exit(1);
  }
}

// Synchronous writes (pino's default): call lines are already batched, one write per event-loop turn
// (call-log.ts), and a sync write costs less CPU than a hop through libuv's thread pool.
const destination = pino.destination({ dest: 1, sync: true });
const logger = pino({ level: config.logLevel }, destination).child({ function: config.functionName });
const exit = (code: number): never => {
  destination.flushSync();
  process.exit(code);
};

process.on("unhandledRejection", (reason) => {
  logger.error({ err: reason }, "unhandled promise rejection (the handler's, most likely); still serving");
});
process.on("uncaughtException", (error) => {
  logger.fatal({ err: error }, "uncaught exception; exiting");
  exit(1);
});

// Armed before the handler is loaded: a module whose top level never yields is stuck too. Never
// closed: a process stuck while draining must die as well, and exit() ends the worker with it.
if (config.eventLoopDeadlineMs > 0) {
  new EventLoopGuard({ deadlineMs: config.eventLoopDeadlineMs, functionName: config.functionName });
}
const watchdog = new Watchdog(config, logger);
let stopping = false;
const shutdown = (signal: NodeJS.Signals): void => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "draining");
  watchdog.close().then(
    () => {
      logger.info("stopped");
      exit(0);
    },
    (error: unknown) => {
      logger.error({ err: error }, "shutdown failed");
      exit(1);
    },
  );
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

try {
  await watchdog.start((address) => logger.info({ host: address.address, port: address.port }, "listening"));
  logger.info({ mode: config.handler.mode }, "ready");
  specialization?.reply(200, { ready: true });
} catch (error) {
  logger.fatal({ err: error }, "the handler could not be started");
  specialization?.reply(500, { error: error instanceof Error ? error.message : String(error) });
  exit(1);
}
