// The watchdog's configuration, read once from the environment into a frozen, typed object.
import { EnvReader, type Env, type LogLevel } from "../platform/env.js";
import { ConfigError } from "../platform/errors.js";

/** How a module-mode handler is called: fetch (`Request → Response`) or AWS Lambda (API Gateway v2). */
export type HandlerShape = "fetch" | "lambda";

/** Import a module once and call its handler in-process. */
export interface ModuleHandlerConfig {
  readonly mode: "module";
  /** Absolute or cwd-relative path of the module to import. */
  readonly entry: string;
  /** The export to call; undefined lets the shape decide (`default` for fetch, `handler` for Lambda). */
  readonly exportName: string | undefined;
  /** undefined means auto: a `default` export is fetch style, a `handler` export Lambda style. */
  readonly shape: HandlerShape | undefined;
}

/** Start (or sidecar to) an HTTP server and proxy every call to it. */
export interface HttpHandlerConfig {
  readonly mode: "http";
  readonly upstream: UpstreamConfig;
}

/** The http-mode upstream: a process the watchdog starts, or a URL something else serves. */
export type UpstreamConfig =
  | {
      readonly kind: "command";
      /** argv of the server; it gets PORT=`port` in its environment. */
      readonly command: readonly string[];
      /** The loopback port the server listens on. */
      readonly port: number;
    }
  | { readonly kind: "url"; readonly url: URL };

/** Fork a program per call: body on stdin, response from stdout. */
export interface ExecHandlerConfig {
  readonly mode: "exec";
  /** argv of the program run for each call. */
  readonly command: readonly string[];
}

export type HandlerConfig = ModuleHandlerConfig | HttpHandlerConfig | ExecHandlerConfig;

export interface WatchdogConfig {
  readonly handler: HandlerConfig;
  /** TCP port for calls and the /_/ routes; 0 picks a free one (logged on the "listening" line). */
  readonly port: number;
  readonly host: string;
  /** Per-call deadline in milliseconds; past it the call gets 504 and the handler is aborted. */
  readonly timeoutMs: number;
  /** Concurrent calls allowed; more get 429. 0 means unlimited. */
  readonly maxInFlight: number;
  /** Largest request body in bytes; larger gets 413. 0 means unlimited. */
  readonly maxBodyBytes: number;
  /** How long an http-mode upstream may take to answer at start, in milliseconds. */
  readonly readyTimeoutMs: number;
  /** The function's name, bound into every log line and passed to handlers. */
  readonly functionName: string;
  readonly logLevel: LogLevel;
  /**
   * How long the main event loop may go without running before the process kills itself so it is
   * replaced (event-loop-guard.ts), in milliseconds; 0 turns the guard off (e.g. to pause in a debugger).
   */
  readonly eventLoopDeadlineMs: number;
}

/** The shortest FLINT_EVENT_LOOP_DEADLINE: below it a GC pause on a busy node could look like a hang. */
export const MIN_EVENT_LOOP_DEADLINE_MS = 100;

const MODES = ["module", "http", "exec"] as const;
const SHAPES = ["auto", "fetch", "lambda"] as const;
const IDENTIFIER_RE = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * Reads the configuration from `env` (normally `process.env`). Throws a ConfigError naming the
 * variable and its value on anything it cannot use; an empty value counts as unset.
 */
export function loadConfig(env: Env): WatchdogConfig {
  const read = new EnvReader(env);
  const mode = read.oneOf("FLINT_MODE", MODES);
  if (mode === undefined) throw new ConfigError("FLINT_MODE", "FLINT_MODE is required: module, http or exec");

  const portVariable = read.string("FLINT_PORT") !== undefined ? "FLINT_PORT" : "PORT";
  const port = read.integer(portVariable, 8080, 0, 65_535);
  const handler = handlerConfig(mode, read, port);

  return Object.freeze({
    handler: Object.freeze(handler),
    port,
    host: read.string("FLINT_HOST", "0.0.0.0"),
    timeoutMs: read.durationMs("FLINT_TIMEOUT", 30_000, 1),
    maxInFlight: read.integer("FLINT_MAX_INFLIGHT", 0, 0),
    maxBodyBytes: read.integer("FLINT_MAX_BODY_BYTES", 10 * 1024 * 1024, 0),
    readyTimeoutMs: read.durationMs("FLINT_READY_TIMEOUT", 30_000, 1),
    functionName: read.string("FLINT_FUNCTION", "unnamed"),
    logLevel: read.logLevel(),
    eventLoopDeadlineMs: eventLoopDeadlineMs(read),
  });
}

/** FLINT_EVENT_LOOP_DEADLINE: a duration of at least MIN_EVENT_LOOP_DEADLINE_MS, or 0s for off; default 10s. */
function eventLoopDeadlineMs(read: EnvReader): number {
  const deadlineMs = read.durationMs("FLINT_EVENT_LOOP_DEADLINE", 10_000, 0);
  if (deadlineMs === 0 || deadlineMs >= MIN_EVENT_LOOP_DEADLINE_MS) return deadlineMs;
  return read.fail(
    "FLINT_EVENT_LOOP_DEADLINE",
    `a duration of at least ${MIN_EVENT_LOOP_DEADLINE_MS}ms, or 0s to turn the guard off`,
  );
}

function handlerConfig(mode: (typeof MODES)[number], read: EnvReader, port: number): HandlerConfig {
  switch (mode) {
    case "module": {
      const entry = read.string("FLINT_ENTRY");
      if (entry === undefined) {
        throw new ConfigError(
          "FLINT_ENTRY",
          "FLINT_ENTRY is required in module mode: the path of the module",
        );
      }
      const exportName = read.string("FLINT_EXPORT");
      if (exportName !== undefined && !IDENTIFIER_RE.test(exportName)) {
        read.fail("FLINT_EXPORT", "a JavaScript export name like handler");
      }
      const shapeSetting = read.oneOf("FLINT_HANDLER_SHAPE", SHAPES, "auto");
      let shape: HandlerShape | undefined = shapeSetting === "auto" ? undefined : shapeSetting;
      // auto decides by export name; any other name would be a guess, so ask instead.
      if (shape === undefined && exportName !== undefined) {
        if (exportName === "default") shape = "fetch";
        else if (exportName === "handler") shape = "lambda";
        else {
          throw new ConfigError(
            "FLINT_HANDLER_SHAPE",
            `FLINT_HANDLER_SHAPE must be fetch or lambda when FLINT_EXPORT names ${JSON.stringify(exportName)}` +
              ` (auto only knows "default" = fetch and "handler" = lambda)`,
          );
        }
      }
      return { mode, entry, exportName, shape };
    }
    case "http": {
      const commandText = read.string("FLINT_COMMAND");
      const urlText = read.string("FLINT_UPSTREAM_URL");
      if (commandText !== undefined && urlText !== undefined) {
        throw new ConfigError(
          "FLINT_UPSTREAM_URL",
          "FLINT_UPSTREAM_URL and FLINT_COMMAND are exclusive in http mode: proxy to a URL, or start a command",
        );
      }
      if (urlText !== undefined) return { mode, upstream: { kind: "url", url: upstreamUrl(read, urlText) } };
      if (commandText === undefined) {
        throw new ConfigError(
          "FLINT_COMMAND",
          "http mode needs FLINT_COMMAND (the server to start) or FLINT_UPSTREAM_URL (a server to proxy to)",
        );
      }
      const upstreamPort = read.integer("FLINT_UPSTREAM_PORT", 8081, 1, 65_535);
      if (upstreamPort === port) {
        throw new ConfigError(
          "FLINT_UPSTREAM_PORT",
          `FLINT_UPSTREAM_PORT must differ from the watchdog's own port, both are ${port}`,
        );
      }
      return {
        mode,
        upstream: { kind: "command", command: command(read, commandText), port: upstreamPort },
      };
    }
    case "exec": {
      const commandText = read.string("FLINT_COMMAND");
      if (commandText === undefined) {
        throw new ConfigError("FLINT_COMMAND", "FLINT_COMMAND is required in exec mode: the program to run");
      }
      return { mode, command: command(read, commandText) };
    }
  }
}

/** FLINT_COMMAND is a JSON array of strings, so arguments never go through a shell's word splitting. */
function command(read: EnvReader, text: string): readonly string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length === 0 ||
    !parsed.every((part): part is string => typeof part === "string") ||
    parsed[0] === ""
  ) {
    return read.fail("FLINT_COMMAND", 'a JSON array of strings like ["node","server.js"]');
  }
  return Object.freeze(parsed);
}

/** An http:// URL whose path prefixes every call's path; only the path is used, so a query or fragment is refused. */
function upstreamUrl(read: EnvReader, text: string): URL {
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (url?.protocol !== "http:" || url.search !== "" || url.hash !== "") {
    return read.fail("FLINT_UPSTREAM_URL", "an http:// URL like http://127.0.0.1:8081");
  }
  return url;
}
