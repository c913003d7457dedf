// Each platform image's build, minus Docker: its build context (the repository's files less its
// .dockerignore) compiled with `tsc -p tsconfig.build.json` as its Dockerfile does, and its entrypoint
// found in the output. A product file importing something the context leaves out fails here (TS2307).
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { dockerignorePatterns, isExcluded, parseDockerignore } from "../testing/dockerignore.js";
import { PLATFORM_IMAGES, type PlatformImage } from "../testing/images.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** One tsc run takes 10-20 s on a 2-core machine; copying the context a second or two. */
const COMPILE_TIMEOUT_MS = 240_000;

/**
 * The repository's files as a fresh clone with this working tree's changes would hold them: tracked
 * files still present, and untracked ones that .gitignore does not leave out (a new file not yet
 * added). Ignored output (node_modules, dist, build) is what a clone does not have.
 */
function repositoryFiles(): string[] {
  const listed = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  const files = [...new Set(listed.split("\0").filter((path) => path !== ""))];
  return files.filter((path) => existsSync(join(ROOT, path))).sort();
}

/** Images whose .dockerignore files list the same patterns share one build context and one compile. */
function contexts(): { patterns: string[]; images: PlatformImage[] }[] {
  const groups = new Map<string, { patterns: string[]; images: PlatformImage[] }>();
  for (const image of PLATFORM_IMAGES) {
    const patterns = dockerignorePatterns(
      readFileSync(join(ROOT, "images", `${image.file}.dockerignore`), "utf8"),
    );
    const key = JSON.stringify(patterns);
    const group = groups.get(key) ?? { patterns, images: [] };
    group.images.push(image);
    groups.set(key, group);
  }
  return [...groups.values()];
}

/** Runs a command to its end; its exit code and its stdout and stderr together. */
function run(command: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolveRun({ code, output }));
  });
}

const groups = contexts();
const names = (images: PlatformImage[]): string => images.map((image) => image.file).join(", ");

describe.each(groups.map((group) => ({ ...group, names: names(group.images) })))(
  "the build context of $names",
  ({ patterns, images }) => {
    let context: string;
    let files: string[];
    let compile: { code: number | null; output: string };

    beforeAll(async () => {
      context = mkdtempSync(join(tmpdir(), "flint-build-context-"));
      const rules = parseDockerignore(patterns.join("\n"));
      files = repositoryFiles().filter((path) => !isExcluded(rules, path));
      for (const path of files) {
        mkdirSync(dirname(join(context, path)), { recursive: true });
        copyFileSync(join(ROOT, path), join(context, path));
      }
      // The Dockerfile's `npm install` step, which runs before `COPY . .`, stands in as a link.
      symlinkSync(join(ROOT, "node_modules"), join(context, "node_modules"), "dir");
      const tsc = join("node_modules", "typescript", "bin", "tsc");
      compile = await run(
        process.execPath,
        [tsc, "-p", "tsconfig.build.json", "--noEmit", "false", "--outDir", join(context, "dist")],
        context,
      );
    }, COMPILE_TIMEOUT_MS);

    afterAll(() => {
      if (context !== undefined) rmSync(context, { recursive: true, force: true });
    });

    it("holds the sources and build config but leaves out tests, testdata, testing/, bench/ and e2e/", () => {
      // The check below is only as good as this context: make sure the patterns did leave things out.
      expect(files).toEqual(
        expect.arrayContaining(["package.json", "tsconfig.json", "tsconfig.build.json", "gateway/main.ts"]),
      );
      const leaked = files.filter(
        (path) =>
          /^(e2e|testing|bench)\//.test(path) ||
          path.endsWith(".test.ts") ||
          path.split("/").includes("testdata"),
      );
      expect(leaked).toEqual([]);
      expect(files.some((path) => path.startsWith("node_modules/") || path.startsWith("dist/"))).toBe(false);
    });

    it("compiles with `tsc -p tsconfig.build.json`, as the Dockerfile's build stage does", () => {
      if (compile.code !== 0) throw new Error(`tsc exited with ${compile.code}:\n${compile.output}`);
    });

    it.each(images.map((image) => [image.file, image.entry] as const))("%s: %s is built", (_file, entry) => {
      expect(existsSync(join(context, entry))).toBe(true);
    });
  },
);
