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
its replica. Kept by \`flint up\` (up to 2000 lines per function); on Kubernetes use kubectl logs.

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
    let items: LogList["items"];
    try {
      ({ items } = await client.management<LogList>("GET", `/system/functions/${name}/logs${query}`));
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
    for (const entry of items) {
      const time = new Date(entry.timeMs).toISOString().slice(11, 23);
      io.stdout.write(
        `${time} ${entry.replica}${entry.stream === "stderr" ? " (stderr)" : ""} ${entry.line}\n`,
      );
    }
    return 0;
  },
};
