// `flint new` and `flint templates`: every template makes a function that passes `flint validate` and
// answers through a real `flint up`; bad names, templates and folders are refused with exit status 1 or 2.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { parseManifestFile } from "../../api/index.js";
import { startFlintUp, type FlintUp } from "../../testing/flint-up.js";
import { call, REPO_ROOT, waitFor } from "../../testing/watchdog.js";
import { runFlint, type CliOutcome } from "../../testing/cli.js";
import { listTemplates } from "../templates.js";

const TEMPLATES = ["exec-python", "exec-shell", "express", "fetch", "lambda"];

/** Runs `flint ...` in-process in `cwd`, returning its exit status and output. */
const flint = (args: string[], cwd: string): Promise<CliOutcome> => runFlint(args, { cwd });

describe("flint templates", () => {
  it("lists every template with the description from its manifest", async () => {
    const { status, stdout } = await flint(["templates"], REPO_ROOT);
    expect(status).toBe(0);
    const rows = stdout.trim().split("\n");
    expect(rows[0]).toMatch(/^TEMPLATE\s+DESCRIPTION$/);
    expect(rows.slice(1).map((row) => row.split(/\s+/)[0])).toEqual(TEMPLATES);
    expect(stdout).toContain("fetch        A fetch-style module handler");
  });

  it("answers --output json", async () => {
    const { stdout } = await flint(["templates", "-o", "json"], REPO_ROOT);
    const { items } = JSON.parse(stdout) as { items: { name: string; description: string }[] };
    expect(items.map((item) => item.name)).toEqual(TEMPLATES);
    expect(items.every((item) => item.description.length > 10)).toBe(true);
  });
});

describe("flint new", () => {
  // Inside the repository, so the express template finds express in its node_modules, as it
  // would after the `npm install` a user runs in the new folder.
  let root: string;
  let up: FlintUp | undefined;
  beforeAll(() => {
    mkdirSync(join(REPO_ROOT, "build"), { recursive: true });
    root = mkdtempSync(join(REPO_ROOT, "build", "flint-new-"));
  });
  afterAll(async () => {
    await up?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("makes a function from each template that validates and answers through flint up", async () => {
    expect((await listTemplates()).map((t) => t.name)).toEqual(TEMPLATES);
    const functions = join(root, "functions");
    mkdirSync(functions);
    for (const template of TEMPLATES) {
      const name = `my-${template}`;
      const made = await flint(["new", name, "--template", template], functions);
      expect(made).toMatchObject({ status: 0, stderr: "" });
      expect(made.stdout).toContain(`Created ${name} from the ${template} template`);
      const results = await parseManifestFile(join(functions, name, "function.yaml"));
      expect(results).toEqual([expect.objectContaining({ ok: true })]);
      expect(readFileSync(join(functions, name, "function.yaml"), "utf8")).toContain(`name: ${name}\n`);
    }
    // Scripts keep their executable bit.
    expect(statSync(join(functions, "my-exec-shell", "handler.sh")).mode & 0o111).not.toBe(0);

    up = await startFlintUp(functions);
    for (const template of TEMPLATES) {
      const url = `${up.url}/function/my-${template}/hi`;
      let reply = await call(url, { method: "POST", body: "ping" });
      await waitFor(
        `my-${template} to answer`,
        async () => {
          reply = await call(url, { method: "POST", body: "ping" });
          return reply.status === 200;
        },
        { timeoutMs: 30_000 },
      );
      expect(reply.body).toContain(`Hello from my-${template}`);
    }
  }, 120_000);

  it("starts from the fetch template when none is named, in --dir if given", async () => {
    const made = await flint(["new", "plain", "--dir", "elsewhere/plain"], root);
    expect(made.status).toBe(0);
    expect(readFileSync(join(root, "elsewhere", "plain", "handler.mjs"), "utf8")).toContain(
      "Hello from plain",
    );
    expect(made.stdout).toContain("flint up elsewhere/plain");
  });

  it.each([
    [["new"], 2, "name exactly one function"],
    [["new", "a", "b"], 2, "name exactly one function"],
    [
      ["new", "x", "--template", "cobol"],
      2,
      'no template "cobol"; the templates are exec-python, exec-shell',
    ],
    [["new", "Bad_Name"], 1, '"Bad_Name" cannot name a function'],
  ])("refuses %j with exit status %d", async (args, status, message) => {
    const result = await flint(args, root);
    expect(result.status).toBe(status);
    expect(result.stderr).toContain(message);
  });

  it("never writes into a folder that is not empty, and leaves it as it was", async () => {
    const taken = join(root, "taken");
    mkdirSync(taken);
    writeFileSync(join(taken, "mine.txt"), "keep me");
    const result = await flint(["new", "taken"], root);
    expect(result).toMatchObject({ status: 1 });
    expect(result.stderr).toContain("already exists and is not empty");
    expect(readFileSync(join(taken, "mine.txt"), "utf8")).toBe("keep me");
  });
});
