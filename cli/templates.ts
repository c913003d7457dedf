// Function templates (templates/<name>/ in the package) and copying one into a new function folder.
import { constants, existsSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { DNS1123_LABEL_MAX_LENGTH, isValidFunctionName } from "../api/index.js";

/**
 * templates/ of the installed package: in the nearest folder above this file with a package.json,
 * whether this runs from dist/cli/, build/cli/ or cli/ itself (the TypeScript tests).
 */
export const TEMPLATES_DIR = join(packageRoot(dirname(fileURLToPath(import.meta.url))), "templates");

/** The nearest folder at or above `from` holding a package.json: the installed package's root. */
export function packageRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}
/** Replaced by the function's name in every file of a template. */
const NAME_PLACEHOLDER = /__NAME__/g;

export interface Template {
  readonly name: string;
  /** The first comment line of its function.yaml. */
  readonly description: string;
  readonly dir: string;
}

/** Every template, by name. */
export async function listTemplates(root = TEMPLATES_DIR): Promise<Template[]> {
  const entries = await readdir(root, { withFileTypes: true });
  const templates: Template[] = [];
  for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    const dir = join(root, entry.name);
    const manifest = await readFile(join(dir, "function.yaml"), "utf8");
    const description = /^#\s*(.*)$/m.exec(manifest)?.[1] ?? "";
    templates.push({ name: entry.name, description, dir });
  }
  return templates;
}

/** Why a new function could not be made; the CLI prints the message and exits 1. */
export class ScaffoldError extends Error {
  readonly code = "SCAFFOLD_FAILED";
  constructor(message: string) {
    super(message);
    this.name = "ScaffoldError";
  }
}

/**
 * Copies `template` into `target` (which must not exist or be empty), with `__NAME__` replaced by
 * `name` in every file and each file's mode kept (scripts stay executable). Returns the files made,
 * relative to `target`.
 */
export async function scaffold(template: Template, name: string, target: string): Promise<string[]> {
  if (!isValidFunctionName(name)) {
    throw new ScaffoldError(
      `${JSON.stringify(name)} cannot name a function: use lowercase letters, digits and "-", ` +
        `starting with a letter, at most ${DNS1123_LABEL_MAX_LENGTH} characters (a DNS-1123 label)`,
    );
  }
  const existing = await readdir(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return [];
    throw new ScaffoldError(`cannot use ${target}: ${error.message}`);
  });
  if (existing.length > 0) {
    throw new ScaffoldError(`${target} already exists and is not empty; choose another name or folder`);
  }
  const made: string[] = [];
  const copy = async (from: string, to: string, relative: string): Promise<void> => {
    await mkdir(to, { recursive: true });
    for (const entry of await readdir(from, { withFileTypes: true })) {
      const source = join(from, entry.name);
      const destination = join(to, entry.name);
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        await copy(source, destination, path);
        continue;
      }
      const { mode } = await stat(source);
      await copyFile(source, destination, constants.COPYFILE_EXCL);
      const text = await readFile(destination, "utf8");
      await writeFile(destination, text.replace(NAME_PLACEHOLDER, name), { mode });
      made.push(path);
    }
  };
  await copy(template.dir, target, "");
  return made.sort();
}
