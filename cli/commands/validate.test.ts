import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const cliMain = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

/** Runs the built `flint` CLI as a user would, returning its exit status and output. */
function flint(args: string[], cwd: string): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliMain, ...args], { cwd }, (error, stdout, stderr) => {
      resolve({ status: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

const GOOD = `apiVersion: flint.dev/v1alpha1
kind: Function
metadata: { name: hello }
spec:
  handler: { mode: module, entry: handler.js }
`;
const BAD = `apiVersion: flint.dev/v1alpha1
kind: Function
metadata: { name: Bad_Name }
spec:
  handler: { mode: exec }
  scale: { min: 5, max: 2 }
`;

describe("flint validate", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "flint-validate-"));
    writeFileSync(join(dir, "good.yaml"), GOOD);
    writeFileSync(join(dir, "bad.yaml"), BAD);
    writeFileSync(join(dir, "two.yaml"), `${GOOD}---\n${GOOD.replace("hello", "second")}`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("exits 0 and names each valid function", async () => {
    const result = await flint(["validate", "good.yaml", "two.yaml"], dir);
    expect(result).toEqual({
      status: 0,
      stdout:
        "good.yaml: ok (default/hello)\ntwo.yaml: ok (default/hello)\ntwo.yaml (document 2): ok (default/second)\n",
      stderr: "",
    });
  });

  it("exits 1 and prints every error with its field path when any file is invalid", async () => {
    const result = await flint(["validate", "good.yaml", "bad.yaml", "missing.yaml"], dir);
    expect(result.status).toBe(1);
    expect(result.stdout.split("\n")).toEqual([
      "good.yaml: ok (default/hello)",
      "bad.yaml: invalid",
      expect.stringMatching(/^ {2}metadata\.name: must be a DNS-1123 label/),
      "  spec.handler.command: is required in exec mode",
      "  spec.scale.min: must be <= spec.scale.max (5 > 2)",
      "missing.yaml: invalid",
      "  cannot read: no such file",
      "",
    ]);
  });

  it("prints JSON with --output json", async () => {
    const result = await flint(["validate", "-o", "json", "bad.yaml"], dir);
    expect(result.status).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual([
      {
        file: "bad.yaml",
        document: 1,
        valid: false,
        errors: [
          { path: "metadata.name", message: expect.stringContaining("DNS-1123") },
          { path: "spec.handler.command", message: "is required in exec mode" },
          { path: "spec.scale.min", message: "must be <= spec.scale.max (5 > 2)" },
        ],
      },
    ]);
  });

  it("exits 2 with usage on bad arguments", async () => {
    const noFiles = await flint(["validate"], dir);
    expect(noFiles.status).toBe(2);
    expect(noFiles.stderr).toContain("flint validate: name at least one manifest file");
    expect(noFiles.stderr).toContain("usage: flint validate");
    const badOption = await flint(["validate", "--bogus", "good.yaml"], dir);
    expect(badOption.status).toBe(2);
    expect(badOption.stderr).toContain("Unknown option '--bogus'");
    const badFormat = await flint(["validate", "-o", "xml", "good.yaml"], dir);
    expect(badFormat.stderr).toContain('--output must be table or json, was "xml"');
  });

  it("shows help for the command and for flint", async () => {
    expect((await flint(["validate", "--help"], dir)).stdout).toContain("usage: flint validate");
    const top = await flint(["--help"], dir);
    expect(top.stdout).toMatch(/^ {2}validate +check Function manifests/m);
    const unknown = await flint(["deploy-everything"], dir);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown command "deploy-everything"');
  });
});
