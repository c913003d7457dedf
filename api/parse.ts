// Turns YAML or JSON text into validated FunctionResources, using the CRD's own schema (ajv) and its
// CEL rules (api/cel.ts). Every rejection names the field path and what is wrong.
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { Parser, parseAllDocuments } from "yaml";

import { compileRule, type CelValidation, type CompiledRule } from "./cel.js";
import { FUNCTION_API, FUNCTION_SCHEMA } from "./crd.generated.js";
import { DEFAULT_NAMESPACE, DNS1123_LABEL_MAX_LENGTH, DNS1123_LABEL_RE } from "./names.js";
import type { FunctionResource } from "./types.js";

/** Bounds on what the parser reads; input beyond them is rejected before it costs memory or stack. */
export const MANIFEST_LIMITS = Object.freeze({
  /** Largest manifest file, in bytes (Kubernetes stores objects up to about 1.5 MB). */
  maxBytes: 1024 * 1024,
  /** Deepest nesting of maps and lists; a Function needs fewer than 10 levels. */
  maxDepth: 32,
  /** Most YAML alias expansions per document (defeats "billion laughs"). */
  maxAliasCount: 100,
  /** Most YAML documents per file; a folder of functions is many files, not one file of thousands. */
  maxDocuments: 100,
});

/**
 * Why a whole file or document was refused before its fields were checked: hostile or broken input.
 * Stable, so callers (and tests) branch on it rather than on the message.
 */
export type ManifestErrorCode =
  | "MANIFEST_TOO_LARGE"
  | "MANIFEST_NOT_UTF8"
  | "MANIFEST_NOT_PRINTABLE"
  | "MANIFEST_TOO_DEEP"
  | "MANIFEST_TOO_MANY_DOCUMENTS"
  | "MANIFEST_UNREADABLE"
  | "YAML_SYNTAX"
  | "YAML_ALIAS_LIMIT";

/** One thing wrong with a manifest. `path` is like `spec.scale.min` or `spec.env[2].name`; "" for the whole document. */
export interface FieldError {
  path: string;
  message: string;
  /** Set when the file or document was refused as a whole (too large, too deep, not YAML...). */
  code?: ManifestErrorCode;
}

export function formatFieldError(error: FieldError): string {
  return error.path === "" ? error.message : `${error.path}: ${error.message}`;
}

/** Thrown by `parseFunction` with every problem found. */
export class ManifestInvalidError extends Error {
  readonly code = "MANIFEST_INVALID";
  constructor(
    readonly errors: readonly FieldError[],
    readonly source?: string,
  ) {
    const prefix = source === undefined ? "" : `${source}: `;
    super(`${prefix}invalid Function manifest:\n${errors.map((e) => `  ${formatFieldError(e)}`).join("\n")}`);
    this.name = "ManifestInvalidError";
  }
}

export interface ParseOptions {
  /** Namespace for manifests that do not name one. Default "default". */
  defaultNamespace?: string;
  /**
   * Skip documents of another kind (a Deployment beside the Functions in a folder) instead of
   * reporting them. Default false.
   */
  onlyFunctions?: boolean;
}

/** The outcome for one document of a (possibly multi-document) manifest. */
export type ValidationResult = { ok: true; value: FunctionResource } | { ok: false; errors: FieldError[] };

/** Parses every document in `input` (YAML or JSON; text or UTF-8 bytes). Empty documents are skipped. */
export function parseManifests(input: string | Uint8Array, options: ParseOptions = {}): ValidationResult[] {
  const decoded = decode(input);
  if (typeof decoded !== "string") return [{ ok: false, errors: [decoded] }];
  // Before composing: the yaml library builds values recursively, and a few thousand levels of
  // `[[[...` overflow the stack; its tokenizer is iterative, so the shape is measured on that first.
  const shapeError = checkShape(decoded);
  if (shapeError !== undefined) return [{ ok: false, errors: [shapeError] }];

  const results: ValidationResult[] = [];
  for (const document of parseAllDocuments(decoded, { uniqueKeys: true, prettyErrors: true })) {
    const syntax = document.errors[0];
    if (syntax !== undefined) {
      results.push({ ok: false, errors: [yamlError(syntax)] });
      continue;
    }
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: MANIFEST_LIMITS.maxAliasCount });
    } catch (error) {
      results.push({ ok: false, errors: [yamlError(error)] });
      continue;
    }
    if (value === null || value === undefined) continue;
    if (options.onlyFunctions === true && !isFunctionDocument(value)) continue;
    results.push(validateFunction(value, options));
  }
  if (results.length === 0 && options.onlyFunctions !== true) {
    return [{ ok: false, errors: [{ path: "", message: "manifest is empty" }] }];
  }
  return results;
}

/** Parses a manifest that holds exactly one Function, or throws `ManifestInvalidError`. */
export function parseFunction(
  input: string | Uint8Array,
  options: ParseOptions & { source?: string } = {},
): FunctionResource {
  const results = parseManifests(input, options);
  if (results.length !== 1) {
    const message = `expected one Function, found ${results.length} documents`;
    throw new ManifestInvalidError([{ path: "", message }], options.source);
  }
  const result = results[0] as ValidationResult;
  if (!result.ok) throw new ManifestInvalidError(result.errors, options.source);
  return result.value;
}

/** Validates a parsed value against the Function schema and applies its defaults (on a copy). */
export function validateFunction(value: unknown, options: ParseOptions = {}): ValidationResult {
  const depthError = checkDepth(value);
  if (depthError !== undefined) return { ok: false, errors: [depthError] };
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return {
      ok: false,
      errors: [{ path: "", message: `must be a mapping (object), was ${describe(value)}` }],
    };
  }

  const object = structuredClone(value) as Record<string, unknown>;
  const typeErrors = checkTypeMeta(object);
  if (typeErrors.length > 0) return { ok: false, errors: typeErrors };

  const validate = compiledSchema();
  const schemaErrors = validate(object) ? [] : (validate.errors ?? []).map(toFieldError);
  // Rules still run where the schema found nothing wrong, so one pass reports every problem.
  const errors = [...schemaErrors, ...checkRules(object, schemaErrors)];
  if (errors.length > 0) return { ok: false, errors };

  const metadata = object["metadata"] as { name: string; namespace?: string };
  metadata.namespace ??= options.defaultNamespace ?? DEFAULT_NAMESPACE;
  return { ok: true, value: object as unknown as FunctionResource };
}

// --- Document level ---------------------------------------------------------------------------

function decode(input: string | Uint8Array): string | FieldError {
  const sizeBytes = typeof input === "string" ? Buffer.byteLength(input) : input.byteLength;
  if (sizeBytes > MANIFEST_LIMITS.maxBytes) {
    return tooLarge(sizeBytes);
  }
  if (typeof input === "string") return printableOrError(input);
  const badOffset = firstInvalidUtf8Offset(input);
  if (badOffset !== -1) {
    const line = input.subarray(0, badOffset).filter((byte) => byte === 0x0a).length + 1;
    return {
      path: "",
      message: `manifest is not valid UTF-8: bad byte at offset ${badOffset} (line ${line})`,
      code: "MANIFEST_NOT_UTF8",
    };
  }
  return printableOrError(new TextDecoder("utf-8").decode(input));
}

/** What YAML 1.2 (c-printable) and JSON leave out: C0 and C1 controls but tab, LF, CR and NEL; DEL; U+FFFE/U+FFFF. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NON_PRINTABLE_RE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u0084\u0086-\u009f\ufffe\uffff]/;

/**
 * `text`, or an error naming the first character YAML does not allow (a NUL, most often: binary
 * content or a UTF-16 file). The yaml library is lenient about them; Kubernetes' parser is not.
 */
function printableOrError(text: string): string | FieldError {
  const match = NON_PRINTABLE_RE.exec(text);
  if (match === null) return text;
  const before = text.slice(0, match.index);
  const line = before.split("\n").length;
  const column = match.index - before.lastIndexOf("\n");
  const codePoint = `U+${(match[0].codePointAt(0) as number).toString(16).toUpperCase().padStart(4, "0")}`;
  return {
    path: "",
    message:
      `manifest holds the control character ${codePoint} at line ${line}, column ${column}, which YAML does ` +
      "not allow; write it as an escape in a double-quoted string",
    code: "MANIFEST_NOT_PRINTABLE",
  };
}

/** Offset of the first byte that breaks UTF-8 (overlongs, surrogates and > U+10FFFF included), or -1. */
export function firstInvalidUtf8Offset(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i] as number;
    if (b0 < 0x80) {
      i++;
      continue;
    }
    let length: number;
    let min: number;
    if (b0 >= 0xc2 && b0 <= 0xdf) [length, min] = [2, 0x80];
    else if (b0 >= 0xe0 && b0 <= 0xef) [length, min] = [3, 0x800];
    else if (b0 >= 0xf0 && b0 <= 0xf4) [length, min] = [4, 0x10000];
    else return i;
    if (i + length > bytes.length) return i;
    let codePoint = b0 & (0xff >> (length + 1));
    for (let k = 1; k < length; k++) {
      const b = bytes[i + k] as number;
      if ((b & 0xc0) !== 0x80) return i;
      codePoint = (codePoint << 6) | (b & 0x3f);
    }
    if (codePoint < min || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) return i;
    i += length;
  }
  return -1;
}

/** The file is larger than MANIFEST_LIMITS.maxBytes (`sizeBytes` may be a lower bound: reading stopped there). */
export function tooLarge(sizeBytes: number, atLeast = false): FieldError {
  const size = `${atLeast ? "more than " : ""}${sizeBytes} bytes`;
  return {
    path: "",
    message: `manifest is ${size}; the limit is ${MANIFEST_LIMITS.maxBytes}`,
    code: "MANIFEST_TOO_LARGE",
  };
}

function tooDeep(how = ""): FieldError {
  return {
    path: "",
    message: `document is nested more than ${MANIFEST_LIMITS.maxDepth} levels deep${how}`,
    code: "MANIFEST_TOO_DEEP",
  };
}

function yamlError(error: unknown): FieldError {
  if (!(error instanceof Error))
    return { path: "", message: `cannot read YAML: ${String(error)}`, code: "YAML_SYNTAX" };
  if (/alias count/i.test(error.message)) {
    const message = `document expands too many YAML aliases (limit ${MANIFEST_LIMITS.maxAliasCount}); write the values out`;
    return { path: "", message, code: "YAML_ALIAS_LIMIT" };
  }
  // Aliases inside anchors inside aliases can nest deeper than the text does (checkShape cannot see
  // it); the recursion that builds the value is then what fails.
  if (error instanceof RangeError) return tooDeep(" (through YAML aliases)");
  const position = (error as { linePos?: [{ line: number; col: number }] }).linePos?.[0];
  const where = position === undefined ? "" : `line ${position.line}, column ${position.col}: `;
  const firstLine = error.message.split("\n")[0] ?? error.message;
  const message = `cannot read YAML: ${where}${firstLine.replace(/ at line \d+, column \d+:?$/, "")}`;
  return { path: "", message, code: "YAML_SYNTAX" };
}

/** A YAML token of the concrete syntax tree, as far as checkShape looks into it. */
interface ShapeToken {
  type: string;
  value?: ShapeToken;
  items?: { key?: ShapeToken | null; value?: ShapeToken | null }[];
}

const COLLECTION_TOKENS = new Set(["block-map", "block-seq", "flow-collection"]);

/**
 * Counts the documents and measures the deepest nesting of collections on yaml's token tree, which
 * its Parser builds without recursion; walked here with an explicit stack, so no input can overflow it.
 */
function checkShape(text: string): FieldError | undefined {
  let documents = 0;
  for (const token of new Parser().parse(text) as Iterable<ShapeToken>) {
    if (token.type !== "document") continue;
    documents++;
    if (documents > MANIFEST_LIMITS.maxDocuments) {
      const message = `manifest holds more than ${MANIFEST_LIMITS.maxDocuments} YAML documents; split it into files`;
      return { path: "", message, code: "MANIFEST_TOO_MANY_DOCUMENTS" };
    }
    const stack: [ShapeToken, number][] = token.value === undefined ? [] : [[token.value, 0]];
    while (stack.length > 0) {
      const [node, depth] = stack.pop() as [ShapeToken, number];
      if (!COLLECTION_TOKENS.has(node.type)) continue;
      if (depth + 1 > MANIFEST_LIMITS.maxDepth) return tooDeep();
      for (const item of node.items ?? []) {
        if (item.key) stack.push([item.key, depth + 1]);
        if (item.value) stack.push([item.value, depth + 1]);
      }
    }
  }
  return undefined;
}

/** Rejects values nested deeper than the limit, without recursion (deep input must not blow the stack). */
function checkDepth(value: unknown): FieldError | undefined {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (typeof node !== "object" || node === null) continue;
    if (depth > MANIFEST_LIMITS.maxDepth) return tooDeep();
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return undefined;
}

function isFunctionDocument(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return true;
  const { apiVersion, kind } = value as { apiVersion?: unknown; kind?: unknown };
  const group = typeof apiVersion === "string" ? apiVersion.split("/")[0] : undefined;
  return kind === FUNCTION_API.kind && (group === undefined || group === FUNCTION_API.group);
}

function checkTypeMeta(object: Record<string, unknown>): FieldError[] {
  const errors: FieldError[] = [];
  const expect = (field: "apiVersion" | "kind", wanted: string): void => {
    const actual = object[field];
    if (actual === undefined) errors.push({ path: field, message: `is required (${wanted})` });
    else if (actual !== wanted)
      errors.push({ path: field, message: `must be ${wanted} (was ${describe(actual)})` });
  };
  expect("apiVersion", FUNCTION_API.apiVersion);
  expect("kind", FUNCTION_API.kind);
  return errors;
}

// --- Schema ---------------------------------------------------------------------------------------

/** A DNS-1123 label, for metadata.name and metadata.namespace. */
const DNS_LABEL_SCHEMA = {
  type: "string",
  minLength: 1,
  maxLength: DNS1123_LABEL_MAX_LENGTH,
  pattern: DNS1123_LABEL_RE.source,
};

/** ObjectMeta as the API server checks it, for the fields a manifest sets; the rest pass through. */
const METADATA_SCHEMA = {
  type: "object",
  required: ["name"],
  properties: {
    name: DNS_LABEL_SCHEMA,
    namespace: DNS_LABEL_SCHEMA,
    labels: { type: "object", additionalProperties: { type: "string", maxLength: 63 } },
    annotations: { type: "object", additionalProperties: { type: "string" } },
  },
};

const PATTERN_HINTS: Record<string, string> = {
  [DNS1123_LABEL_RE.source]:
    "must be a DNS-1123 label: at most 63 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit",
};

type SchemaNode = Record<string, unknown> & {
  type?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  "x-kubernetes-validations"?: CelValidation[];
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
};

/** The keywords of a CRD schema that mean the same in JSON Schema; the x-kubernetes-* ones are handled here. */
const JSON_SCHEMA_KEYWORDS = new Set([
  "type",
  "properties",
  "required",
  "items",
  "enum",
  "minimum",
  "maximum",
  "minLength",
  "maxLength",
  "minItems",
  "maxItems",
  "pattern",
  "default",
  "description",
  "format",
  "additionalProperties",
]);

/**
 * The CRD schema as ajv reads it: unknown fields are errors (as with kubectl's strict field
 * validation), and metadata is checked as the API server checks ObjectMeta.
 */
function toAjvSchema(node: SchemaNode, path: string): Record<string, unknown> {
  if (path === "metadata") return METADATA_SCHEMA;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (JSON_SCHEMA_KEYWORDS.has(key)) out[key] = value;
  }
  if (node.properties !== undefined) {
    out["properties"] = Object.fromEntries(
      Object.entries(node.properties).map(([key, child]) => [
        key,
        toAjvSchema(child, path ? `${path}.${key}` : key),
      ]),
    );
    out["additionalProperties"] = false;
  }
  if (node.items !== undefined) out["items"] = toAjvSchema(node.items, `${path}[]`);
  return out;
}

let compiled: ValidateFunction | undefined;
function compiledSchema(): ValidateFunction {
  if (compiled === undefined) {
    const ajv = new Ajv({
      allErrors: true,
      verbose: true,
      useDefaults: true,
      strict: true,
      formats: { int64: true, "date-time": true },
    });
    compiled = ajv.compile(toAjvSchema(FUNCTION_SCHEMA as unknown as SchemaNode, ""));
  }
  return compiled;
}

function toFieldError(error: ErrorObject): FieldError {
  const path = pointerToPath(error.instancePath);
  const params = error.params as Record<string, unknown>;
  const join = (child: string): string => (path === "" ? child : `${path}.${child}`);
  switch (error.keyword) {
    case "required":
      return { path: join(String(params["missingProperty"])), message: "is required" };
    case "additionalProperties": {
      const field = String(params["additionalProperty"]);
      const known = Object.keys((error.parentSchema as { properties?: object }).properties ?? {});
      const suggestion = closest(field, known);
      const hint = suggestion === undefined ? "" : ` (did you mean ${suggestion}?)`;
      return { path: join(field), message: `unknown field${hint}` };
    }
    case "type":
      return { path, message: `must be ${article(String(params["type"]))}, was ${describe(error.data)}` };
    case "enum":
      return {
        path,
        message: `must be one of ${(params["allowedValues"] as unknown[]).join(", ")} (was ${describe(error.data)})`,
      };
    case "minimum":
    case "maximum":
      return {
        path,
        message: `must be ${params["comparison"] as string} ${params["limit"] as number} (was ${describe(error.data)})`,
      };
    case "minLength":
      return { path, message: `must be at least ${params["limit"] as number} characters` };
    case "maxLength":
      return {
        path,
        message: `must be at most ${params["limit"] as number} characters (was ${(error.data as string).length})`,
      };
    case "minItems":
      return { path, message: `must have at least ${params["limit"] as number} items` };
    case "maxItems":
      return {
        path,
        message: `must have at most ${params["limit"] as number} items (was ${(error.data as unknown[]).length})`,
      };
    case "pattern": {
      const hint = PATTERN_HINTS[String(params["pattern"])];
      return {
        path,
        message: `${hint ?? `must match ${String(params["pattern"])}`} (was ${describe(error.data)})`,
      };
    }
    default:
      return { path, message: error.message ?? `fails ${error.keyword}` };
  }
}

// --- CEL rules and list semantics ------------------------------------------------------------------

interface RuleSite {
  rules: CompiledRule[];
  listType?: "atomic" | "set" | "map";
  listMapKeys?: string[];
}

let ruleSites: Map<SchemaNode, RuleSite> | undefined;
/** Compiles every CEL rule once; throws UnimplementedRuleError if the CRD has one api/cel.ts lacks. */
export function loadRules(): Map<SchemaNode, RuleSite> {
  if (ruleSites !== undefined) return ruleSites;
  const sites = new Map<SchemaNode, RuleSite>();
  const visit = (node: SchemaNode): void => {
    const rules = (node["x-kubernetes-validations"] ?? []).map(compileRule);
    const listType = node["x-kubernetes-list-type"];
    if (rules.length > 0 || listType !== undefined) {
      sites.set(node, { rules, listType, listMapKeys: node["x-kubernetes-list-map-keys"] });
    }
    for (const child of Object.values(node.properties ?? {})) visit(child);
    if (node.items !== undefined) visit(node.items);
  };
  visit(FUNCTION_SCHEMA as unknown as SchemaNode);
  ruleSites = sites;
  return sites;
}

/**
 * Runs the CEL rules and list-uniqueness checks. A rule is skipped where the schema already found a
 * problem inside the value it reads or at the field it reports on, as the API server skips rules on
 * values of the wrong type; otherwise a string where a number belongs would fail twice.
 */
function checkRules(root: Record<string, unknown>, schemaErrors: FieldError[]): FieldError[] {
  const sites = loadRules();
  const errors: FieldError[] = [];
  const related = (a: string, b: string): boolean =>
    a === b ||
    (a.startsWith(b) && /^[.[]/.test(a.slice(b.length))) ||
    (b.startsWith(a) && /^[.[]/.test(b.slice(a.length)));
  const blocked = (nodePath: string, target: string): boolean =>
    schemaErrors.some((e) => related(e.path, target) || (nodePath !== "" && related(e.path, nodePath)));
  const visit = (node: SchemaNode, value: unknown, path: string): void => {
    if (value === undefined) return;
    const site = sites.get(node);
    if (site !== undefined) {
      for (const rule of site.rules) {
        const target = joinFieldPath(path, rule.fieldPath);
        if (blocked(path, target)) continue;
        if (!rule.check(value)) errors.push({ path: target, message: rule.message(value) });
      }
      if (Array.isArray(value) && site.listType !== undefined) errors.push(...duplicates(value, site, path));
    }
    if (node.properties !== undefined && typeof value === "object" && value !== null) {
      for (const [key, child] of Object.entries(node.properties)) {
        visit(child, (value as Record<string, unknown>)[key], path ? `${path}.${key}` : key);
      }
    }
    if (node.items !== undefined && Array.isArray(value)) {
      value.forEach((item, index) => visit(node.items as SchemaNode, item, `${path}[${index}]`));
    }
  };
  visit(FUNCTION_SCHEMA as unknown as SchemaNode, root, "");
  return errors;
}

function duplicates(list: unknown[], site: RuleSite, path: string): FieldError[] {
  if (site.listType === "atomic") return [];
  const keyOf =
    site.listType === "map"
      ? (item: unknown): string =>
          JSON.stringify((site.listMapKeys ?? []).map((k) => (item as Record<string, unknown>)[k]))
      : (item: unknown): string => JSON.stringify(item);
  const seen = new Set<string>();
  const errors: FieldError[] = [];
  list.forEach((item, index) => {
    const key = keyOf(item);
    if (!seen.has(key)) return void seen.add(key);
    if (site.listType === "map" && site.listMapKeys?.length === 1) {
      const field = site.listMapKeys[0] as string;
      const value = (item as Record<string, unknown>)[field];
      errors.push({ path: `${path}[${index}].${field}`, message: `duplicate value ${describe(value)}` });
    } else {
      errors.push({ path: `${path}[${index}]`, message: `duplicate value ${describe(item)}` });
    }
  });
  return errors;
}

// --- Formatting ---------------------------------------------------------------------------------------

function pointerToPath(pointer: string): string {
  if (pointer === "") return "";
  let path = "";
  for (const raw of pointer.slice(1).split("/")) {
    const segment = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (/^\d+$/.test(segment)) path += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) path += path === "" ? segment : `.${segment}`;
    else path += `[${JSON.stringify(segment)}]`;
  }
  return path;
}

function joinFieldPath(path: string, fieldPath: string): string {
  if (fieldPath === "") return path;
  return path === "" ? fieldPath.replace(/^\./, "") : `${path}${fieldPath}`;
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** A short, bounded rendering of a value for an error message. */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object" || typeof value === "function") return "a mapping";
  if (value === undefined) return "nothing";
  const text =
    typeof value === "string"
      ? JSON.stringify(value)
      : `${typeof value} ${(value as number | boolean | bigint).toString()}`;
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The known name within edit distance 2 of a misspelt field, if any. */
function closest(field: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance = editDistance(field.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}
