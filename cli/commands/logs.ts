// `flint logs NAME`: the last lines a function's replicas wrote (local platform).
import { parseFunctionRef, type LogList } from "../../api/index.js";
import { GatewayClient, GatewayRequestError } from "../client.js";
import { parseCommandArgs, UsageError, type Command } from "../command.js";
import { resolveConnection } from "../connection.js";

export const logsCommand: Command = {
  name: "logs",
  summary: "print the last log lines of a function's replicas",
  usage: `usage: flint logs NAME[.NAMESPACE] [--tail N] [--gateway URL]

Prints the last lines the function's replicas wrote (stdout and stderr), oldest first, each with
its replica. Kept by \`flint up\`, per function: the last 2000 lines and at most 4 MiB, each line cut
at 16 KiB (it then ends with " … [N bytes cut]"). When older lines were dropped to stay within that,
a first line says how many. On Kubernetes use kubectl logs.

Options:
  -n, --tail N          how many lines (default 200, at most 10000)
  -g, --gateway URL     the gateway (default: FLINT_GATEWAY_URL, else the one \`flint up\` saved)
  -h, --help            show this help
`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      tail: { type: "string", short: "n" },
      gateway: { type: "string", short: "g" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help === true) {
      io.stdout.write(this.usage);
      return 0;
    }
    const [name, ...extra] = positionals;
    if (name === undefined || extra.length > 0 || parseFunctionRef(name) === undefined) {
      throw new UsageError("name exactly one function (NAME or NAME.NAMESPACE)");
    }
    const client = new GatewayClient(resolveConnection(io.env, values.gateway));
    const query = `?limit=${encodeURIComponent(values.tail ?? "200")}`;
    let answer: LogList;
    try {
      answer = await client.management<LogList>("GET", `/system/functions/${name}/logs${query}`);
    } catch (error) {
      if (
        error instanceof GatewayRequestError &&
        error.status === 404 &&
        error.message.includes("no route for")
      ) {
        throw new GatewayRequestError(
          "this gateway keeps no logs (on Kubernetes: kubectl logs -l flint.dev/function=NAME)",
          404,
        );
      }
      throw error;
    }
    const dropped = droppedNote(answer);
    if (dropped !== undefined) io.stdout.write(`${dropped}\n`);
    for (const entry of answer.items) {
      const time = new Date(entry.timeMs).toISOString().slice(11, 23);
      io.stdout.write(
        `${time} ${entry.replica}${entry.stream === "stderr" ? " (stderr)" : ""} ${entry.line}\n`,
      );
    }
    return 0;
  },
};

/** "(N earlier lines, M bytes dropped: ...)" when the buffer let anything go, else undefined. */
export function droppedNote({ dropped, limits }: Pick<LogList, "dropped" | "limits">): string | undefined {
  if (dropped.lines === 0 && dropped.cutLines === 0) return undefined;
  const parts: string[] = [];
  if (dropped.lines > 0) parts.push(`${plural(dropped.lines, "earlier line")}`);
  if (dropped.cutLines > 0) parts.push(`${plural(dropped.cutLines, "long line")} cut`);
  const keeps = `the buffer keeps the last ${formatBytes(limits.bytes)}, ${plural(limits.lines, "line")} at most, ${formatBytes(limits.lineBytes)} a line`;
  return `(${parts.join(", ")}; ${formatBytes(dropped.bytes)} dropped: ${keeps})`;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** Bytes as "512 bytes", "16 KiB" or "4 MiB" (one decimal when not whole). */
function formatBytes(bytes: number): string {
  for (const [unit, size] of [
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ] as const) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(1))} ${unit}`;
  }
  return plural(bytes, "byte");
}
