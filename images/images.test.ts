// The Dockerfiles, checked by reading them (no Docker here): multi-stage, non-root, and entrypoints
// that the build produces.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_WATCHDOG_IMAGE } from "../controller/config.js";
import { PLATFORM_IMAGES } from "../testing/images.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions of a Dockerfile, continuation lines joined and comments dropped, split into stages. */
function stages(file: string): Instruction[][] {
  const text = readFileSync(join(ROOT, "images", file), "utf8")
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("#"))
    .join("\n")
    .replace(/\\\n/g, " ");
  const result: Instruction[][] = [];
  for (const line of text.split("\n")) {
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (match === null) continue;
    const instruction = { keyword: match[1]!.toUpperCase(), args: match[2]!.trim() };
    if (instruction.keyword === "FROM") result.push([]);
    result.at(-1)?.push(instruction);
  }
  return result;
}

function last(file: string): Instruction[] {
  return stages(file).at(-1) ?? [];
}

function args(stage: Instruction[], keyword: string): string[] {
  return stage
    .filter((instruction) => instruction.keyword === keyword)
    .map((instruction) => instruction.args);
}

describe.each(PLATFORM_IMAGES)("images/$file", ({ file, entry, run }) => {
  it("builds in one stage and runs in another, from the repository's compiled output", () => {
    const all = stages(file);
    expect(all.length).toBeGreaterThanOrEqual(2);
    const build = all[0]!;
    expect(args(build, "FROM")[0]).toMatch(/^node:20-bookworm-slim AS build$/);
    expect(args(build, "RUN").join(" ")).toMatch(/tsc -p tsconfig\.build\.json && npm prune --omit=dev/);
    // The runtime stage copies built output only: no sources, no dev dependencies, no install step.
    const runtime = last(file);
    expect(args(runtime, "COPY").every((copy) => copy.startsWith("--from=build "))).toBe(true);
    expect(args(runtime, "COPY").some((copy) => /\/dist /.test(copy))).toBe(true);
    expect(args(runtime, "RUN").join(" ")).not.toMatch(/npm (ci|install)/);
  });

  it("runs as user 10001, the uid function pods run as", () => {
    expect(args(last(file), "USER")).toEqual(["10001:10001"]);
  });

  it(`starts ${entry}`, () => {
    const [keyword, value] = run;
    expect(args(last(file), keyword)).toEqual([value]);
  });

  it("has a Dockerfile-specific .dockerignore keeping node_modules, dist and .git out of the context", () => {
    const ignore = readFileSync(join(ROOT, "images", `${file}.dockerignore`), "utf8").split("\n");
    expect(ignore).toEqual(expect.arrayContaining(["node_modules", "dist", ".git"]));
  });

  it(`${entry} exists after \`npm run build\``, () => {
    expect(existsSync(join(ROOT, entry))).toBe(true);
  });
});

describe("images/watchdog.Dockerfile", () => {
  it("keeps a shell for exec-mode programs but drops npm, and works in /function", () => {
    const runtime = last("watchdog.Dockerfile");
    expect(args(runtime, "FROM")).toEqual(["node:20-bookworm-slim"]);
    expect(args(runtime, "RUN").join(" ")).toMatch(/rm -rf .*\/usr\/local\/bin\/npm/);
    expect(args(runtime, "WORKDIR")).toEqual(["/function"]);
  });
});

describe("images/function.Dockerfile", () => {
  it("puts the function's folder on the watchdog base image of this release", () => {
    const all = stages("function.Dockerfile");
    const runtime = all.at(-1)!;
    expect(args(runtime, "FROM")).toEqual(["ghcr.io/flint-dev/flint-watchdog:${FLINT_VERSION}"]);
    expect(args(runtime, "COPY")).toEqual(["--from=deps /function /function"]);
    const text = readFileSync(join(ROOT, "images", "function.Dockerfile"), "utf8");
    expect(text).toContain(`ARG FLINT_VERSION=${VERSION}`);
  });

  it("is the image the controller runs in front of http-mode images, at the same release", () => {
    expect(DEFAULT_WATCHDOG_IMAGE).toBe(`ghcr.io/flint-dev/flint-watchdog:${VERSION}`);
  });
});
