// `flint call ID`: an async call's record (state, attempts, last status, callback).
import type { CallRecord } from "../../api/index.js";
import { GatewayClient, GatewayRequestError, errorText } from "../client.js";
import { UsageError, parseCommandArgs, type Command } from "../command.js";
import { resolveConnection } from "../connection.js";

export const callCommand: Command = {
  name: "call",
  summary: "show an async call's state, attempts and result status",
  usage: `usage: flint call CALL_ID [--output text|json] [--gateway URL] [--call-token TOKEN]

Shows the record of an async call (from \`flint invoke --async\`): queued, running, succeeded,
failed (a status that is not retried) or dead (every attempt failed; see \`flint dead-letters\`).
Reading a record takes the management credential (FLINT_AUTH_TOKEN, else the one \`flint up\`
saved) or the call's own read token, the X-Call-Token of its 202.

Options:
  -o, --output FORMAT       text (default) or json
  -g, --gateway URL         the gateway (default: FLINT_GATEWAY_URL, else the one \`flint up\` saved)
      --call-token TOKEN    the call's read token (X-Call-Token), for a caller without the credential
  -h, --help                show this help
`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      output: { type: "string", short: "o" },
      gateway: { type: "string", short: "g" },
      "call-token": { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help === true) {
      io.stdout.write(this.usage);
      return 0;
    }
    const [callId, ...rest] = positionals;
    if (callId === undefined || rest.length > 0) throw new UsageError("expected one call id");
    if (values.output !== undefined && values.output !== "text" && values.output !== "json") {
      throw new UsageError(`--output must be text or json, was ${JSON.stringify(values.output)}`);
    }
    const json = values.output === "json";
    const client = new GatewayClient(resolveConnection(io.env, values.gateway));
    // Records are readable with the management credential or the call's token (gateway/async/call-access.ts).
    const token = values["call-token"];
    const reply = await client.request("GET", `/async-function/calls/${encodeURIComponent(callId)}`, {
      management: true,
      headers: token === undefined ? {} : { "x-call-token": token },
    });
    if (reply.status >= 400) throw new GatewayRequestError(errorText(reply), reply.status);
    if (json) {
      io.stdout.write(reply.body.endsWith("\n") ? reply.body : `${reply.body}\n`);
      return 0;
    }
    const record = JSON.parse(reply.body) as CallRecord;
    const lines = [
      `call:      ${record.callId}`,
      `function:  ${record.function}`,
      `state:     ${record.state}`,
      `attempts:  ${record.attempts}`,
      `accepted:  ${new Date(record.acceptedAtMs).toISOString()}`,
    ];
    if (record.finishedAtMs !== undefined)
      lines.push(`finished:  ${new Date(record.finishedAtMs).toISOString()}`);
    if (record.status !== undefined)
      lines.push(`status:    ${record.status}${record.error ? ` (${record.error})` : ""}`);
    if (record.callback !== undefined) lines.push(`callback:  ${record.callback}`);
    for (const attempt of record.history) {
      // The gateway's clock is sub-millisecond (performance.now), so a duration has a fraction.
      const ms = Math.round(attempt.finishedAtMs - attempt.startedAtMs);
      lines.push(
        `  attempt ${attempt.attempt}: ${attempt.status}${attempt.error ? ` ${attempt.error}` : ""} in ${ms} ms`,
      );
    }
    io.stdout.write(`${lines.join("\n")}\n`);
    return 0;
  },
};
