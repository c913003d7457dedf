#!/usr/bin/env node
// The `flint` command: dispatches to a subcommand and turns its outcome into an exit status.
import { run } from "./run.js";

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
});
