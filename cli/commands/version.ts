// `flint version`: this CLI's version and the version of the gateway it talks to.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import type { SystemInfo } from "../../api/index.js";
import { GatewayClient } from "../client.js";
import { outputFormat, parseCommandArgs, UsageError, type Command } from "../command.js";
import { resolveConnection } from "../connection.js";
import { packageRoot } from "../templates.js";

/** The CLI's own version, from the package.json it was installed with. */
export function cliVersion(): string {
  const root = packageRoot(dirname(fileURLToPath(import.meta.url)));
  return (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;
}

export const versionCommand: Command = {
  name: "version",
  summary: "print the CLI's version and the gateway's (and where it runs)",
  usage: `usage: flint version [--output table|json] [--gateway URL]

Prints this CLI's version and, when a gateway answers, its version and platform (local for
\`flint up\`, kubernetes in a cluster). An unreachable gateway is reported, not an error: the exit
status is 0 either way.

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
    if (positionals.length > 0) throw new UsageError("flint version takes no arguments");
    const format = outputFormat(values.output);
    const cli = cliVersion();
    let gateway: { url: string; version?: string; platform?: string; error?: string };
    try {
      const connection = resolveConnection(io.env, values.gateway);
      gateway = { url: connection.url };
      try {
        const info = await new GatewayClient(connection).management<SystemInfo>("GET", "/system/info");
        gateway = { ...gateway, version: info.version, platform: info.platform };
      } catch (error) {
        gateway = { ...gateway, error: error instanceof Error ? error.message : String(error) };
      }
    } catch (error) {
      gateway = { url: "", error: error instanceof Error ? error.message : String(error) };
    }
    if (format === "json") {
      io.stdout.write(`${JSON.stringify({ cli, gateway }, null, 2)}\n`);
      return 0;
    }
    const where = gateway.url === "" ? "" : ` at ${gateway.url}`;
    const about =
      gateway.error === undefined
        ? `${gateway.version} (${gateway.platform})${where}`
        : `unreachable${where}: ${gateway.error}`;
    io.stdout.write(`flint CLI  ${cli}\ngateway    ${about}\n`);
    return 0;
  },
};
