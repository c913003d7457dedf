import { parseFunction } from "./parse.js";
import { watchdogEnv } from "./watchdog-env.js";

const manifest = (spec: string): string =>
  `apiVersion: flint.dev/v1alpha1\nkind: Function\nmetadata: { name: fn, namespace: team }\nspec:\n${spec}`;

describe("watchdogEnv", () => {
  it("maps a module-mode function, defaults and user env included", () => {
    const fn = parseFunction(
      manifest(`  handler: { mode: module, entry: src/handler.js, shape: lambda, export: main }
  env: [{ name: GREETING, value: hi }, { name: EMPTY }]
  scale: { concurrency: 4, target: 2 }`),
    );
    expect(watchdogEnv(fn)).toEqual({
      FLINT_FUNCTION: "team/fn",
      FLINT_MODE: "module",
      FLINT_ENTRY: "src/handler.js",
      FLINT_EXPORT: "main",
      FLINT_HANDLER_SHAPE: "lambda",
      FLINT_TIMEOUT: "30s",
      FLINT_MAX_BODY_BYTES: "10485760",
      FLINT_MAX_INFLIGHT: "4",
      GREETING: "hi",
      EMPTY: "",
    });
  });

  it("maps http mode with a command to an upstream the watchdog starts", () => {
    const env = watchdogEnv(
      parseFunction(manifest('  handler: { mode: http, command: ["node", "server.js"] }')),
    );
    expect(env).toMatchObject({ FLINT_COMMAND: '["node","server.js"]', FLINT_UPSTREAM_PORT: "8081" });
    expect(env).not.toHaveProperty("FLINT_UPSTREAM_URL");
  });

  it("maps http mode beside an image to a sidecar proxy", () => {
    const env = watchdogEnv(parseFunction(manifest("  image: api:1\n  handler: { mode: http, port: 3000 }")));
    expect(env).toMatchObject({ FLINT_UPSTREAM_URL: "http://127.0.0.1:3000" });
    expect(env).not.toHaveProperty("FLINT_COMMAND");
  });

  it("maps exec mode with its timeout", () => {
    const env = watchdogEnv(
      parseFunction(manifest('  handler: { mode: exec, command: ["./shout.sh"] }\n  timeout: 5s')),
    );
    expect(env).toMatchObject({ FLINT_MODE: "exec", FLINT_COMMAND: '["./shout.sh"]', FLINT_TIMEOUT: "5s" });
  });
});
