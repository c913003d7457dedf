// The lock file installs with `npm ci` on every platform users and CI run on: it must hold each
// platform's optional native bindings, or `npm ci` refuses it as out of sync with package.json.
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

import { REPO_ROOT } from "./watchdog.js";

const run = promisify(execFile);
const PLATFORMS = [
  ["linux", "x64"],
  ["linux", "arm64"],
  ["darwin", "arm64"],
  ["darwin", "x64"],
] as const;

describe("package-lock.json", () => {
  it.each(PLATFORMS)(
    "is in sync for npm ci on %s-%s",
    async (os, cpu) => {
      const dir = mkdtempSync(join(tmpdir(), "flint-lock-"));
      try {
        for (const file of ["package.json", "package-lock.json"])
          copyFileSync(join(REPO_ROOT, file), join(dir, file));
        const { stdout } = await run(
          "npm",
          ["ci", "--dry-run", "--ignore-scripts", "--no-audit", "--no-fund", `--os=${os}`, `--cpu=${cpu}`],
          { cwd: dir, env: { ...process.env, npm_config_loglevel: "error" } },
        );
        expect(stdout).toMatch(/added \d+ packages/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
