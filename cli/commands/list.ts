// `flint list`: the functions a gateway knows, with their replicas.
import type { FunctionList } from "../../api/index.js";
import { GatewayClient } from "../client.js";
import { formatTable, outputFormat, parseCommandArgs, type Command } from "../command.js";
import { resolveConnection } from "../connection.js";

export const listCommand: Command = {
  name: "list",
  summary: "list the functions on a running gateway",
  usage: `usage: flint list [--namespace NS] [--output table|json] [--gateway URL]

Lists the functions the gateway knows, with their mode, scale bounds and replicas.

Options:
  -n, --namespace NS    only this namespace
  -o, --output FORMAT   table (default) or json
  -g, --gateway URL     the gateway (default: FLINT_GATEWAY_URL, else the one \`flint up\` saved)
  -h, --help            show this help
`,
  async run(args, io) {
    const { values } = parseCommandArgs(args, {
      namespace: { type: "string", short: "n" },
      output: { type: "string", short: "o" },
      gateway: { type: "string", short: "g" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help === true) {
      io.stdout.write(this.usage);
      return 0;
    }
    const format = outputFormat(values.output);
    const client = new GatewayClient(resolveConnection(io.env, values.gateway));
    const query = values.namespace === undefined ? "" : `?namespace=${encodeURIComponent(values.namespace)}`;
    const { items } = await client.management<FunctionList>("GET", `/system/functions${query}`);
    if (format === "json") {
      io.stdout.write(JSON.stringify(items, null, 2) + "\n");
      return 0;
    }
    const rows = items.map((fn) => [
      fn.metadata.name,
      fn.metadata.namespace,
      fn.spec.handler.mode,
      `${fn.spec.scale.min}..${fn.spec.scale.max}`,
      `${fn.status?.readyReplicas ?? 0}/${fn.status?.replicas ?? 0}`,
    ]);
    io.stdout.write(formatTable(["NAME", "NAMESPACE", "MODE", "SCALE", "READY"], rows));
    return 0;
  },
};
