// `flint invoke NAME`: calls a function through the gateway, synchronously or asynchronously.
import { readFile } from "node:fs/promises";

import { parseFunctionRef } from "../../api/index.js";
import { errorText, GatewayClient } from "../client.js";
import { parseCommandArgs, UsageError, type Command } from "../command.js";
import { resolveConnection } from "../connection.js";

export const invokeCommand: Command = {
  name: "invoke",
  summary: "call a function and print its response",
  usage: `usage: flint invoke NAME[.NAMESPACE] [--data TEXT | --data-file FILE] [--method M] [--path /p] [--async] [-H 'Name: value']...

Calls the function through the gateway and prints the response body. Exit status 0 for a 2xx
answer, 1 otherwise (the status and error go to stderr).

Options:
  -d, --data TEXT        request body
      --data-file FILE   request body from a file ('-' for stdin)
  -X, --method M         HTTP method (default POST with a body, else GET)
      --path /p          path after the function name (default /)
  -H, --header 'N: v'    extra request header (repeatable)
      --async            queue the call (/async-function/...) and print its call id
  -i, --include          print the status line and response headers too
  -g, --gateway URL      the gateway (default: FLINT_GATEWAY_URL, else the one \`flint up\` saved)
  -h, --help             show this help
`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      data: { type: "string", short: "d" },
      "data-file": { type: "string" },
      method: { type: "string", short: "X" },
      path: { type: "string" },
      header: { type: "string", short: "H", multiple: true },
      async: { type: "boolean" },
      include: { type: "boolean", short: "i" },
      gateway: { type: "string", short: "g" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help === true) {
      io.stdout.write(this.usage);
      return 0;
    }
    const [name, ...extra] = positionals;
    if (name === undefined || extra.length > 0) throw new UsageError("name exactly one function");
    if (parseFunctionRef(name) === undefined) {
      throw new UsageError(
        `${JSON.stringify(name)} is not a function name (NAME or NAME.NAMESPACE, DNS-1123 labels)`,
      );
    }
    const body = await readBody(values.data, values["data-file"]);
    const headers = parseHeaders(values.header ?? []);
    const path = values.path ?? "/";
    if (!path.startsWith("/")) throw new UsageError(`--path must start with /, was ${JSON.stringify(path)}`);
    const method = values.method ?? (body === undefined ? "GET" : "POST");
    const prefix = values.async === true ? "/async-function" : "/function";

    const client = new GatewayClient(resolveConnection(io.env, values.gateway));
    const reply = await client.request(method, `${prefix}/${name}${path === "/" ? "" : path}`, {
      body,
      headers,
    });
    if (values.include === true) {
      io.stdout.write(`${reply.status}\n`);
      reply.headers.forEach((value, key) => io.stdout.write(`${key}: ${value}\n`));
      io.stdout.write("\n");
    }
    if (reply.status >= 300) {
      io.stderr.write(`flint invoke: ${errorText(reply)}\n`);
      return 1;
    }
    if (values.async === true && values.include !== true) {
      io.stdout.write(`${reply.headers.get("x-call-id") ?? reply.body}\n`);
    } else {
      io.stdout.write(reply.body);
    }
    return 0;
  },
};

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The request body: --data's text, --data-file's bytes (`-` for stdin), or none. */
async function readBody(
  data: string | undefined,
  file: string | undefined,
): Promise<string | Buffer | undefined> {
  if (data !== undefined && file !== undefined) throw new UsageError("give --data or --data-file, not both");
  if (file === undefined) return data;
  return file === "-" ? readStdin() : readFile(file);
}

/** `-H 'Name: value'` options as a header record. */
function parseHeaders(options: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const header of options) {
    const colon = header.indexOf(":");
    if (colon <= 0)
      throw new UsageError(`--header must look like 'Name: value', was ${JSON.stringify(header)}`);
    headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
  }
  return headers;
}
