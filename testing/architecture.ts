// The layering rules (api → platform → components → embedded; product code never imports test code)
// as data and a pure checker, and the scan of the repository's relative imports that feeds it.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, posix, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Top-level folders of product code: what `tsconfig.build.json` compiles into dist/ and images ship. */
export const PRODUCT_LAYERS = [
  "api",
  "platform",
  "autoscaler",
  "watchdog",
  "gateway",
  "controller",
  "local",
  "cli",
  "embedded",
] as const;
export type ProductLayer = (typeof PRODUCT_LAYERS)[number];

/** Top-level folders that hold only test and dev code. */
export const TEST_FOLDERS = ["testing", "e2e", "bench"] as const;

/** The other layers each product layer may import; its own files it may always import. */
export const ALLOWED_IMPORTS: Readonly<Record<ProductLayer, readonly ProductLayer[]>> = {
  api: [],
  platform: ["api"],
  autoscaler: ["api", "platform"],
  watchdog: ["api", "platform"],
  gateway: ["api", "platform"],
  controller: ["api", "platform", "autoscaler"],
  local: ["api", "platform"],
  cli: ["api", "platform", "embedded"],
  embedded: ["api", "platform", "gateway", "autoscaler", "local"],
};

/**
 * The one file through which other layers reach a component. api/ and platform/ are shared
 * contracts, imported file by file; a component without an entry here is imported by nobody.
 */
export const ENTRY_POINTS: Readonly<Partial<Record<ProductLayer, string>>> = {
  autoscaler: "autoscaler/index.ts",
  gateway: "gateway/index.ts",
  local: "local/index.ts",
  embedded: "embedded/platform.ts",
};

/** What a repository file is: product code of one layer, test/dev code, or outside every rule. */
export type FileKind =
  | { readonly kind: "product"; readonly layer: ProductLayer }
  | { readonly kind: "test" }
  | { readonly kind: "unclassified" };

const TEST_FILE_RE = /\.test\.[cm]?[jt]s$/;

/** Classifies a repository-relative POSIX path (`gateway/proxy.ts`). */
export function classify(path: string): FileKind {
  const segments = path.split("/");
  const top = segments[0] ?? "";
  if ((TEST_FOLDERS as readonly string[]).includes(top)) return { kind: "test" };
  if (TEST_FILE_RE.test(path) || segments.slice(0, -1).includes("testdata")) return { kind: "test" };
  if ((PRODUCT_LAYERS as readonly string[]).includes(top) && segments.length > 1)
    return { kind: "product", layer: top as ProductLayer };
  return { kind: "unclassified" };
}

/** One relative import: from a repository file to the repository file it resolves to. */
export interface ImportEdge {
  /** Repository-relative POSIX path of the importing file. */
  readonly from: string;
  /** Repository-relative POSIX path of the imported file (`.js` mapped back to its `.ts` source). */
  readonly to: string;
  /** 1-based line of the specifier in `from`. */
  readonly line: number;
}

export interface Violation extends ImportEdge {
  readonly rule: string;
}

/** The rule `edge` breaks, or undefined when it is allowed. Test code may import anything. */
export function brokenRule(edge: ImportEdge): string | undefined {
  const from = classify(edge.from);
  if (from.kind === "test") return undefined;
  if (from.kind === "unclassified")
    return `${edge.from} is in no layer: add its folder to PRODUCT_LAYERS or TEST_FOLDERS`;
  if (edge.to.startsWith("../")) return "product code imports a file outside the repository";
  const to = classify(edge.to);
  if (to.kind === "test")
    return "product code imports test code (testing/, e2e/, bench/, *.test.ts, testdata/)";
  if (to.kind === "unclassified") return "product code imports a file in no product layer";
  if (to.layer === from.layer) return undefined;
  if (!ALLOWED_IMPORTS[from.layer].includes(to.layer)) {
    const allowed = ALLOWED_IMPORTS[from.layer].join(", ") || "nothing";
    return `${from.layer}/ may import only ${allowed}`;
  }
  if (to.layer === "api" || to.layer === "platform") return undefined;
  const entry = ENTRY_POINTS[to.layer];
  if (edge.to !== entry)
    return `${to.layer}/ is imported only through ${entry ?? "an entry point it does not have"}`;
  return undefined;
}

/** Every edge that breaks a rule, in input order. */
export function violations(edges: readonly ImportEdge[]): Violation[] {
  const found: Violation[] = [];
  for (const edge of edges) {
    const rule = brokenRule(edge);
    if (rule !== undefined) found.push({ ...edge, rule });
  }
  return found;
}

/** `from:line -> to (rule)`, one per line, for a failure message. */
export function formatViolations(found: readonly Violation[]): string {
  return found.map((v) => `${v.from}:${v.line} -> ${v.to} (${v.rule})`).join("\n");
}

/**
 * The relative specifiers of a source text: `import … from`, `import type`, `export … from`,
 * `import x = require()`, `import()` with a string literal, `require()`, and `import("…")` types,
 * each with its 1-based line. Written with the compiler's own pre-processor, so multi-line import
 * lists and comments are read as the compiler reads them.
 */
export function relativeSpecifiers(fileName: string, text: string): { specifier: string; line: number }[] {
  const info = ts.preProcessFile(text, true, true);
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false);
  return info.importedFiles
    .filter((ref) => ref.fileName.startsWith("./") || ref.fileName.startsWith("../"))
    .map((ref) => ({
      specifier: ref.fileName,
      line: source.getLineAndCharacterOfPosition(ref.pos).line + 1,
    }));
}

/** The repository path a relative specifier names: `.js`/`.mjs`/`.cjs` map back to their TS source when it exists. */
export function resolveSpecifier(from: string, specifier: string, exists: (path: string) => boolean): string {
  const target = posix.normalize(posix.join(posix.dirname(from), specifier));
  const source = target
    .replace(/\.js$/, ".ts")
    .replace(/\.mjs$/, ".mts")
    .replace(/\.cjs$/, ".cts");
  return source !== target && exists(source) ? source : target;
}

/** Folders never scanned: dependencies and compiler output. */
const SKIPPED_DIRS = new Set(["node_modules", "dist", "build", "coverage", ".git"]);

/** Every TypeScript file below `root`, as sorted repository-relative POSIX paths. */
export function typeScriptFiles(root: string = REPO_ROOT): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry.name) && !entry.name.startsWith(".")) walk(join(dir, entry.name));
      } else if (/\.[cm]?ts$/.test(entry.name)) {
        found.push(relative(root, join(dir, entry.name)).split(sep).join("/"));
      }
    }
  };
  walk(root);
  return found.sort();
}

/** The relative imports of every TypeScript file below `root`. */
export function scanImports(root: string = REPO_ROOT): { files: string[]; edges: ImportEdge[] } {
  const files = typeScriptFiles(root);
  const known = new Set(files);
  const edges: ImportEdge[] = [];
  for (const from of files) {
    const text = readFileSync(join(root, from), "utf8");
    for (const { specifier, line } of relativeSpecifiers(from, text)) {
      edges.push({ from, to: resolveSpecifier(from, specifier, (path) => known.has(path)), line });
    }
  }
  return { files, edges };
}
