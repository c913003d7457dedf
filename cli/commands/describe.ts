// `flint describe NAME`: one function's spec, status and replicas.
import {
  formatDurationMs,
  parseFunctionRef,
  type Condition,
  type FunctionResource,
  type ReplicaEntry,
  type ReplicaList,
} from "../../api/index.js";
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
    const replicas: readonly ReplicaEntry[] | undefined = await client
      .management<ReplicaList>("GET", `/system/functions/${name}/replicas`)
      .then((r) => r.items)
      .catch((error: unknown) => {
        if (error instanceof GatewayRequestError && error.status === 404) return undefined;
        throw error;
      });
    if (format === "json") {
      io.stdout.write(JSON.stringify({ ...fn, replicas }, null, 2) + "\n");
      return 0;
    }
    io.stdout.write(formatDescription(fn, replicas, Date.now()));
    return 0;
  },
};

/**
 * The text `flint describe` prints: spec, status and every condition (the same three on both
 * platforms, see platform/status.ts), then the replicas where the platform reports them.
 */
export function formatDescription(
  fn: FunctionResource,
  replicas: readonly ReplicaEntry[] | undefined,
  nowMs: number,
): string {
  const { spec, status } = fn;
  const ready = status?.conditions?.find((c) => c.type === "Ready");
  const lines = [
    `Name:        ${fn.metadata.name}`,
    `Namespace:   ${fn.metadata.namespace}`,
    `Handler:     ${handlerText(spec.handler)}`,
    `Timeout:     ${spec.timeout}`,
    `Scale:       min ${spec.scale.min}, max ${spec.scale.max}, target ${spec.scale.target}, concurrency ${spec.scale.concurrency === 0 ? "unlimited" : spec.scale.concurrency}, idle ${spec.scale.idle}`,
    `URL:         ${status?.url ?? "-"}`,
    `Ready:       ${ready === undefined ? "-" : `${ready.status} (${ready.reason ?? ""})`}`,
    `Replicas:    ${status?.readyReplicas ?? 0} ready of ${status?.replicas ?? 0}`,
  ];
  let text = lines.join("\n") + "\n";
  const conditions = status?.conditions ?? [];
  if (conditions.length > 0) {
    const rows = conditions.map((c) => [c.type, c.status, c.reason ?? "-", since(c, nowMs), c.message ?? ""]);
    text += "\n" + formatTable(["CONDITION", "STATUS", "REASON", "SINCE", "MESSAGE"], rows);
  }
  if (replicas !== undefined && replicas.length > 0) {
    const rows = replicas.map((r) => [
      r.id,
      r.state,
      r.address ?? "-",
      r.process ?? "-",
      age(nowMs - r.startedAtMs),
    ]);
    text += "\n" + formatTable(["REPLICA", "STATE", "ADDRESS", "PID", "AGE"], rows);
  }
  return text;
}

function handlerText(handler: FunctionResource["spec"]["handler"]): string {
  return handler.mode === "module"
    ? `module ${handler.entry ?? ""}${handler.shape === undefined ? "" : ` (${handler.shape})`}`
    : `${handler.mode} ${JSON.stringify(handler.command ?? [])}`;
}

/** How long a condition has had its status, or "-" when it does not say. */
function since(condition: Condition, nowMs: number): string {
  const atMs =
    condition.lastTransitionTime === undefined ? Number.NaN : Date.parse(condition.lastTransitionTime);
  return Number.isNaN(atMs) ? "-" : age(nowMs - atMs);
}

/** How long ago, in whole seconds (never negative: clocks of two machines may disagree). */
function age(ms: number): string {
  return formatDurationMs(Math.max(0, Math.round(ms / 1000) * 1000));
}
