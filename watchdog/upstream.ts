// http mode's upstream: the server process the watchdog starts and restarts, or a sidecar URL it probes.
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import type { Logger } from "pino";
import { UpstreamStartError } from "./errors.js";
import { killGroup, trackGroup } from "./process-group.js";

/** Where calls are proxied to, and whether it answers. */
export interface Upstream {
  readonly hostname: string;
  readonly port: number;
  /** Path prefix of a sidecar URL (no trailing slash), "" otherwise. */
  readonly basePath: string;
  /** Resolves once the upstream accepts connections; rejects after `readyTimeoutMs`. */
  start(): Promise<void>;
  ready(): boolean;
  close(): Promise<void>;
}

/** How often a starting upstream is probed, in milliseconds. */
const PROBE_INTERVAL_MS = 25;
/** Restart delays in milliseconds: doubled after each exit up to the cap. */
const RESTART_BACKOFF_MIN_MS = 100;
const RESTART_BACKOFF_MAX_MS = 5_000;
/** A process that ran this long (ms) before exiting restarts at the minimum delay again. */
const STABLE_RUN_MS = 10_000;
/** How long a stopping upstream gets between SIGTERM and SIGKILL, in milliseconds. */
const STOP_GRACE_MS = 5_000;

/**
 * Runs the user's server with PORT set, reports ready once it accepts connections, and restarts it
 * with capped exponential backoff whenever it exits; not ready until the new process answers.
 */
export class UpstreamProcess implements Upstream {
  readonly hostname = "127.0.0.1";
  readonly basePath = "";
  private child: ChildProcess | undefined;
  private answering = false;
  private closed = false;
  private backoffMs = RESTART_BACKOFF_MIN_MS;
  private lastFailure = "it never accepted a connection";
  /** Set by start(), called once when the first process answers. */
  private onFirstReady: (() => void) | undefined;
  /** Wakes the supervisor from a backoff sleep when closing. */
  private wake: (() => void) | undefined;
  private readonly env: NodeJS.ProcessEnv;

  constructor(
    private readonly command: readonly string[],
    readonly port: number,
    private readonly readyTimeoutMs: number,
    private readonly logger: Logger,
    private readonly onRestart: () => void,
  ) {
    this.env = { ...process.env, PORT: String(port) };
  }

  async start(): Promise<void> {
    const firstReady = new Promise<void>((resolve) => {
      this.onFirstReady = resolve;
    });
    const supervising = this.supervise().catch((error: unknown) => {
      this.logger.error({ err: error }, "upstream supervisor failed");
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(resolve, this.readyTimeoutMs, true);
    });
    const late = await Promise.race([firstReady.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      await this.close();
      await supervising;
      throw new UpstreamStartError(
        `the upstream ${JSON.stringify(this.command)} did not accept connections on port ${this.port} ` +
          `within ${this.readyTimeoutMs}ms (FLINT_READY_TIMEOUT): ${this.lastFailure}`,
      );
    }
  }

  ready(): boolean {
    return this.answering;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.answering = false;
    this.wake?.();
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    killGroup(child, "SIGTERM");
    const timer = setTimeout(() => killGroup(child, "SIGKILL"), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  /** Start, wait until answering, wait for exit, back off, repeat; until closed. */
  private async supervise(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      if (attempt > 0) this.onRestart();
      const startedAt = Date.now();
      const child = trackGroup(
        spawn(this.command[0] as string, this.command.slice(1), {
          env: this.env,
          stdio: ["ignore", "inherit", "inherit"],
          // Its own process group, so a shell wrapper's children are stopped with it.
          detached: true,
        }),
      );
      this.child = child;
      const exit = new Promise<string>((resolve) => {
        child.once("exit", (code, signal) =>
          resolve(signal === null ? `exit code ${code}` : `signal ${signal}`),
        );
        child.once("error", (error) => resolve(`cannot start: ${error.message}`));
      });
      let exited = false;
      void exit.then(() => (exited = true));

      while (!exited && !this.closed && !(await canConnect(this.hostname, this.port, 1000))) {
        await this.sleep(PROBE_INTERVAL_MS);
      }
      if (!exited && !this.closed) {
        this.answering = true;
        this.logger.info({ pid: child.pid, port: this.port }, "upstream ready");
        this.onFirstReady?.();
        this.onFirstReady = undefined;
      }

      const how = await exit;
      this.answering = false;
      if (this.closed) return;
      this.lastFailure = `the process ended (${how})`;
      if (Date.now() - startedAt >= STABLE_RUN_MS) this.backoffMs = RESTART_BACKOFF_MIN_MS;
      this.logger.warn({ pid: child.pid, how, restartInMs: this.backoffMs }, "upstream exited, restarting");
      await this.sleep(this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, RESTART_BACKOFF_MAX_MS);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** An upstream someone else runs (a sidecar container): probed once at start, then trusted. */
export class SidecarUpstream implements Upstream {
  readonly hostname: string;
  readonly port: number;
  readonly basePath: string;
  private answering = false;
  private closed = false;

  constructor(
    url: URL,
    private readonly readyTimeoutMs: number,
  ) {
    this.hostname = url.hostname.replace(/^\[|\]$/g, "");
    this.port = url.port === "" ? 80 : Number(url.port);
    this.basePath = url.pathname.replace(/\/+$/, "");
  }

  async start(): Promise<void> {
    const deadline = Date.now() + this.readyTimeoutMs;
    while (!this.closed && !(await canConnect(this.hostname, this.port, 1000))) {
      if (Date.now() >= deadline) {
        throw new UpstreamStartError(
          `the upstream ${this.hostname}:${this.port} (FLINT_UPSTREAM_URL) did not accept connections ` +
            `within ${this.readyTimeoutMs}ms (FLINT_READY_TIMEOUT)`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS));
    }
    this.answering = !this.closed;
  }

  ready(): boolean {
    return this.answering;
  }

  close(): Promise<void> {
    this.closed = true;
    this.answering = false;
    return Promise.resolve();
  }
}

/** Whether a TCP connection to host:port succeeds. A connect, not a request: probes must not have side effects. */
export function canConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(false));
  });
}
