// Function manifests read from a folder (the same YAML as on Kubernetes) and kept in step with the
// function store as files change. A broken file is reported and the version it last defined keeps running.
import { createHash } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import { dirname, join, relative } from "node:path";

import {
  functionKey,
  parseManifestFile,
  SOURCE_STAMP_ANNOTATION,
  type FieldError,
  type FunctionResource,
} from "../api/index.js";
import type { FunctionStore } from "../platform/ports.js";

/** Bounds on what a scan reads. */
export const FOLDER_LIMITS = Object.freeze({
  /** Folders deeper than this below the root are not read. */
  maxDepth: 6,
  /** Manifest files read at most; more is reported, not silently dropped. */
  maxFiles: 500,
});

/** What a scan found: each function with the folder its paths are relative to, and each broken file. */
export interface FolderScan {
  functions: Map<string, { fn: FunctionResource; dir: string; file: string }>;
  invalid: Map<string, FieldError[]>;
}

/** Something that changed, for `flint up` to print. */
export type ManifestEvent =
  | { type: "added" | "updated"; function: string; file: string }
  | { type: "removed"; function: string }
  | { type: "invalid"; file: string; errors: FieldError[] };

const MANIFEST_RE = /\.(ya?ml|json)$/;

/** Reads every manifest below `root`: .yaml, .yml and .json files, skipping dot folders and node_modules. */
export async function scanFolder(root: string): Promise<FolderScan> {
  const scan: FolderScan = { functions: new Map(), invalid: new Map() };
  const files: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > FOLDER_LIMITS.maxDepth) return;
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path, depth + 1);
      else if (entry.isFile() && MANIFEST_RE.test(entry.name)) files.push(path);
    }
  };
  await walk(root, 0);
  if (files.length > FOLDER_LIMITS.maxFiles) {
    const message = `found ${files.length} manifest files; at most ${FOLDER_LIMITS.maxFiles} are read`;
    scan.invalid.set(root, [{ path: "", message }]);
    files.length = FOLDER_LIMITS.maxFiles;
  }

  for (const file of files) {
    const name = relative(root, file);
    // Bounded while reading (MANIFEST_LIMITS.maxBytes); a file's hostile content is its own error.
    const results = await parseManifestFile(file, { onlyFunctions: true });
    const errors = results.flatMap((r) => (r.ok ? [] : r.errors));
    if (errors.length > 0) {
      scan.invalid.set(name, errors);
      continue;
    }
    for (const result of results) {
      if (!result.ok) continue;
      const key = functionKey(result.value.metadata);
      const other = scan.functions.get(key);
      if (other !== undefined) {
        const message = `defines ${key}, which ${other.file} already defines`;
        scan.invalid.set(name, [{ path: "metadata.name", message }]);
        continue;
      }
      scan.functions.set(key, { fn: result.value, dir: dirname(file), file: name });
    }
  }
  return scan;
}

/**
 * Keeps a store in step with a folder. Functions whose file disappeared are deleted; functions whose
 * file is now broken are left as they were, so the running version keeps serving.
 */
export class ManifestFolder {
  /** Function key → the file and folder it came from. */
  private readonly origins = new Map<string, { file: string; dir: string; spec: string }>();
  private lastInvalid = new Map<string, string>();

  constructor(
    readonly root: string,
    private readonly store: FunctionStore,
    private readonly onEvent: (event: ManifestEvent) => void = () => undefined,
  ) {}

  /** The folder a function's handler paths are relative to. */
  dirOf(key: string): string {
    return this.origins.get(key)?.dir ?? this.root;
  }

  /** Reads the folder once and applies the differences to the store. */
  async sync(): Promise<void> {
    await stat(this.root); // a missing root is the caller's error, not an empty folder
    const scan = await scanFolder(this.root);

    const invalid = new Map<string, string>();
    for (const [file, errors] of scan.invalid) {
      const text = JSON.stringify(errors);
      invalid.set(file, text);
      if (this.lastInvalid.get(file) !== text) this.onEvent({ type: "invalid", file, errors });
    }
    this.lastInvalid = invalid;

    for (const [key, { fn, dir, file }] of scan.functions) {
      fn.metadata.annotations = {
        ...fn.metadata.annotations,
        [SOURCE_STAMP_ANNOTATION]: await sourceStamp(dir),
      };
      const spec = JSON.stringify({ spec: fn.spec, metadata: fn.metadata, dir });
      const known = this.origins.get(key);
      if (known?.spec === spec) continue;
      this.origins.set(key, { file, dir, spec });
      if (known === undefined && (await this.store.get(fn.metadata)) === undefined) {
        await this.store.create(fn);
        this.onEvent({ type: "added", function: key, file });
      } else {
        await this.store.update(fn);
        this.onEvent({ type: "updated", function: key, file });
      }
    }
    for (const [key, origin] of this.origins) {
      if (scan.functions.has(key) || invalid.has(origin.file)) continue;
      this.origins.delete(key);
      const [namespace, name] = key.split("/") as [string, string];
      await this.store.delete({ name, namespace }).catch(() => undefined);
      this.onEvent({ type: "removed", function: key });
    }
  }
}

/** Files that count as a function's code (besides executables). */
const SOURCE_FILE_RE = /\.(m?[jt]s|c[jt]s|jsx|tsx|json|ya?ml|py|rb|sh|php|pl|lua|wasm)$/;

/** Files stamped per folder at most; a larger folder is stamped by its first files only. */
const STAMP_MAX_FILES = 500;

/**
 * A short hash of the names, sizes and change times of the code files below `dir` (dot folders and
 * node_modules skipped, 3 levels at most): it changes when the handler's code changes.
 */
async function sourceStamp(dir: string): Promise<string> {
  const hash = createHash("sha256");
  let files = 0;
  const walk = async (path: string, depth: number): Promise<void> => {
    const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      if (files >= STAMP_MAX_FILES || entry.name.startsWith(".") || entry.name === "node_modules") continue;
      const child = join(path, entry.name);
      if (entry.isDirectory() && depth < 3) await walk(child, depth + 1);
      else if (entry.isFile()) {
        const info = await stat(child).catch(() => undefined);
        // Code only: a data file the function writes into its own folder must not roll it forever.
        if (info === undefined || !(SOURCE_FILE_RE.test(entry.name) || (info.mode & 0o111) !== 0)) continue;
        files++;
        hash.update(`${relative(dir, child)}\0${info.size}\0${info.mtimeMs}\n`);
      }
    }
  };
  await walk(dir, 0);
  return hash.digest("hex").slice(0, 12);
}
