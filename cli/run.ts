// Subcommand dispatch for `flint`, importable so tests can run commands in-process too.
import { UsageError, type Command, type CommandIO } from "./command.js";
import { callCommand } from "./commands/call.js";
import { deadLettersCommand } from "./commands/dead-letters.js";
import { describeCommand } from "./commands/describe.js";
import { invokeCommand } from "./commands/invoke.js";
import { listCommand } from "./commands/list.js";
import { logsCommand } from "./commands/logs.js";
import { newCommand, templatesCommand } from "./commands/new.js";
import { upCommand } from "./commands/up.js";
import { validateCommand } from "./commands/validate.js";
import { versionCommand } from "./commands/version.js";

/** Every subcommand, in the order `flint --help` lists them. */
export const COMMANDS: readonly Command[] = [
  newCommand,
  templatesCommand,
  upCommand,
  listCommand,
  describeCommand,
  invokeCommand,
  callCommand,
  deadLettersCommand,
  logsCommand,
  validateCommand,
  versionCommand,
];

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `usage: flint <command> [options]

Flint: functions as a service, on Kubernetes or on this machine.

Commands:
${lines.join("\n")}

Run \`flint <command> --help\` for a command's options.

Exit status: 0 when the command did what it was asked, 1 when it failed (the gateway refused,
a manifest is invalid, a file could not be written), 2 for bad usage (an unknown command or option).
`;
}

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(help());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    io.stderr.write(`flint: unknown command ${JSON.stringify(name)}\n\n${help()}`);
    return 2;
  }
  try {
    return await command.run(args, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`flint ${command.name}: ${error.message}\n\n${command.usage}`);
      return 2;
    }
    io.stderr.write(`flint ${command.name}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
