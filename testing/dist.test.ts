// What `npm run build` ships: tsconfig.build.json compiles exactly the product folders, its program
// holds product code only, and dist/ (built before jest by `npm test`) holds nothing else.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { classify, PRODUCT_LAYERS, REPO_ROOT, typeScriptFiles } from "./architecture.js";

const DIST = join(REPO_ROOT, "dist");

/** The source file an output file of tsc came from: `gateway/main.js.map` ← `gateway/main.ts`. */
function sourceOf(output: string): string {
  return output
    .replace(/\.d\.ts(\.map)?$/, ".ts")
    .replace(/\.js(\.map)?$/, ".ts")
    .replace(/\.d\.mts(\.map)?$/, ".mts")
    .replace(/\.mjs(\.map)?$/, ".mts")
    .replace(/\.d\.cts(\.map)?$/, ".cts")
    .replace(/\.cjs(\.map)?$/, ".cts");
}

/** Why the output file `path` (relative to dist/) should not be there, or undefined if it is product code. */
function unshippable(path: string, sourceExists: (source: string) => boolean): string | undefined {
  const source = sourceOf(path);
  const kind = classify(source).kind;
  if (kind === "test") return `${source} is test code`;
  if (kind === "unclassified") return `${source} is in no product folder`;
  if (!sourceExists(source)) return `${source} no longer exists (stale output: rm -rf dist && npm run build)`;
  return undefined;
}

function filesBelow(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else found.push(relative(root, path).split(sep).join("/"));
    }
  };
  walk(root);
  return found.sort();
}

interface BuildConfig {
  include?: string[];
  exclude?: string[];
}

describe("tsconfig.build.json", () => {
  const config = JSON.parse(readFileSync(join(REPO_ROOT, "tsconfig.build.json"), "utf8")) as BuildConfig;

  it("includes exactly the product folders", () => {
    expect([...(config.include ?? [])].sort()).toEqual([...PRODUCT_LAYERS].sort());
  });

  it("leaves out the test files and testdata inside them", () => {
    expect(config.exclude).toEqual(expect.arrayContaining(["**/*.test.ts", "**/testdata/**"]));
  });

  it("compiles product code only, imports followed", () => {
    // --listFilesOnly: every file of the program, the ones imports pull in too, without compiling.
    const tsc = join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
    const listed = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json", "--listFilesOnly"], {
      cwd: REPO_ROOT,
      encoding: "utf8",
    });
    expect(listed.status).toBe(0);
    const sources = listed.stdout
      .split("\n")
      .filter((line) => line !== "")
      .map((file) => relative(REPO_ROOT, file).split(sep).join("/"))
      // Dependencies' own files, wherever node_modules resolves (a symlinked one lies outside).
      .filter((file) => !file.split("/").includes("node_modules"));
    expect(sources).toContain("gateway/main.ts");
    expect(sources.filter((file) => classify(file).kind !== "product")).toEqual([]);
  });
});

describe("tsconfig.json", () => {
  it("type-checks every folder that holds TypeScript (`npm run build:dev`, `npm run typecheck`)", () => {
    const config = JSON.parse(readFileSync(join(REPO_ROOT, "tsconfig.json"), "utf8")) as BuildConfig;
    const folders = [
      ...new Set(typeScriptFiles().flatMap((file) => (file.includes("/") ? [file.split("/")[0]!] : []))),
    ];
    expect(folders).toContain("gateway");
    expect(folders.filter((folder) => !(config.include ?? []).includes(folder))).toEqual([]);
  });
});

describe("dist/", () => {
  it("has been built (npm test runs `npm run build` first)", () => {
    expect(existsSync(join(DIST, "gateway", "main.js"))).toBe(true);
  });

  it("holds compiled product code only", () => {
    const files = existsSync(DIST) ? filesBelow(DIST) : [];
    const found = files.flatMap((path) => {
      const why = unshippable(path, (source) => existsSync(join(REPO_ROOT, source)));
      return why === undefined ? [] : [`dist/${path}: ${why}`];
    });
    if (found.length > 0)
      throw new Error(`${found.length} files in dist/ are not product code:\n${found.join("\n")}`);
  });
});

describe("unshippable", () => {
  const exists = (source: string): boolean => source !== "gateway/moved.ts";
  it.each([
    ["gateway/main.js", undefined],
    ["gateway/main.js.map", undefined],
    ["platform/kubernetes/reflector.d.ts", undefined],
    ["embedded/platform.js", undefined],
    ["gateway/proxy.test.js", "gateway/proxy.test.ts is test code"],
    ["watchdog/testdata/handler.js", "watchdog/testdata/handler.ts is test code"],
    ["testing/gateway.js", "testing/gateway.ts is test code"],
    ["e2e/cluster/kubelet.js.map", "e2e/cluster/kubelet.ts is test code"],
    ["bench/main.js", "bench/main.ts is test code"],
    ["charts/chart.test.js", "charts/chart.test.ts is test code"],
    ["charts/render.js", "charts/render.ts is in no product folder"],
    ["gateway/moved.js", "gateway/moved.ts no longer exists"],
  ])("dist/%s: %s", (path, expected) => {
    const why = unshippable(path, exists);
    if (expected === undefined) expect(why).toBeUndefined();
    else expect(why).toContain(expected);
  });
});
