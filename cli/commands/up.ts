// `flint up [dir]`: runs the whole platform on this machine, functions as local processes.
import { resolve } from "node:path";

import { formatFieldError } from "../../api/index.js";
import { startLocalPlatform, type LocalPlatform, type PlatformEvent } from "../../embedded/platform.js";
import { formatTable, parseCommandArgs, UsageError, type Command } from "../command.js";
import { forgetConnection, saveConnection } from "../connection.js";

export const upCommand: Command = {
  name: "up",
  summary: "run Flint on this machine with the functions in a folder (default: .)",
  usage: `usage: flint up [--port N] [--host ADDRESS] [--policy NAME] [--pool N] [--output text|json] [DIR]

Runs the gateway, the autoscaler and the functions defined by the manifests below DIR (default:
the current folder) as local processes. Edits to the manifests are picked up while it runs.
Prints the gateway URL, the management token and the functions, then each scale event.
Stop with Ctrl-C: calls in flight finish and every replica is stopped.

Options:
  -p, --port N          gateway port (default 8080; 0 picks a free one)
      --host ADDRESS    listen address (default 127.0.0.1)
      --policy NAME     autoscaling policy: flint (default), kpa or fixed-keepalive:DURATION
      --pool N          generic runtimes kept started so module-mode functions start by loading
                        their module, not a process (default 2; 0 turns it off)
  -o, --output FORMAT   text (default), or json: the start as one JSON object, then each event as
                        one JSON object per line
  -h, --help            show this help

Async calls and concurrency stats use NATS when NATS_URL is set, and call records use Redis when
REDIS_URL is set; otherwise they are kept in memory.

The management token is FLINT_AUTH_TOKEN if set, otherwise generated; it is saved with the URL in
~/.flint/local.json (or $FLINT_HOME/local.json) so other flint commands find this gateway.
`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      port: { type: "string", short: "p" },
      host: { type: "string" },
      policy: { type: "string" },
      pool: { type: "string" },
      output: { type: "string", short: "o" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help === true) {
      io.stdout.write(this.usage);
      return 0;
    }
    if (positionals.length > 1) throw new UsageError("give at most one folder");
    const port = values.port === undefined ? undefined : Number(values.port);
    if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
      throw new UsageError(
        `--port must be a port number from 0 to 65535, was ${JSON.stringify(values.port)}`,
      );
    }
    const poolSize = values.pool === undefined ? undefined : Number(values.pool);
    if (poolSize !== undefined && !(Number.isInteger(poolSize) && poolSize >= 0 && poolSize <= 64)) {
      throw new UsageError(`--pool must be a whole number from 0 to 64, was ${JSON.stringify(values.pool)}`);
    }
    const dir = resolve(io.cwd, positionals[0] ?? ".");
    const json = values.output === "json";
    if (!json && values.output !== undefined && values.output !== "text") {
      throw new UsageError(`--output must be text or json, was ${JSON.stringify(values.output)}`);
    }
    const describe = json
      ? (event: PlatformEvent): string => `${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`
      : describeEvent;

    const platform = await startLocalPlatform({
      dir,
      env: io.env,
      port,
      host: values.host,
      policy: values.policy,
      poolSize,
      onEvent: (event) => io.stdout.write(describe(event)),
    });
    const file = saveConnection(io.env, { url: platform.url, token: platform.token, pid: process.pid });
    io.stdout.write(json ? await startJson(platform, file, dir) : await banner(platform, file, dir));

    await new Promise<void>((resolveStop) => {
      const stop = (): void => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        io.stdout.write(
          json
            ? `${JSON.stringify({ time: new Date().toISOString(), type: "stopping" })}\n`
            : "stopping: finishing calls in flight and stopping replicas...\n",
        );
        resolveStop();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
    await platform.close();
    forgetConnection(io.env, process.pid);
    io.stdout.write(
      json ? `${JSON.stringify({ time: new Date().toISOString(), type: "stopped" })}\n` : "stopped\n",
    );
    return 0;
  },
};

/** The start as one JSON line: what the banner says, for scripts. */
async function startJson(platform: LocalPlatform, file: string, dir: string): Promise<string> {
  const functions = (await platform.store.list()).map((fn) => {
    const { name, namespace } = fn.metadata;
    const callName = namespace === "default" ? name : `${name}.${namespace}`;
    return {
      name,
      namespace,
      mode: fn.spec.handler.mode,
      scale: { min: fn.spec.scale.min, max: fn.spec.scale.max },
      url: `${platform.url}/function/${callName}`,
    };
  });
  const start = {
    type: "up",
    url: platform.url,
    token: platform.token ?? null,
    connectionFile: file,
    dir,
    functions,
  };
  return `${JSON.stringify(start)}\n`;
}

async function banner(platform: LocalPlatform, file: string, dir: string): Promise<string> {
  const { url, token } = platform;
  const functions = await platform.store.list();
  const rows = functions.map((fn) => {
    const { name, namespace } = fn.metadata;
    const callName = namespace === "default" ? name : `${name}.${namespace}`;
    return [
      callName,
      fn.spec.handler.mode,
      `${fn.spec.scale.min}..${fn.spec.scale.max}`,
      `${url}/function/${callName}`,
    ];
  });
  const table =
    rows.length === 0
      ? `No functions found below ${dir}: add a function.yaml (see examples/).\n`
      : formatTable(["NAME", "MODE", "REPLICAS", "URL"], rows);
  const first = rows[0]?.[3];
  return [
    `Flint is up: gateway ${url} (functions from ${dir})`,
    token === undefined ? "Management API: open (FLINT_AUTH=none)" : `Management token: ${token}`,
    `(saved to ${file} for the flint CLI)`,
    "",
    table,
    ...(first === undefined ? [] : ["Try:", `  curl ${first}`, "  flint list", ""]),
    "Events:",
    "",
  ].join("\n");
}

function time(): string {
  return new Date().toISOString().slice(11, 19);
}

function describeEvent(event: PlatformEvent): string {
  const line = (text: string): string => `${time()} ${text}\n`;
  switch (event.type) {
    case "scaled":
      return line(`${event.function}: scale ${event.from} -> ${event.to} (${event.reason})`);
    case "replica-started":
      return line(`${event.function}: replica ${event.replica} starting (pid ${event.pid})`);
    case "replica-ready":
      return line(`${event.function}: replica ${event.replica} ready in ${event.startMs}ms`);
    case "replica-stopped":
      return line(`${event.function}: replica ${event.replica} stopped`);
    case "replica-crashed":
      return line(
        `${event.function}: replica ${event.replica} exited (code ${event.code}, signal ${event.signal}); restarting in ${event.restartInMs}ms`,
      );
    case "rolled":
      return line(`${event.function}: rolling to version ${event.version}`);
    case "added":
    case "updated":
      return line(`${event.function}: ${event.type} from ${event.file}`);
    case "removed":
      return line(`${event.function}: removed`);
    case "invalid":
      return line(
        `${event.file}: invalid, the running version (if any) keeps serving:\n${event.errors.map((e) => `    ${formatFieldError(e)}`).join("\n")}`,
      );
  }
}
