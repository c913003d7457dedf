// The corpus of hostile manifests (api/testdata/hostile-manifests): each is refused as a whole with
// its own code, quickly and without exhausting the stack or memory, by the parser and by `flint validate`.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { MANIFEST_LIMITS, parseManifestFile, readManifestFile, type ManifestErrorCode } from "./index.js";

const CORPUS = fileURLToPath(new URL("./testdata/hostile-manifests/", import.meta.url));
const CLI_MAIN = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));

/** What each file of the corpus must be refused with; a file added without an entry fails the first test. */
const EXPECTED: Record<string, ManifestErrorCode> = {
  "billion-laughs.yaml": "YAML_ALIAS_LIMIT",
  "binary-garbage.yaml": "MANIFEST_NOT_UTF8",
  "deep-aliases.yaml": "MANIFEST_TOO_DEEP",
  "deep-block-lists.yaml": "MANIFEST_TOO_DEEP",
  "deep-block-maps.yaml": "MANIFEST_TOO_DEEP",
  "deep-flow-lists.yaml": "MANIFEST_TOO_DEEP",
  "deep-flow-maps.yaml": "MANIFEST_TOO_DEEP",
  "many-documents.yaml": "MANIFEST_TOO_MANY_DOCUMENTS",
  "nul-bytes.yaml": "MANIFEST_NOT_PRINTABLE",
  "unterminated-quote.yaml": "YAML_SYNTAX",
  "utf16.yaml": "MANIFEST_NOT_UTF8",
};

async function codesOf(path: string): Promise<(ManifestErrorCode | "accepted" | undefined)[]> {
  const results = await parseManifestFile(path);
  return results.flatMap((result) => (result.ok ? ["accepted"] : result.errors.map((e) => e.code)));
}

describe("the hostile manifest corpus", () => {
  it("has an expected refusal for every file", () => {
    expect(readdirSync(CORPUS).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(Object.entries(EXPECTED))("refuses %s with %s", async (file, code) => {
    const codes = await codesOf(join(CORPUS, file));
    expect(codes.length).toBeGreaterThan(0);
    expect(new Set(codes)).toEqual(new Set([code]));
  });
});

describe("hostile input made at test time", () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), "flint-hostile-"))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ["block lists", (n: number) => `${"- ".repeat(n)}1\n`],
    ["flow lists", (n: number) => `${"[".repeat(n)}${"]".repeat(n)}\n`],
    ["flow maps", (n: number) => `${"{a: ".repeat(n)}1${"}".repeat(n)}\n`],
  ])("refuses 20,000 levels of %s as too deep, not with a stack overflow", async (_, make) => {
    const path = join(dir, "deep.yaml");
    writeFileSync(path, make(20_000));
    const results = await parseManifestFile(path);
    expect(results).toEqual([
      {
        ok: false,
        errors: [expect.objectContaining({ code: "MANIFEST_TOO_DEEP", path: "" })],
      },
    ]);
  });

  it("accepts nesting up to the limit and refuses one level more", async () => {
    const nested = (levels: number): string => `spec: ${"[".repeat(levels - 1)}${"]".repeat(levels - 1)}\n`;
    const atLimit = join(dir, "at-limit.yaml");
    const overLimit = join(dir, "over-limit.yaml");
    writeFileSync(atLimit, nested(MANIFEST_LIMITS.maxDepth));
    writeFileSync(overLimit, nested(MANIFEST_LIMITS.maxDepth + 1));
    // At the limit the shape passes and the schema speaks (it is not a Function).
    expect(await codesOf(atLimit)).not.toContain("MANIFEST_TOO_DEEP");
    expect(await codesOf(overLimit)).toEqual(["MANIFEST_TOO_DEEP"]);
  });

  it("refuses a file over the size limit from its size, and a device that never ends after the limit", async () => {
    const big = join(dir, "big.yaml");
    writeFileSync(big, Buffer.alloc(MANIFEST_LIMITS.maxBytes + 1, "#"));
    expect(await readManifestFile(big)).toMatchObject({ code: "MANIFEST_TOO_LARGE" });
    const endless = await readManifestFile("/dev/zero");
    expect(endless).toMatchObject({
      code: "MANIFEST_TOO_LARGE",
      message: expect.stringContaining(`more than ${MANIFEST_LIMITS.maxBytes} bytes`),
    });
  });

  it("names a missing file and a folder as unreadable", async () => {
    expect(await readManifestFile(join(dir, "nope.yaml"))).toMatchObject({
      code: "MANIFEST_UNREADABLE",
      message: "cannot read: no such file",
    });
    expect(await readManifestFile(dir)).toMatchObject({ code: "MANIFEST_UNREADABLE" });
  });
});

describe("flint validate on the corpus", () => {
  it("reports every hostile file as invalid and exits 1, with no stack overflow", async () => {
    const files = Object.keys(EXPECTED);
    const { status, stdout, stderr } = await new Promise<{ status: number; stdout: string; stderr: string }>(
      (resolve) => {
        execFile(process.execPath, [CLI_MAIN, "validate", ...files], { cwd: CORPUS }, (error, out, err) => {
          resolve({ status: error ? Number(error.code) : 0, stdout: out, stderr: err });
        });
      },
    );
    expect(status).toBe(1);
    expect(stderr).toBe("");
    expect(stdout).not.toMatch(/call stack/i);
    for (const file of files) expect(stdout).toContain(`${file}: invalid`);
    expect(stdout).toContain(`document is nested more than ${MANIFEST_LIMITS.maxDepth} levels deep`);
  });
});
