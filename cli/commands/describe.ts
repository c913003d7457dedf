// `flint describe NAME`: one function's spec, status and replicas.
import { formatDurationMs, parseFunctionRef, type FunctionResource } from "../../api/index.js";
import type { ReplicaInfo } from "../../platform/ports.js";
import { GatewayClient, GatewayRequestError } from "../client.js";
import { formatTable, outputFormat, parseCommandArgs, UsageError, type Command } from "../command.js";
import { resolveConnection } from "../connection.js";

export const describeCommand: Command = {
  name: "describe",
  summary: "show one function: its spec, status and replicas",
  usage: `usage: flint describe NAME[.NAMESPACE] [--output table|json] [--gateway URL]

Options:
  -o, --output FORMAT   table (default) or json
  -g, --gateway URL     the gateway (default: FLINT_GATEWAY_URL, else the one \`flint up\` saved)
  -h, --help            show this help
`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      output: { type: "string", short: "o" },
      gateway: { type: "string", short: "g" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help === true) {
      io.stdout.write(this.usage);
      return 0;
    }
    const format = outputFormat(values.output);
    const [name, ...extra] = positionals;
    if (name === undefined || extra.length > 0 || parseFunctionRef(name) === undefined) {
      throw new UsageError("name exactly one function (NAME or NAME.NAMESPACE)");
    }
    const client = new GatewayClient(resolveConnection(io.env, values.gateway));
    const fn = await client.management<FunctionResource>("GET", `/system/functions/${name}`);
    // Replicas are known where the platform runs them (flint up); elsewhere kubectl shows pods.
    const replicas = await client
      .management<{ items: ReplicaInfo[] }>("GET", `/system/functions/${name}/replicas`)
      .then((r) => r.items)
      .catch((error: unknown) => {
        if (error instanceof GatewayRequestError && error.status === 404) return undefined;
        throw error;
      });
    if (format === "json") {
      io.stdout.write(JSON.stringify({ ...fn, replicas }, null, 2) + "\n");
      return 0;
    }
    const { spec, status } = fn;
    const ready = status?.conditions?.find((c) => c.type === "Ready");
    const handler =
      spec.handler.mode === "module"
        ? `module ${spec.handler.entry ?? ""}${spec.handler.shape === undefined ? "" : ` (${spec.handler.shape})`}`
        : `${spec.handler.mode} ${JSON.stringify(spec.handler.command ?? [])}`;
    const lines = [
      `Name:        ${fn.metadata.name}`,
      `Namespace:   ${fn.metadata.namespace}`,
      `Handler:     ${handler}`,
      `Timeout:     ${spec.timeout}`,
      `Scale:       min ${spec.scale.min}, max ${spec.scale.max}, target ${spec.scale.target}, concurrency ${spec.scale.concurrency === 0 ? "unlimited" : spec.scale.concurrency}, idle ${spec.scale.idle}`,
      `URL:         ${status?.url ?? "-"}`,
      `Ready:       ${ready === undefined ? "-" : `${ready.status} (${ready.reason ?? ""})${ready.message === undefined ? "" : `: ${ready.message}`}`}`,
      `Replicas:    ${status?.readyReplicas ?? 0} ready of ${status?.replicas ?? 0}`,
    ];
    io.stdout.write(lines.join("\n") + "\n");
    if (replicas !== undefined && replicas.length > 0) {
      const now = Date.now();
      const rows = replicas.map((r) => [
        r.id,
        r.state,
        r.address ?? "-",
        r.process ?? "-",
        formatDurationMs(Math.max(0, Math.round((now - r.startedAtMs) / 1000) * 1000)),
      ]);
      io.stdout.write("\n" + formatTable(["REPLICA", "STATE", "ADDRESS", "PID", "AGE"], rows));
    }
    return 0;
  },
};
