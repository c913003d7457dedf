// loadConfig: defaults, each variable's parsing, and errors that name the variable and its value.
import { describe, expect, it } from "@jest/globals";
import { loadConfig } from "./config.js";
import { ConfigError } from "../platform/errors.js";

const MODULE = { FLINT_MODE: "module", FLINT_ENTRY: "handler.js" };

describe("loadConfig", () => {
  it("fills in the defaults and freezes the result", () => {
    const config = loadConfig(MODULE);
    expect(config).toEqual({
      handler: { mode: "module", entry: "handler.js", exportName: undefined, shape: undefined },
      port: 8080,
      host: "0.0.0.0",
      timeoutMs: 30_000,
      maxInFlight: 0,
      maxBodyBytes: 10_485_760,
      readyTimeoutMs: 30_000,
      functionName: "unnamed",
      logLevel: "info",
      eventLoopDeadlineMs: 10_000,
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.handler)).toBe(true);
  });

  it("reads every variable", () => {
    const config = loadConfig({
      ...MODULE,
      FLINT_EXPORT: "handler",
      FLINT_PORT: "9000",
      FLINT_HOST: "127.0.0.1",
      FLINT_TIMEOUT: "1m30s",
      FLINT_MAX_INFLIGHT: "4",
      FLINT_MAX_BODY_BYTES: "0",
      FLINT_READY_TIMEOUT: "500ms",
      FLINT_FUNCTION: "default/hello",
      FLINT_LOG_LEVEL: "warn",
    });
    expect(config).toMatchObject({
      handler: { exportName: "handler", shape: "lambda" },
      port: 9000,
      host: "127.0.0.1",
      timeoutMs: 90_000,
      maxInFlight: 4,
      maxBodyBytes: 0,
      readyTimeoutMs: 500,
      functionName: "default/hello",
      logLevel: "warn",
    });
  });

  it.each([
    ["2s", 2000],
    ["100ms", 100],
    ["0s", 0],
  ])("reads FLINT_EVENT_LOOP_DEADLINE=%s as %d ms (0 turns the guard off)", (text, deadlineMs) => {
    expect(loadConfig({ ...MODULE, FLINT_EVENT_LOOP_DEADLINE: text }).eventLoopDeadlineMs).toBe(deadlineMs);
  });

  it.each([
    [{ FLINT_EXPORT: "default" }, { exportName: "default", shape: "fetch" }],
    [{ FLINT_EXPORT: "handler" }, { exportName: "handler", shape: "lambda" }],
    [
      { FLINT_EXPORT: "main", FLINT_HANDLER_SHAPE: "fetch" },
      { exportName: "main", shape: "fetch" },
    ],
    [{ FLINT_HANDLER_SHAPE: "lambda" }, { exportName: undefined, shape: "lambda" }],
    [{ FLINT_HANDLER_SHAPE: "auto" }, { exportName: undefined, shape: undefined }],
  ])("resolves the module handler for %j", (env, handler) => {
    expect(loadConfig({ ...MODULE, ...env }).handler).toEqual({
      mode: "module",
      entry: "handler.js",
      ...handler,
    });
  });

  it("uses PORT when FLINT_PORT is unset, and FLINT_PORT over PORT", () => {
    expect(loadConfig({ ...MODULE, PORT: "3000" }).port).toBe(3000);
    expect(loadConfig({ ...MODULE, PORT: "3000", FLINT_PORT: "0" }).port).toBe(0);
  });

  it("treats an empty value as unset", () => {
    expect(loadConfig({ ...MODULE, FLINT_TIMEOUT: "", FLINT_PORT: "" }).timeoutMs).toBe(30_000);
  });

  it("reads http mode with a command or a sidecar URL", () => {
    expect(loadConfig({ FLINT_MODE: "http", FLINT_COMMAND: '["node","server.js"]' }).handler).toEqual({
      mode: "http",
      upstream: { kind: "command", command: ["node", "server.js"], port: 8081 },
    });
    const sidecar = loadConfig({
      FLINT_MODE: "http",
      FLINT_UPSTREAM_URL: "http://127.0.0.1:9000/api",
    }).handler;
    expect(sidecar.mode === "http" && sidecar.upstream.kind === "url" && sidecar.upstream.url.href).toBe(
      "http://127.0.0.1:9000/api",
    );
  });

  it("reads exec mode", () => {
    expect(loadConfig({ FLINT_MODE: "exec", FLINT_COMMAND: '["./shout.sh"]' }).handler).toEqual({
      mode: "exec",
      command: ["./shout.sh"],
    });
  });

  it.each([
    [{}, "FLINT_MODE", "FLINT_MODE is required: module, http or exec"],
    [{ FLINT_MODE: "MODULE" }, "FLINT_MODE", 'FLINT_MODE must be one of module, http, exec, was "MODULE"'],
    [{ FLINT_MODE: "module" }, "FLINT_ENTRY", "FLINT_ENTRY is required in module mode"],
    [
      { ...MODULE, FLINT_EXPORT: "my-handler" },
      "FLINT_EXPORT",
      'FLINT_EXPORT must be a JavaScript export name like handler, was "my-handler"',
    ],
    [
      { ...MODULE, FLINT_EXPORT: "main" },
      "FLINT_HANDLER_SHAPE",
      'FLINT_HANDLER_SHAPE must be fetch or lambda when FLINT_EXPORT names "main"',
    ],
    [
      { ...MODULE, FLINT_HANDLER_SHAPE: "express" },
      "FLINT_HANDLER_SHAPE",
      'must be one of auto, fetch, lambda, was "express"',
    ],
    [
      { ...MODULE, FLINT_TIMEOUT: "thirty" },
      "FLINT_TIMEOUT",
      'FLINT_TIMEOUT must be a duration like 30s, was "thirty"',
    ],
    [
      { ...MODULE, FLINT_TIMEOUT: "30" },
      "FLINT_TIMEOUT",
      'FLINT_TIMEOUT must be a duration like 30s, was "30"',
    ],
    [
      { ...MODULE, FLINT_TIMEOUT: "0s" },
      "FLINT_TIMEOUT",
      'FLINT_TIMEOUT must be a duration of at least 1ms, was "0s"',
    ],
    [{ ...MODULE, FLINT_READY_TIMEOUT: "-1s" }, "FLINT_READY_TIMEOUT", 'was "-1s"'],
    [
      { ...MODULE, FLINT_EVENT_LOOP_DEADLINE: "50ms" },
      "FLINT_EVENT_LOOP_DEADLINE",
      'FLINT_EVENT_LOOP_DEADLINE must be a duration of at least 100ms, or 0s to turn the guard off, was "50ms"',
    ],
    [
      { ...MODULE, FLINT_EVENT_LOOP_DEADLINE: "5" },
      "FLINT_EVENT_LOOP_DEADLINE",
      'FLINT_EVENT_LOOP_DEADLINE must be a duration like 30s, was "5"',
    ],
    [
      { ...MODULE, FLINT_PORT: "65536" },
      "FLINT_PORT",
      'FLINT_PORT must be an integer from 0 to 65535, was "65536"',
    ],
    [{ ...MODULE, PORT: "80.5" }, "PORT", 'PORT must be an integer from 0 to 65535, was "80.5"'],
    [{ ...MODULE, FLINT_MAX_INFLIGHT: "-1" }, "FLINT_MAX_INFLIGHT", 'was "-1"'],
    [{ ...MODULE, FLINT_MAX_INFLIGHT: "1e3" }, "FLINT_MAX_INFLIGHT", 'was "1e3"'],
    [{ ...MODULE, FLINT_MAX_BODY_BYTES: "10MB" }, "FLINT_MAX_BODY_BYTES", 'was "10MB"'],
    [{ ...MODULE, FLINT_LOG_LEVEL: "verbose" }, "FLINT_LOG_LEVEL", 'was "verbose"'],
    [{ FLINT_MODE: "exec" }, "FLINT_COMMAND", "FLINT_COMMAND is required in exec mode"],
    [
      { FLINT_MODE: "exec", FLINT_COMMAND: "node server.js" },
      "FLINT_COMMAND",
      'JSON array of strings like ["node","server.js"], was "node server.js"',
    ],
    [{ FLINT_MODE: "exec", FLINT_COMMAND: "[]" }, "FLINT_COMMAND", "JSON array of strings"],
    [{ FLINT_MODE: "exec", FLINT_COMMAND: '["node", 1]' }, "FLINT_COMMAND", "JSON array of strings"],
    [
      { FLINT_MODE: "http" },
      "FLINT_COMMAND",
      "http mode needs FLINT_COMMAND (the server to start) or FLINT_UPSTREAM_URL",
    ],
    [
      { FLINT_MODE: "http", FLINT_COMMAND: '["x"]', FLINT_UPSTREAM_URL: "http://a" },
      "FLINT_UPSTREAM_URL",
      "exclusive",
    ],
    [
      { FLINT_MODE: "http", FLINT_UPSTREAM_URL: "https://a" },
      "FLINT_UPSTREAM_URL",
      'must be an http:// URL like http://127.0.0.1:8081, was "https://a"',
    ],
    [
      { FLINT_MODE: "http", FLINT_UPSTREAM_URL: "localhost:80" },
      "FLINT_UPSTREAM_URL",
      "must be an http:// URL",
    ],
    [
      { FLINT_MODE: "http", FLINT_COMMAND: '["x"]', FLINT_UPSTREAM_PORT: "8080" },
      "FLINT_UPSTREAM_PORT",
      "must differ from the watchdog's own port",
    ],
  ])("rejects %j naming %s", (env, variable, message) => {
    let thrown: unknown;
    try {
      loadConfig(env);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).variable).toBe(variable);
    expect((thrown as ConfigError).code).toBe("CONFIG_INVALID");
    expect((thrown as ConfigError).message).toContain(message);
  });
});
