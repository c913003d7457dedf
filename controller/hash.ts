// A stable hash of a desired Kubernetes object, so the reconciler rewrites only what changed.
import { createHash } from "node:crypto";

/**
 * JSON with object keys sorted at every level and `undefined` members left out, so two objects
 * that Kubernetes would treat as equal serialise to the same text whatever order their keys were
 * built in. Arrays keep their order: in a pod spec it matters (containers, env, args).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

/** sha256 (hex) of `canonicalJson(value)`. */
export function contentHash(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex");
}

function sortKeys(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((item: unknown) => (item === undefined ? null : sortKeys(item)));
  if (value !== null && typeof value === "object") {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const member = (value as Record<string, unknown>)[key];
      if (member !== undefined) sorted[key] = sortKeys(member);
    }
    return sorted;
  }
  if (typeof value === "bigint" || typeof value === "function" || typeof value === "symbol") {
    throw new TypeError(`cannot hash a ${typeof value}`);
  }
  return value;
}
