// `flint dead-letters`: list, redrive or purge async calls that failed every attempt.
import type { DeadLetterList, PurgeResult, RedriveResult } from "../../api/index.js";
import { GatewayClient } from "../client.js";
import { UsageError, formatTable, outputFormat, parseCommandArgs, type Command } from "../command.js";
import { resolveConnection } from "../connection.js";

export const deadLettersCommand: Command = {
  name: "dead-letters",
  summary: "list, redrive or purge async calls that failed every attempt",
  usage: `usage: flint dead-letters [list|redrive|purge] [--function NAME[.NS]] [--id ID] [--output table|json]

  list      (default) the dead letters, oldest first
  redrive   queue them again: the one named by --id, else all (of --function, if given)
  purge     delete them (all, or those of --function)

Options:
  -f, --function NAME   only this function's
      --id ID           one dead letter (redrive only), as \`list\` shows it
      --limit N         most letters to list (default 100, at most 1000)
  -o, --output FORMAT   table (default) or json
  -g, --gateway URL     the gateway (default: FLINT_GATEWAY_URL, else the one \`flint up\` saved)
  -h, --help            show this help
`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      function: { type: "string", short: "f" },
      id: { type: "string" },
      limit: { type: "string" },
      output: { type: "string", short: "o" },
      gateway: { type: "string", short: "g" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help === true) {
      io.stdout.write(this.usage);
      return 0;
    }
    const action = positionals[0] ?? "list";
    if (!["list", "redrive", "purge"].includes(action) || positionals.length > 1) {
      throw new UsageError(`expected list, redrive or purge, got ${JSON.stringify(positionals.join(" "))}`);
    }
    if (values.id !== undefined && action !== "redrive") throw new UsageError("--id goes with redrive");
    const format = outputFormat(values.output);
    const client = new GatewayClient(resolveConnection(io.env, values.gateway));
    const query = new URLSearchParams();
    if (values.function !== undefined) query.set("function", values.function);
    if (values.id !== undefined) query.set("id", values.id);
    if (values.limit !== undefined) query.set("limit", values.limit);
    const suffix = query.size === 0 ? "" : `?${query.toString()}`;

    if (action === "redrive") {
      const { redriven } = await client.management<RedriveResult>(
        "POST",
        `/system/async/dead-letters/redrive${suffix}`,
      );
      io.stdout.write(format === "json" ? `${JSON.stringify({ redriven })}\n` : `queued ${redriven} again\n`);
      return 0;
    }
    if (action === "purge") {
      const { purged } = await client.management<PurgeResult>(
        "DELETE",
        `/system/async/dead-letters${suffix}`,
      );
      io.stdout.write(format === "json" ? `${JSON.stringify({ purged })}\n` : `purged ${purged}\n`);
      return 0;
    }
    const { items } = await client.management<DeadLetterList>("GET", `/system/async/dead-letters${suffix}`);
    if (format === "json") {
      io.stdout.write(JSON.stringify(items, null, 2) + "\n");
      return 0;
    }
    const rows = items.map((letter) => {
      const last = letter.attempts.at(-1);
      return [
        letter.id,
        letter.function,
        letter.callId,
        String(letter.attempts.length),
        last === undefined ? "" : `${last.status}${last.error === undefined ? "" : ` ${last.error}`}`,
        new Date(letter.deadAtMs).toISOString(),
      ];
    });
    io.stdout.write(formatTable(["ID", "FUNCTION", "CALL ID", "ATTEMPTS", "LAST", "DEAD AT"], rows));
    return 0;
  },
};
