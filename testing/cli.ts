// Test support: the `flint` CLI run in-process (cli/run.ts) with its output caught in strings.
import { run } from "../cli/run.js";

export interface CliOutcome {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `flint ARGS` in-process with `env` and `cwd` (default: an empty environment, this cwd). */
export async function runFlint(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CliOutcome> {
  let stdout = "";
  let stderr = "";
  const status = await run(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
  });
  return { status, stdout, stderr };
}
